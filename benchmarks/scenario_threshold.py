"""Scenario 4, threshold stop: after ``fail_after`` trips, nothing new starts.

A service that always fails (every request: 50 ms, then 503), 100 jobs, 8
workers, ``fail_after remote.unavailable = 5``, retries with a 1 s backoff.
The trip is the moment the fifth failed attempt is recorded in the ledger.
Measured: attempts started after the trip (from the ledger; budget: none),
requests the server received after the trip (budget: none beyond the
attempts in flight at the trip), and the seconds from the trip until
``run_batch`` returned.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime
from typing import Any

from benchmarks.common import Context, Result, Row, make_inputs, median

SIZES = {"full": (100, 8), "quick": (50, 8), "smoke": (12, 3)}  # jobs, workers
FAIL_AFTER = 5


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def convoy_stopped(inputs: str, out: str, workspace: str, url: str,
                   workers: int) -> dict[str, Any]:
    """Child: a convoy run against a dead service; where the trip fell, from the ledger."""
    from flows.batch import run_batch
    from flows.settings import load_settings
    from state.ledger import Ledger

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
    failed = sorted(_epoch(a.ended_at) for a in attempts if a.category and a.ended_at)
    trip = failed[FAIL_AFTER - 1] if len(failed) >= FAIL_AFTER else ended
    spans = [(_epoch(a.started_at), _epoch(a.ended_at) if a.ended_at else ended)
             for a in attempts]
    return {"status": result.report.run.status, "attempts": len(attempts),
            "failed_attempts": len(failed), "trip_at": trip,
            "attempts_started_after_trip": sum(1 for s, _ in spans if s > trip),
            "in_flight_at_trip": sum(1 for s, e in spans if s <= trip < e),
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
    started_after = max(r["attempts_started_after_trip"] for r in runs)
    beyond = max(r["requests_after_trip"] - r["in_flight_at_trip"] for r in runs)
    rows = [
        Row("attempts started after the trip (worst)", started_after, unit="",
            budget="0", met=started_after == 0 and all(r["status"] == "aborted" for r in runs)),
        Row("requests after the trip beyond those in flight (worst)", max(beyond, 0),
            budget="0", met=beyond <= 0),
        Row("seconds from the trip to the end", median([r["trip_to_end_s"] for r in runs]),
            unit="s"),
    ]
    return Result("threshold", rows, {"jobs": jobs, "workers": workers, "fail_after": FAIL_AFTER,
                                      "runs": runs})
