"""Ctrl-C and SIGTERM during a run: stop gently first, at once the second time.

The first signal stops submitting and starting attempts; attempts in flight
get ``grace`` seconds to end (chunked jobs stop at their next chunk), then
their programs are killed. A second signal records the run as interrupted and
exits with 130 immediately.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from tasks.job import JobRuntime

log = logging.getLogger("convoy.flow")
EXIT_INTERRUPTED = 130


def _kill_programs(runtime: JobRuntime) -> None:
    kill = getattr(runtime.converter, "kill_all", None)
    if kill is not None:
        kill()


@contextmanager
def graceful_interrupts(runtime: JobRuntime, grace: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            log.warning("%s: stopping; jobs in flight have %g s to finish (again to stop at once)",
                        name, grace)
            runtime.halt("interrupted", f"interrupted by {name}", at_chunks=True)
            timer = threading.Timer(grace, _kill_programs, args=(runtime,))
            timer.daemon = True
            timer.start()
            return
        log.warning("%s again: stopping at once", name)
        _kill_programs(runtime)
        runtime.ledger.set_unfinished(runtime.run_id, "interrupted")
        runtime.ledger.finish_run(runtime.run_id, "interrupted", abort_reason=f"interrupted by {name}")
        logging.shutdown()
        os._exit(EXIT_INTERRUPTED)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
