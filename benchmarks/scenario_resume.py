"""Scenario 2, resume skip: what a resume costs per finished job it skips.

1. Two finished runs of the no-op converter (``common.identity``), one of
   10,000 jobs and one of 100, each in its own workspace, made before the
   clock starts (recorded straight into the ledger: the runs themselves are
   not what is measured).
2. Resume each one through the Python API (``flows.resume.resume_batch``), in
   a child process like every other run; the clock runs around the resume
   alone, several rounds, the two sizes in turns. Every job must come back
   ``skipped`` (a resume of a finished run creates no Prefect task run).
3. Cost per skipped job = (median resume of 10,000 - median resume of 100)
   / 9,900: the fixed cost of a resume (the flow run, the report artifacts)
   cancels out. Budget (DESIGN.md): <= 0.1 ms, about what GNU Parallel's
   ``--resume`` costs.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Context, Result, Row, alternate, make_inputs, median

SIZES = {"full": (100, 10_000), "quick": (100, 2_000), "smoke": (3, 6)}
BUDGET_MS = 0.1


def finished_run(inputs: str, workspace: str) -> dict[str, Any]:
    """Child: a run whose every job succeeded, recorded as convoy records it."""
    from flows.prepare import prepare_run
    from flows.settings import load_settings
    from flows.workspace import open_workspace
    from state.files import checksum_of

    settings = load_settings(None, dict(
        input=[inputs], output=str(Path(workspace) / "out"), workspace=workspace,
        python_callable="benchmarks.common:identity", log_level="none"))
    opened = open_workspace(settings.workspace)
    try:
        ledger = opened.ledger
        prepared = prepare_run(settings, ledger)
        for job in prepared.jobs:
            Path(job.output).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(job.source, job.output)
            checksum, size = checksum_of(job.output)
            ledger.finish_job(prepared.run_id, job.id, "succeeded", attempts=1, output=job.output,
                              checksum=checksum, size=size, mtime_ns=os.stat(job.output).st_mtime_ns,
                              produced_by=prepared.run_id)
        ledger.finish_run(prepared.run_id, "succeeded")
    finally:
        opened.close()
    return {"jobs": len(prepared.jobs)}


def resume_side(workspace: str, jobs: int) -> dict[str, Any]:
    """Child: one timed resume; every job must be skipped."""
    from flows.resume import resume_batch

    started = time.perf_counter()
    report = resume_batch(workspace, {"log_level": "none"}).report
    seconds = time.perf_counter() - started
    if report.totals["skipped"] != jobs:
        raise RuntimeError(f"resume skipped {report.totals['skipped']} of {jobs} jobs")
    return {"seconds": seconds, "jobs": jobs}


def run(ctx: Context) -> Result:
    small, large = SIZES[ctx.size]
    workspaces: dict[int, Path] = {}
    for size in (small, large):
        inputs = ctx.scratch(f"resume-{size}-inputs")
        make_inputs(inputs, size)
        workspaces[size] = ctx.scratch(f"resume-{size}")
        ctx.child("benchmarks.scenario_resume:finished_run", inputs=str(inputs),
                  workspace=str(workspaces[size]))
    seconds: dict[int, list[float]] = {small: [], large: []}
    for side in alternate(ctx.rounds, [str(small), str(large)]):
        size = int(side)
        figures = ctx.child("benchmarks.scenario_resume:resume_side",
                            workspace=str(workspaces[size]), jobs=size)
        seconds[size].append(figures["seconds"])
        print(f"  resume: {size} skipped in {figures['seconds']:.2f} s", flush=True)
    per_job_ms = (median(seconds[large]) - median(seconds[small])) / (large - small) * 1000
    rows = [
        Row(f"resume of {small:,} finished jobs", median(seconds[small]), unit="s"),
        Row(f"resume of {large:,} finished jobs", median(seconds[large]), unit="s"),
        Row("cost per skipped job", per_job_ms, unit="ms", budget=f"<= {BUDGET_MS} ms",
            met=per_job_ms <= BUDGET_MS),
    ]
    return Result("resume", rows, {"sizes": [small, large], "seconds": seconds})
