"""The `convert-batch` flow: submit the run's jobs through a bounded window, then settle it.

The ledger is the single source of truth: a run is prepared (planned and
recorded, with ``runs/RUN_ID.json``) before the flow starts, the tasks record
every attempt, and the report and final state are derived from the ledger.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled, Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import LiveProgress, name_flow_run, publish_report
from flows.converters import backoff, build_converter, retry_policy
from flows.interrupts import graceful_interrupts
from flows.logs import configure_logging
from flows.parameters import resolve_settings
from flows.prepare import PreparedRun, prepare_run
from flows.settings import RunSettings, load_settings
from flows.workspace import open_workspace
from policies.categories import INTERNAL
from policies.thresholds import Breaker
from state.files import output_intact
from state.ledger import Ledger
from state.report import Report, build_report
from tasks.job import JobKeyCache, JobRuntime, convert, register, unregister
from tasks.results import ResultFolder
from tasks.spec import JobSpec

log = logging.getLogger("convoy.flow")

__all__ = ["BatchResult", "PreparedRun", "convert_batch", "prepare_run", "run_batch"]


_reports: dict[str, Report] = {}  # the report each finished flow built, by run id


@dataclass(frozen=True)
class BatchResult:
    report: Report
    state: State


def pool_size(workers: int) -> int:
    """Threads for jobs: ``workers`` attempts run at once; the rest may wait in backoff."""
    return min(max(workers * 4, workers + 8), workers + 256)


def _job_task(settings: RunSettings, refresh: bool) -> Any:
    """The task with this run's retries and Prefect's result cache under ``.convoy/results``."""
    results = settings.convoy_dir / "results"
    job_task = convert.with_options(
        retries=settings.retries,
        retry_delay_seconds=0,  # the task waits out its own backoff, outside its slot
        cache_policy=JobKeyCache(),
        result_storage=results,
        result_serializer="json",
        persist_result=True,
        refresh_cache=refresh,
    )
    # Prefect turns a Path into an unsaved LocalFileSystem; this is the same, with cheaper
    # key resolution. Prefect accepts only saved blocks as an option, hence the attribute.
    job_task.result_storage = ResultFolder(basepath=str(results))
    return job_task


def _submit_all(runtime: JobRuntime, jobs: list[JobSpec], job_task: Any, size: int
                ) -> list[tuple[JobSpec, dict[str, Any]]]:
    """Submit through a window of ``size`` jobs and wait for all; return Prefect cache hits."""
    window = threading.BoundedSemaphore(size)
    in_flight: set[PrefectFuture[Any]] = set()
    cache_hits: list[tuple[JobSpec, dict[str, Any]]] = []
    lock = threading.Lock()

    def done(job: JobSpec, future: PrefectFuture[Any]) -> None:
        try:
            future.wait(0)  # sets the final state from the finished thread, without an API call
            state = future.state
            if state.is_completed() and state.name == "Cached":
                cache_hits.append((job, future.result()))
        except Exception:  # a crashed job is settled from the ledger
            log.debug("%s: no usable final state", job.input, exc_info=True)
        finally:
            with lock:
                in_flight.discard(future)
            window.release()

    runner: ThreadPoolTaskRunner[Any]
    with ThreadPoolTaskRunner(max_workers=size) as runner:
        for job in jobs:
            while not window.acquire(timeout=0.5):
                if runtime.stop.is_set():
                    break
            if runtime.stop.is_set():
                break
            future: PrefectFuture[Any] = runner.submit(job_task, {"run_id": runtime.run_id, "job": job.to_dict(),
                                              "input_name": job.input})
            with lock:
                in_flight.add(future)
            future.add_done_callback(partial(done, job))
        while True:
            with lock:
                remaining = list(in_flight)
            if not remaining:
                break
            wait(remaining, timeout=1)
    return cache_hits


def _settle_cache_hits(ledger: Ledger, run_id: str,
                       hits: list[tuple[JobSpec, dict[str, Any]]]) -> list[JobSpec]:
    """Skip jobs whose cached output is intact where it belongs; return those to run again."""
    again = []
    for job, result in hits:
        intact, _ = output_intact(result.get("output"), result.get("size"), result.get("mtime_ns"),
                                  result.get("checksum"))
        if intact and result.get("output") == job.output:
            produced_by = result.get("produced_by") or "an earlier run"
            ledger.finish_job(run_id, job.id, "skipped", attempts=0, output=job.output,
                              checksum=result["checksum"], size=result["size"],
                              mtime_ns=result["mtime_ns"], produced_by=produced_by,
                              skip_reason=f"cached: Prefect result of run {produced_by}")
        else:
            again.append(job)
    return again


def _settle(ledger: Ledger, run_id: str, runtime: JobRuntime) -> tuple[str, State]:
    """Give unfinished jobs their status, record the run's end, and return its state."""
    if runtime.stop_status in ("interrupted", "aborted"):
        status, reason = runtime.stop_status, runtime.stop_reason
        ledger.set_unfinished(run_id, status)
        ledger.finish_run(run_id, status, abort_reason=reason)
        if status == "interrupted":
            return status, Cancelled(message=f"{reason}; `convoy resume` continues the run")
        return status, Cancelled(message=reason)
    for job in ledger.jobs(run_id, statuses=("pending", "running")):
        ledger.finish_job(run_id, job.job_id, "failed", attempts=job.attempts, error={
            "category": INTERNAL, "message": "the job ended without a recorded result",
            "retryable": False})
    counts = ledger.status_counts(run_id)
    total = sum(counts.values())
    good = counts.get("succeeded", 0) + counts.get("skipped", 0)
    if good == total:
        ledger.finish_run(run_id, "succeeded")
        skipped = counts.get("skipped", 0)
        message = f"{total} jobs succeeded"
        if skipped:
            message = f"{total - skipped} jobs succeeded, {skipped} were already done"
        return "succeeded", Completed(message=message)
    ledger.finish_run(run_id, "failed")
    return "failed", Failed(message=f"{total - good} of {total} jobs did not succeed")


