"""The `convert-batch` flow: plan, submit through a bounded window, collect, summarize.

The ledger is the single source of truth: a run is prepared (planned and
recorded, with ``runs/RUN_ID.json``) before the flow starts, the tasks record
every attempt, and the report and final state are derived from the ledger.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.futures import PrefectFuture, wait
from prefect.states import Cancelled, Completed, Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import LiveProgress, name_flow_run, publish_report
from flows.logs import configure_logging
from flows.parameters import resolve_settings
from flows.plan import plan_jobs
from flows.settings import RunSettings, SettingsError, load_settings
from policies.backoff import Backoff
from policies.categories import INTERNAL
from policies.retry import RetryPolicy, retry_if_category, retry_if_exit_code
from state.ledger import Ledger
from state.report import Report, build_report
from tasks.command import CommandConverter
from tasks.job import Converter, JobRuntime, convert, register, unregister
from tasks.python_callable import PythonConverter, load_callable
from tasks.spec import JobSpec

log = logging.getLogger("convoy.flow")

MAX_LISTED_DELAYS = 50  # Prefect's limit on a retry_delay_seconds list


@dataclass(frozen=True)
class PreparedRun:
    run_id: str
    jobs: list[JobSpec]


@dataclass(frozen=True)
class BatchResult:
    report: Report
    state: State


def build_converter(settings: RunSettings) -> Converter:
    """The converter the settings ask for; SettingsError if it cannot be built."""
    if settings.converter == "command":
        jobdir = str(settings.job_file.parent) if settings.job_file else os.getcwd()
        return CommandConverter(settings.command, settings.timeout, jobdir=jobdir)
    if settings.converter == "python":
        assert settings.python_callable
        try:
            return PythonConverter(load_callable(settings.python_callable))
        except Exception as exc:
            raise SettingsError(
                f"invalid setting converter.callable: cannot load {settings.python_callable} "
                f"({type(exc).__name__}: {exc})") from None
    raise SettingsError("invalid setting converter: the http converter is not available yet")


def retry_policy(settings: RunSettings) -> RetryPolicy:
    condition = retry_if_category(*settings.retry_on) | retry_if_exit_code(*settings.retry_exit_codes)
    return RetryPolicy(max_retries=settings.retries, condition=condition)


def retry_delays(settings: RunSettings) -> list[float]:
    backoff = Backoff(settings.retry_delay, settings.backoff_factor, settings.max_delay,
                      settings.jitter)
    return backoff.delays(min(settings.retries, MAX_LISTED_DELAYS))


def prepare_run(settings: RunSettings, ledger: Ledger,
                before_recording: Callable[[], None] | None = None) -> PreparedRun:
    """Plan the jobs and record the run (ledger and run file) before any job starts.

    ``before_recording`` may still refuse the run (by raising) once the inputs are known good.
    """
    build_converter(settings)  # refuse an unusable converter before recording anything
    jobs = plan_jobs(settings)
    if before_recording is not None:
        before_recording()
    snapshot = settings.snapshot()
    run_id = ledger.create_run(snapshot)
    ledger.add_jobs(run_id, jobs)
    ledger.write_run_file(run_id, snapshot, jobs)
    return PreparedRun(run_id, jobs)


def pool_size(workers: int) -> int:
    """Threads for jobs: ``workers`` attempts run at once; the rest may wait in backoff."""
    return min(max(workers * 4, workers + 8), workers + 256)


def _submit_all(runtime: JobRuntime, jobs: list[JobSpec], settings: RunSettings) -> None:
    """Submit through a window of ``pool_size`` jobs; wait until every job has ended."""
    size = pool_size(settings.workers)
    window = threading.BoundedSemaphore(size)
    in_flight: set[PrefectFuture[Any]] = set()
    lock = threading.Lock()
    delays = runtime.delays
    job_task = convert.with_options(retries=settings.retries,
                                    retry_delay_seconds=delays if delays else 0)

    def done(future: PrefectFuture[Any]) -> None:
        with lock:
            in_flight.discard(future)
        window.release()

    with ThreadPoolTaskRunner(max_workers=size) as runner:
        try:
            for job in jobs:
                while not window.acquire(timeout=0.5):
                    if runtime.stop.is_set():
                        break
                if runtime.stop.is_set():
                    break
                future = runner.submit(job_task, {"run_id": runtime.run_id, "job": job.to_dict(),
                                                  "input_name": job.input})
                with lock:
                    in_flight.add(future)
                future.add_done_callback(done)
            _wait_all(in_flight, lock)
        except KeyboardInterrupt:
            log.warning("interrupted: stopping the jobs in flight")
            runtime.stop.set()
            kill = getattr(runtime.converter, "kill_all", None)
            if kill:
                kill()
            _wait_all(in_flight, lock)


def _wait_all(in_flight: set[PrefectFuture[Any]], lock: threading.Lock) -> None:
    while True:
        with lock:
            remaining = list(in_flight)
        if not remaining:
            return
        wait(remaining, timeout=1)


def _settle(ledger: Ledger, run_id: str, interrupted: bool) -> tuple[str, State]:
    """Give unfinished jobs their status, record the run's end, and return its state."""
    if interrupted:
        ledger.set_unfinished(run_id, "interrupted")
        ledger.finish_run(run_id, "interrupted")
        return "interrupted", Cancelled(message="run interrupted; `convoy resume` continues it")
    for job in ledger.jobs(run_id):
        if job.status in ("pending", "running"):
            ledger.finish_job(run_id, job.job_id, "failed", attempts=job.attempts, error={
                "category": INTERNAL, "message": "the job ended without a recorded result",
                "retryable": False})
    counts = ledger.status_counts(run_id)
    total = sum(counts.values())
    good = counts.get("succeeded", 0) + counts.get("skipped", 0)
    if good == total:
        ledger.finish_run(run_id, "succeeded")
        return "succeeded", Completed(message=f"{total} jobs succeeded")
    ledger.finish_run(run_id, "failed")
    return "failed", Failed(message=f"{total - good} of {total} jobs did not succeed")


