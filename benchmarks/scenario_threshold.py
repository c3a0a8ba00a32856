"""Scenario 4, threshold stop: after ``fail_after`` trips, nothing new starts.

A service that always fails (every request: 50 ms, then 503), 100 jobs, 8
workers, ``fail_after remote.unavailable = 5``, retries with a 1 s backoff.

The child observes the run without changing it: it stamps the moment the
breaker trips, and for every attempt the moment of the stop check that let
it start (the last ``stop.is_set()`` of its thread before ``start_attempt``).
An attempt whose check came after the trip is a new attempt after the trip
(budget: none); one checked before it is in flight, even if the ledger
records its start a few milliseconds later on a busy machine. Also measured:
requests the server received after the trip beyond the attempts in flight
(budget: none), and the seconds from the trip until ``run_batch`` returned.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import datetime
from typing import Any

from benchmarks.common import Context, Result, Row, make_inputs, median

SIZES = {"full": (100, 8), "quick": (50, 8), "smoke": (12, 3)}  # jobs, workers
FAIL_AFTER = 5


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


class _Observer:
    """Stamps the trip and each attempt's stop check; convoy's behaviour is untouched."""

    def __init__(self) -> None:
        self.trip_at: float | None = None
        self.checked_at: dict[tuple[str, int], float | None] = {}
        self.local = threading.local()

    def install(self) -> None:
        import flows.batch
        from policies.thresholds import Breaker
        from state.ledger import Ledger

        observer, register = self, flows.batch.register
        record, start_attempt = Breaker.record, Ledger.start_attempt

        class Stop(threading.Event):
            def is_set(self) -> bool:
                observer.local.checked = time.time()
                return super().is_set()

        def observed_register(runtime: Any) -> None:
            runtime.stop = Stop()
            register(runtime)

        def observed_record(breaker: Any, category: str) -> Any:
            trip = record(breaker, category)
            if trip is not None:
                observer.trip_at = time.time()
            return trip

        def observed_start(ledger: Any, run_id: str, job_id: str, number: int) -> int:
            observer.checked_at[(job_id, number)] = getattr(observer.local, "checked", None)
            return start_attempt(ledger, run_id, job_id, number)

        flows.batch.register = observed_register  # type: ignore[assignment]
        Breaker.record = observed_record  # type: ignore[method-assign,assignment]
        Ledger.start_attempt = observed_start  # type: ignore[method-assign,assignment]


def convoy_stopped(inputs: str, out: str, workspace: str, url: str,
                   workers: int) -> dict[str, Any]:
    """Child: a convoy run against a dead service, observed; the ledger says the rest."""
    from flows.batch import run_batch
    from flows.settings import load_settings
    from state.ledger import Ledger

    observer = _Observer()
    observer.install()
    settings = load_settings(None, dict(
        input=[inputs], output=out, workspace=workspace, url=url, workers=workers, retries=3,
        retry_delay=1.0, jitter=0, timeout=30, fail_after={"remote.unavailable": FAIL_AFTER}))
    result = run_batch(settings)
    ended = time.time()
    ledger = Ledger.open(workspace)
    try:
        attempts = ledger.attempts(result.report.run.id)
    finally:
        ledger.close()
    trip = observer.trip_at if observer.trip_at is not None else ended
    stamped = [observer.checked_at.get((a.job_id, a.number)) for a in attempts]
    checks = [c if c is not None else _epoch(a.started_at) for c, a in zip(stamped, attempts, strict=True)]
    ends = [_epoch(a.ended_at) if a.ended_at else ended for a in attempts]
    return {"status": result.report.run.status, "attempts": len(attempts),
            "attempts_observed": sum(1 for c in stamped if c is not None),
            "tripped": observer.trip_at is not None,
            "failed_attempts": sum(1 for a in attempts if a.category), "trip_at": trip,
            "attempts_checked_after_trip": sum(1 for c in checks if c > trip),
            "attempts_recorded_after_trip": sum(1 for a in attempts if _epoch(a.started_at) > trip),
            "in_flight_at_trip": sum(1 for c, e in zip(checks, ends, strict=True) if c <= trip < e),
            "trip_to_end_s": ended - trip, "aborted": result.report.totals["aborted"]}


def run(ctx: Context) -> Result:
    from tests.fixtures.fault_server import FaultServer

    jobs, workers = SIZES[ctx.size]
    inputs = ctx.scratch("threshold-inputs")
    make_inputs(inputs, jobs, text="job {i} SLOW=0.05 STATUS=503\n")
    runs = []
    for _ in range(ctx.rounds):
        server = FaultServer()
        url = server.start()
        wall_minus_monotonic = time.time() - time.monotonic()
        run_dir = ctx.scratch("threshold")
        try:
            figures = ctx.child("benchmarks.scenario_threshold:convoy_stopped", inputs=str(inputs),
                                out=str(run_dir / "out"), workspace=str(run_dir), url=url,
                                workers=workers)
        finally:
            server.stop()
            shutil.rmtree(run_dir, ignore_errors=True)
        arrivals = [r.at + wall_minus_monotonic for r in server.requests]
        figures["requests"] = len(arrivals)
        figures["requests_after_trip"] = sum(1 for at in arrivals if at > figures["trip_at"])
        print(f"  threshold: {figures['status']}, {figures['requests']} requests, "
              f"{figures['requests_after_trip']} after the trip, "
              f"{figures['trip_to_end_s']:.2f} s to the end", flush=True)
        runs.append(figures)
    shutil.rmtree(inputs, ignore_errors=True)
    started_after = max(r["attempts_checked_after_trip"] for r in runs)
    beyond = max(r["requests_after_trip"] - r["in_flight_at_trip"] for r in runs)
    rows = [
        Row("attempts started after the trip (worst)", started_after,
            budget="0", met=started_after == 0 and all(r["status"] == "aborted" for r in runs)),
        Row("requests after the trip beyond those in flight (worst)", max(beyond, 0),
            budget="0", met=beyond <= 0),
        Row("seconds from the trip to the end", median([r["trip_to_end_s"] for r in runs]),
            unit="s"),
    ]
    return Result("threshold", rows, {"jobs": jobs, "workers": workers, "fail_after": FAIL_AFTER,
                                      "runs": runs})
