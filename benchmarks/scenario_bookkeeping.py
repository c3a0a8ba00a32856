"""Scenario 6, bookkeeping: what convoy writes for each job, timed in this process.

The overhead scenario says how much convoy costs next to bare Prefect; this
one says how much of it is convoy's own per-job bookkeeping, piece by piece,
without Prefect's engine or server in the way:

* ledger: the three transactions of a job that succeeds at once (attempt
  started; intent before the rename; job finished with its attempt);
* finalize: a few bytes to a temporary file, fsync'd and renamed into place,
  folder fsync'd (``tasks.outputs.finalize_output``);
* result storage: one cache lookup that misses and one result written, by
  ``tasks.results.ResultFolder`` against the baseline it replaces, Prefect's
  ``LocalFileSystem`` (what Prefect makes of a plain path).

CPU time per job (``time.process_time``): these pieces are CPU next to the
GIL-bound engine, and CPU is what the overhead's other jobs wait for.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import Context, Result, Row, alternate, median

SIZES = {"full": 2000, "quick": 500, "smoke": 20}
SIDES = ["ledger", "finalize", "result folder", "prefect local file system"]


def _ledger(folder: Path, jobs: int) -> Callable[[], None]:
    from state.ledger import Ledger
    from tasks.spec import JobSpec

    ledger = Ledger.open(folder)
    run_id = ledger.create_run({})
    specs = [JobSpec(f"j{i}", f"{i}.md", f"/in/{i}.md", str(folder / f"{i}.md"), f"k{i}")
             for i in range(jobs)]
    ledger.add_jobs(run_id, specs)

    def work() -> None:
        for spec in specs:
            attempt = ledger.start_attempt(run_id, spec.id, 1)
            ledger.record_intent(run_id, spec.id, spec.output, "c0ffee")
            ledger.finish_job(run_id, spec.id, "succeeded", attempts=1, attempt=attempt,
                              output=spec.output, checksum="c0ffee", size=11, mtime_ns=1,
                              produced_by=run_id)
        ledger.close()
    return work


def _finalize(folder: Path, jobs: int) -> Callable[[], None]:
    from tasks.outputs import finalize_output, reserve_temp

    def work() -> None:
        for i in range(jobs):
            final = str(folder / f"{i}.md")
            temp = reserve_temp(final)
            Path(temp).write_bytes(b"hello world")
            finalize_output(temp, final)
    return work


def _storage(folder: Path, jobs: int, kind: str) -> Callable[[], None]:
    from prefect.filesystems import LocalFileSystem

    from tasks.results import ResultFolder

    store = (ResultFolder if kind == "result folder" else LocalFileSystem)(basepath=str(folder))

    def work() -> None:
        for i in range(jobs):
            key = f"convoy-{i:064x}"
            try:
                store.read_path(key)  # Prefect's cache lookup before the job runs: a miss
            except ValueError:
                pass
            store.write_path(key, b'{"output": "out/doc.md", "size": 11}' * 8)
    return work


def _one(ctx: Context, side: str, jobs: int) -> dict[str, Any]:
    scratch = ctx.scratch(side.replace(" ", "-"))
    folder = scratch / "workspace" / ".convoy" / "results"  # as deep as a workspace's results
    folder.mkdir(parents=True)
    if side == "ledger":
        work = _ledger(folder, jobs)
    elif side == "finalize":
        work = _finalize(folder, jobs)
    else:
        work = _storage(folder, jobs, side)
    ctx.settle()  # the server's backlog writes to the same disk, and fsync pays for it
    start, cpu = time.perf_counter(), time.process_time()
    work()
    figures = {"jobs": jobs, "seconds": time.perf_counter() - start,
               "cpu_seconds": time.process_time() - cpu}
    shutil.rmtree(scratch, ignore_errors=True)
    return figures


def run(ctx: Context) -> Result:
    jobs = SIZES[ctx.size]
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for side in alternate(ctx.rounds, SIDES):
        runs[side].append(_one(ctx, side, jobs))

    def per_job_ms(side: str) -> float:
        return median([r["cpu_seconds"] for r in runs[side]]) / jobs * 1000

    rows = [
        Row("ledger: 3 transactions of a succeeded job, CPU per job", per_job_ms("ledger"), unit="ms"),
        Row("finalize: atomic output, CPU per job", per_job_ms("finalize"), unit="ms"),
        Row("result storage: lookup + write, CPU per job", per_job_ms("result folder"),
            per_job_ms("prefect local file system"), "Prefect LocalFileSystem", "ms"),
    ]
    return Result("bookkeeping", rows, {"jobs": jobs, "runs": runs})
