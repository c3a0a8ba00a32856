"""Scenario 1, overhead: convoy against bare Prefect and GNU Parallel on the same work.

* no-op: every side calls ``common.identity(source, output)`` (copy a few
  bytes). Bare Prefect is ``@task(retries=3)`` + ``.map`` under
  ``ThreadPoolTaskRunner(workers)``, Prefect's defaults otherwise (its default
  cache key, no persisted result). convoy also plans the run (hashes every
  input), writes each output to a temporary file, flushes and renames it,
  records every attempt in its ledger, keeps a Prefect result per job (its
  fallback cache), logs each job and builds the report: that is its
  overhead, and what the budget (wall time per job <= 1.2x bare Prefect's)
  measures.
* program: the bundled example converter ``examples/tools/md2html.py`` run
  once per input, by convoy's command converter, by ``subprocess.run`` in a
  bare Prefect task, and by ``parallel --joblog``.

Each run is a child process; the sides take turns, round after round.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, Context, Result, Row, alternate, count_files, make_inputs, median

# no-op jobs, program jobs, workers
SIZES = {"full": (1000, 300, 4), "quick": (200, 60, 4), "smoke": (5, 3, 2)}
PROGRAM = [sys.executable, str(REPO / "examples" / "tools" / "md2html.py")]
RETRIES = 3
BUDGET = 1.2


def convoy_side(inputs: str, out: str, workspace: str, workers: int,
                converter: dict[str, Any]) -> dict[str, Any]:
    """Child: one convoy run through its Python API."""
    from flows.batch import run_batch
    from flows.settings import load_settings

    settings = load_settings(None, dict(input=[inputs], output=out, workspace=workspace,
                                        workers=workers, retries=RETRIES, **converter))
    start, cpu = time.perf_counter(), time.process_time()
    result = run_batch(settings)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "succeeded": result.report.totals["succeeded"],
            "outputs": count_files(Path(out))}


def _timed(batch: Any, inputs: str, out: str) -> dict[str, Any]:
    """Run a bare Prefect flow once; its wall and CPU time, successes and outputs."""
    start, cpu = time.perf_counter(), time.process_time()
    succeeded = batch(inputs, out)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "succeeded": succeeded,
            "outputs": count_files(Path(out))}


def prefect_side(inputs: str, out: str, workers: int, program: list[str] | None,
                 ext: str) -> dict[str, Any]:
    """Child: the same work as a bare Prefect flow, ``@task(retries=...)`` + ``.map``."""
    import os

    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    from benchmarks.common import identity

    @task(retries=RETRIES)  # as the issue states it: Prefect's defaults otherwise
    def convert(source: str, target: str) -> None:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if program is None:
            identity(Path(source), Path(target))
        else:
            subprocess.run([*program, source, target], check=True, stdin=subprocess.DEVNULL)

    runner: Any = ThreadPoolTaskRunner(max_workers=workers)

    @flow(name="bare-prefect-batch", task_runner=runner, persist_result=False)
    def batch(inputs: str, out: str) -> int:
        sources = sorted(str(p) for p in Path(inputs).rglob("*") if p.is_file())
        targets = [str(Path(out) / Path(s).relative_to(inputs).with_suffix(ext)) for s in sources]
        futures = convert.map(sources, targets)
        futures.wait()
        return sum(1 for f in futures if f.state.is_completed())

    return _timed(batch, inputs, out)


def prefect_as_convoy_side(inputs: str, out: str, workers: int, results: str) -> dict[str, Any]:
    """Child: bare Prefect asked for what convoy asks of it, with nothing of convoy's in the task.

    convoy's task options (its job-key cache policy, a JSON result persisted
    per job in a ``ResultFolder``, its retry condition, a task run name per
    input) and its thread pool (``flows.batch.pool_size``, a ``workers``
    semaphore around the work). The gap between this side and bare Prefect is
    what those choices cost Prefect; the gap to convoy is convoy's own code.
    """
    import os
    import threading

    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    from benchmarks.common import identity
    from flows.batch import pool_size
    from tasks.job import JobKeyCache, retry_if_decided
    from tasks.results import ResultFolder

    slots = threading.Semaphore(workers)

    @task(name="convert", task_run_name="convert[{input_name}]", retries=RETRIES,
          retry_delay_seconds=0, cache_policy=JobKeyCache(), persist_result=True,
          result_serializer="json", result_storage=Path(results), retry_condition_fn=retry_if_decided)
    def convert(run_id: str, job: dict[str, str], input_name: str) -> dict[str, Any]:
        with slots:
            os.makedirs(os.path.dirname(job["output"]), exist_ok=True)
            identity(Path(job["source"]), Path(job["output"]))
        return {"output": job["output"], "produced_by": run_id}

    convert.result_storage = ResultFolder(basepath=results)
    runner: Any = ThreadPoolTaskRunner(max_workers=pool_size(workers))

    @flow(name="bare-prefect-as-convoy", task_runner=runner, persist_result=False)
    def batch(inputs: str, out: str) -> int:
        sources = sorted(str(p) for p in Path(inputs).rglob("*") if p.is_file())
        jobs = [{"id": str(i), "input": s, "source": s, "key": f"k{i:08d}",
                 "output": str(Path(out) / Path(s).relative_to(inputs))} for i, s in enumerate(sources)]
        futures = convert.map("bench", jobs, [j["input"] for j in jobs])
        futures.wait()
        return sum(1 for f in futures if f.state.is_completed())

    return {**_timed(batch, inputs, out), "results": count_files(Path(results))}


def parallel_side(inputs: Path, out: Path, workers: int, workdir: Path) -> dict[str, Any]:
    """In this process: ``parallel --joblog`` over the same inputs, timed from outside."""
    sources = sorted(str(p.relative_to(inputs)) for p in inputs.rglob("*") if p.is_file())
    for folder in {Path(s).parent for s in sources}:
        (out / folder).mkdir(parents=True, exist_ok=True)
    listing, joblog = workdir / "inputs.txt", workdir / "joblog.tsv"
    listing.write_text("\n".join(sources) + "\n")
    argv = ["parallel", "--will-cite", "--joblog", str(joblog), "-j", str(workers),
            "--retries", str(RETRIES + 1), *PROGRAM, f"{inputs}/{{}}", f"{out}/{{.}}.html",
            "::::", str(listing)]
    start = time.perf_counter()
    subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   timeout=3600)
    seconds = time.perf_counter() - start
    exits = [line.split("\t")[6] for line in joblog.read_text().splitlines()[1:]]
    return {"seconds": seconds, "succeeded": exits.count("0"), "outputs": count_files(out)}


def _one(ctx: Context, side: str, inputs: Path, workers: int, program: bool) -> dict[str, Any]:
    run_dir = ctx.scratch(side)
    out = run_dir / "out"
    ext = ".html" if program else ".md"
    if side == "convoy":
        converter: dict[str, Any] = (
            {"command": [*PROGRAM, "{input}", "{output}"], "ext": ".html"} if program
            else {"python_callable": "benchmarks.common:identity"})
        figures = ctx.child("benchmarks.scenario_overhead:convoy_side", inputs=str(inputs),
                            out=str(out), workspace=str(run_dir), workers=workers,
                            converter=converter)
    elif side == "prefect":
        figures = ctx.child("benchmarks.scenario_overhead:prefect_side", inputs=str(inputs),
                            out=str(out), workers=workers, program=PROGRAM if program else None,
                            ext=ext)
    elif side == "prefect-as-convoy":
        figures = ctx.child("benchmarks.scenario_overhead:prefect_as_convoy_side",
                            inputs=str(inputs), out=str(out), workers=workers,
                            results=str(run_dir / "results"))
    else:
        figures = parallel_side(inputs, out, workers, run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    return figures


def _case(ctx: Context, name: str, jobs: int, workers: int, sides: list[str]) -> dict[str, Any]:
    inputs = ctx.scratch(f"{name}-inputs")
    make_inputs(inputs, jobs)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for side in alternate(ctx.rounds, sides):
        figures = _one(ctx, side, inputs, workers, program=name == "program")
        print(f"  overhead/{name}: {side} {figures['seconds']:.2f} s", flush=True)
        runs[side].append(figures)
    shutil.rmtree(inputs, ignore_errors=True)
    return {"jobs": jobs, "workers": workers, "runs": runs}


def _per_job_ms(case: dict[str, Any], side: str, figure: str = "seconds") -> float | None:
    """Median over the rounds of ``figure`` (seconds) per job, in ms."""
    values = [r[figure] for r in case["runs"].get(side, []) if figure in r]
    return median(values) / case["jobs"] * 1000 if values else None


def run(ctx: Context) -> Result:
    noop_jobs, program_jobs, workers = SIZES[ctx.size]
    with_parallel = shutil.which("parallel") is not None
    if not with_parallel:
        print("  overhead: GNU Parallel is not installed (benchmarks/setup.sh); left out")
    noop = _case(ctx, "noop", noop_jobs, workers, ["convoy", "prefect", "prefect-as-convoy"])
    program = _case(ctx, "program", program_jobs, workers,
                    ["convoy", "prefect"] + (["parallel"] if with_parallel else []))
    rows = []
    for label, case in (("no-op", noop), ("program", program)):
        convoy, bare = _per_job_ms(case, "convoy"), _per_job_ms(case, "prefect")
        rows.append(Row(f"{label}: wall per job", convoy, bare, "bare Prefect", "ms",
                        f"<= {BUDGET}x", bool(convoy and bare and convoy <= BUDGET * bare)))
        if label == "no-op":  # where the time goes, less exposed to a busy machine than wall time
            for figure, what in (("cpu_seconds", "CPU of the process"),
                                 ("server_cpu_seconds", "CPU of the Prefect server")):
                rows.append(Row(f"no-op: {what} per job", _per_job_ms(case, "convoy", figure),
                                _per_job_ms(case, "prefect", figure), "bare Prefect", "ms"))
            for figure, what in (("seconds", "wall"), ("cpu_seconds", "CPU of the process")):
                rows.append(Row(f"no-op: {what} per job", _per_job_ms(case, "convoy", figure),
                                _per_job_ms(case, "prefect-as-convoy", figure),
                                "bare Prefect with convoy's task options and pool", "ms"))
    if with_parallel:
        rows.append(Row("program: wall per job", _per_job_ms(program, "convoy"),
                        _per_job_ms(program, "parallel"), "GNU Parallel", "ms"))
    return Result("overhead", rows, {"noop": noop, "program": program})