@flow(name="convert-batch", validate_parameters=False, persist_result=False, log_prints=False)
def convert_batch(settings: RunSettings | str | Path, run_id: str | None = None) -> State:
    """Convert every job of a run; ``settings`` may be a job file path.

    Without ``run_id`` (a deployment's run) the run is planned and recorded here,
    with convoy's logging; the CLI prepares it first, so that bad inputs are
    refused before Prefect starts. ``settings`` may also be a dict of settings
    (flows/parameters.py).
    """
    settings = resolve_settings(settings)
    if run_id is None:
        configure_logging(settings.log_level, settings.effective_log_dir, settings.log_max_bytes,
                          settings.log_backups, to_stderr=False)
    ledger = Ledger.open(settings.workspace)
    try:
        if run_id is None:
            run_id = prepare_run(settings, ledger).run_id
        name_flow_run(run_id)
        jobs = [JobSpec(j.job_id, j.input, j.source, j.target, j.key)
                for j in ledger.jobs(run_id) if j.status == "pending"]
        runtime = JobRuntime(run_id=run_id, ledger=ledger, converter=build_converter(settings),
                             policy=retry_policy(settings), delays=retry_delays(settings),
                             slots=threading.Semaphore(settings.workers))
        register(runtime)
        try:
            log.info("run %s: %d jobs, %d workers", run_id, len(jobs), settings.workers)
            with LiveProgress(ledger, run_id):
                _submit_all(runtime, jobs, settings)
        finally:
            unregister(run_id)
        status, state = _settle(ledger, run_id, runtime.stop.is_set())
        log.info("run %s ended %s", run_id, status)
        publish_report(build_report(ledger, run_id))
        return state
    finally:
        ledger.close()


def run_batch(settings: RunSettings | str | Path) -> BatchResult:
    """Python API: plan, run and report one batch; ``settings`` may be a job file path."""
    if not isinstance(settings, RunSettings):
        settings = load_settings(settings, {})
    configure_logging(settings.log_level, settings.effective_log_dir, settings.log_max_bytes,
                      settings.log_backups, to_stderr=False)
    ledger = Ledger.open(settings.workspace)
    try:
        prepared = prepare_run(settings, ledger)
        state = convert_batch(settings, prepared.run_id, return_state=True)
        return BatchResult(build_report(ledger, prepared.run_id), state)
    finally:
        ledger.close()
