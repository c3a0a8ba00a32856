"""Live progress on stderr while a run goes: counts per status and jobs per second."""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.live import Live
from rich.text import Text

from state.ledger import Ledger

_DONE = ("succeeded", "failed", "retries_exhausted", "partial", "skipped", "aborted", "interrupted")


class Progress:
    """Polls the ledger twice a second; the ledger is what the jobs write anyway."""

    def __init__(self, ledger: Ledger, run_id: str, total: int, console: Console) -> None:
        self.ledger, self.run_id, self.total, self.console = ledger, run_id, total, console
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="convoy-progress", daemon=True)
        self._started = time.monotonic()

    def _line(self) -> Text:
        counts = self.ledger.status_counts(self.run_id)
        done = sum(counts.get(s, 0) for s in _DONE)
        rate = done / max(time.monotonic() - self._started, 1e-6)
        parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if n)
        return Text(f"{done}/{self.total} done ({rate:.1f} jobs/s) — {parts}")

    def _loop(self) -> None:
        with Live(self._line(), console=self.console, refresh_per_second=4, transient=True) as live:
            while not self._stop.wait(0.5):
                live.update(self._line())

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