@flow(name="convert-batch", validate_parameters=False, persist_result=False, log_prints=False)
def convert_batch(settings: RunSettings | str | Path, run_id: str | None = None) -> State:
    """Convert every pending job of a run; ``settings`` may be a job file path.

    Without ``run_id`` (a deployment's run) the run is planned and recorded here,
    with convoy's logging and the workspace lock; the CLI prepares it first, so
    that bad inputs are refused before Prefect starts. ``settings`` may also be
    a dict of settings (flows/parameters.py).
    """
    settings = resolve_settings(settings)
    if run_id is None:
        configure_logging(settings.log_level, settings.effective_log_dir, settings.log_max_bytes,
                          settings.log_backups, to_stderr=False)
        workspace = open_workspace(settings.workspace)
        try:
            run_id = prepare_run(settings, workspace.ledger).run_id
            return _convert(settings, run_id)
        finally:
            workspace.close()
    return _convert(settings, run_id)


def _convert(settings: RunSettings, run_id: str) -> State:
    ledger = Ledger.open(settings.workspace)
    try:
        name_flow_run(run_id)
        jobs = [JobSpec(j.job_id, j.input, j.source, j.target, j.key)
                for j in ledger.jobs(run_id, statuses=("pending",))]
        converter = build_converter(settings)
        runtime = JobRuntime(run_id=run_id, ledger=ledger, converter=converter,
                             policy=retry_policy(settings), backoff=backoff(settings),
                             slots=threading.Semaphore(settings.workers),
                             breaker=Breaker(settings.fail_after),
                             stop_at_chunks_on_trip=settings.on_threshold == "abort")
        register(runtime)
        size = pool_size(settings.workers)
        try:
            log.info("run %s: %d jobs to run, %d workers", run_id, len(jobs), settings.workers)
            with graceful_interrupts(runtime, settings.grace_period), LiveProgress(ledger, run_id):
                hits = _submit_all(runtime, jobs, _job_task(settings, settings.force), size)
                again = _settle_cache_hits(ledger, run_id, hits)
                if again and not runtime.stop.is_set():
                    log.info("%d cached results no longer match their outputs: running them", len(again))
                    _submit_all(runtime, again, _job_task(settings, True), size)
        finally:
            unregister(run_id)
            close = getattr(converter, "close", None)
            if close:
                close()
        status, state = _settle(ledger, run_id, runtime)
        log.info("run %s ended %s", run_id, status)
        report = build_report(ledger, run_id)
        _reports[run_id] = report  # execute() hands it on instead of building it again
        publish_report(report)
        return state
    finally:
        ledger.close()


def execute(settings: RunSettings, ledger: Ledger, run_id: str) -> BatchResult:
    """Run a prepared run's flow and build its report."""
    state = convert_batch(settings, run_id, return_state=True)
    report = _reports.pop(run_id, None) or build_report(ledger, run_id)
    return BatchResult(report, state)


def run_batch(settings: RunSettings | str | Path) -> BatchResult:
    """Python API: plan, run and report one batch; ``settings`` may be a job file path."""
    if not isinstance(settings, RunSettings):
        settings = load_settings(settings, {})
    configure_logging(settings.log_level, settings.effective_log_dir, settings.log_max_bytes,
                      settings.log_backups, to_stderr=False)
    workspace = open_workspace(settings.workspace)
    try:
        prepared = prepare_run(settings, workspace.ledger)
        return execute(settings, workspace.ledger, prepared.run_id)
    finally:
        workspace.close()
