"""Scenario 3, backoff: does a job waiting out its backoff starve the healthy ones?

200 remote jobs of 50 ms each against the fault-injecting server on
127.0.0.1 (``tests/fixtures/fault_server.py``), 8 workers. In the failing
run every fifth job (20%) answers 503 once and backs off 1 s before its
retry; the clean run is the same without failures. Budget: the failing run's
throughput (jobs per second) is at least 0.8 of the clean run's. Also shown:
when the last job that never failed had finished (from the ledger), in both
runs: a backoff that held a worker slot would delay it; and the time the
failures added to the run, next to one backoff delay. The last failing job
(the 196th of 200) waits its delay after nearly all other work is done, so
no run can end sooner than the clean run plus one delay: the budget can only
be met while the clean run takes about four times the delay or more.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Context, Result, Row, alternate, make_inputs, median

# jobs, workers, backoff delay (s)
SIZES = {"full": (200, 8, 1.0), "quick": (100, 8, 1.0), "smoke": (5, 2, 0.2)}
SLOW = 0.05
FAIL_EVERY = 5
BUDGET = 0.8


def convoy_remote(inputs: str, out: str, workspace: str, url: str, workers: int,
                  retry_delay: float) -> dict[str, Any]:
    """Child: one convoy run with the http converter."""
    from flows.batch import run_batch
    from flows.settings import load_settings

    settings = load_settings(None, dict(input=[inputs], output=out, workspace=workspace, url=url,
                                        workers=workers, retries=3, retry_delay=retry_delay,
                                        jitter=0, timeout=30))
    start = time.perf_counter()
    result = run_batch(settings)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "succeeded": result.report.totals["succeeded"],
            "retried": sum(1 for job in result.report.jobs if job.attempts > 1),
            "healthy_done_s": _healthy_done(workspace, result.report.run.id)}


def _healthy_done(workspace: str, run_id: str) -> float:
    """Seconds from the first attempt until the last job that never failed had finished."""
    from datetime import datetime

    from state.ledger import Ledger

    ledger = Ledger.open(workspace)
    try:
        attempts = ledger.attempts(run_id)
    finally:
        ledger.close()
    failed = {a.job_id for a in attempts if a.category}
    first = min(datetime.fromisoformat(a.started_at) for a in attempts)
    last = max(datetime.fromisoformat(a.ended_at) for a in attempts
               if a.job_id not in failed and a.ended_at)
    return (last - first).total_seconds()


def _inputs(ctx: Context, jobs: int, failing: bool) -> Path:
    folder = ctx.scratch("failing-inputs" if failing else "clean-inputs")
    paths = make_inputs(folder, jobs, text="job {i} " + f"SLOW={SLOW}\n")
    if failing:
        for path in paths[::FAIL_EVERY]:
            path.write_text(path.read_text() + "STATUS=503x1\n")
    return folder


def run(ctx: Context) -> Result:
    from tests.fixtures.fault_server import FaultServer

    jobs, workers, delay = SIZES[ctx.size]
    inputs = {"failing": _inputs(ctx, jobs, True), "clean": _inputs(ctx, jobs, False)}
    runs: dict[str, list[dict[str, Any]]] = {"failing": [], "clean": []}
    for side in alternate(ctx.rounds, ["failing", "clean"]):
        server = FaultServer()  # fresh: faults are counted per job
        url = server.start()
        run_dir = ctx.scratch(side)
        try:
            figures = ctx.child("benchmarks.scenario_backoff:convoy_remote",
                                inputs=str(inputs[side]), out=str(run_dir / "out"),
                                workspace=str(run_dir), url=url, workers=workers,
                                retry_delay=delay)
        finally:
            server.stop()
            shutil.rmtree(run_dir, ignore_errors=True)
        figures["requests"] = len(server.requests)
        figures["jobs_per_second"] = jobs / figures["seconds"]
        print(f"  backoff: {side} {figures['seconds']:.2f} s, {figures['requests']} requests",
              flush=True)
        runs[side].append(figures)
    for folder in inputs.values():
        shutil.rmtree(folder, ignore_errors=True)
    failing = median([r["jobs_per_second"] for r in runs["failing"]])
    clean = median([r["jobs_per_second"] for r in runs["clean"]])
    rows = [
        Row("throughput, 20% fail once", failing, clean, "failure-free", "jobs/s",
            f">= {BUDGET}x", failing >= BUDGET * clean),
        Row("healthy jobs all done after", median([r["healthy_done_s"] for r in runs["failing"]]),
            median([r["healthy_done_s"] for r in runs["clean"]]), "failure-free", "s"),
        # The last failing job fails near the end and waits its backoff with nothing left to
        # overlap: no scheduler finishes sooner than one delay after the clean run.
        Row("time the failures added to the run",
            median([r["seconds"] for r in runs["failing"]]) - median([r["seconds"] for r in runs["clean"]]),
            delay, "one backoff delay", "s"),
    ]
    figures = {"jobs": jobs, "workers": workers, "retry_delay": delay, "slow": SLOW,
               "failing_jobs": len(range(0, jobs, FAIL_EVERY)), "runs": runs}
    return Result("backoff", rows, figures)
