"""How many jobs the flow keeps submitted to the task runner at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SubmitWindow:
    """``workers`` jobs running or about to run, plus one for each job waiting out a backoff.

    A job in backoff holds no worker slot (tasks/job.py), so the window lets
    another job in while it waits; ``limit`` (the task runner's threads) caps
    the total. A job submitted beyond ``workers`` otherwise would only wait
    for a slot, holding a thread and a running Prefect task run, which costs
    every job CPU (benchmarks/README.md, overhead).
    """

    def __init__(self, workers: int, limit: int) -> None:
        self.workers, self.limit = workers, max(limit, workers)
        self.in_flight = 0
        self.backing_off = 0
        self._changed = threading.Condition()

    def _has_room(self) -> bool:
        return self.in_flight - self.backing_off < self.workers and self.in_flight < self.limit

    def enter(self, timeout: float) -> bool:
        """Take a place for one more job; False if none came free within ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(self._has_room, timeout):
                return False
            self.in_flight += 1
            return True

    def leave(self) -> None:
        """A submitted job ended."""
        with self._changed:
            self.in_flight -= 1
            self._changed.notify()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """A submitted job waits out a backoff: its place may go to another job meanwhile."""
        with self._changed:
            self.backing_off += 1
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                self.backing_off -= 1
