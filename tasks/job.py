"""One job as a Prefect task: one attempt per Prefect try, every attempt in the ledger.

The task body decides, through the retry policy, what follows a failed
attempt, records it, and tells Prefect through ``JobFailed.will_retry``; the
``retry_condition_fn`` only reads that verdict. The ``slots`` semaphore is
taken around the attempt alone, so a job sleeping in Prefect's retry delay
holds no worker slot (DESIGN.md: Prefect sleeps outside the task body).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from policies.categories import INTERNAL
from policies.retry import Failure, RetryPolicy
from state.ledger import Ledger
from tasks.errors import AttemptError
from tasks.outputs import Finalized
from tasks.spec import JobSpec
from tasks.states import job_state

log = logging.getLogger("convoy.job")


class Converter(Protocol):
    def convert(self, job: JobSpec) -> Finalized: ...


@dataclass
class JobRuntime:
    """What every job of one run shares, in this process."""

    run_id: str
    ledger: Ledger
    converter: Converter
    policy: RetryPolicy
    delays: list[float]
    slots: threading.Semaphore
    stop: threading.Event = field(default_factory=threading.Event)


_runtimes: dict[str, JobRuntime] = {}


def register(runtime: JobRuntime) -> None:
    _runtimes[runtime.run_id] = runtime


def unregister(run_id: str) -> None:
    _runtimes.pop(run_id, None)


class JobFailed(Exception):
    """An attempt failed; ``will_retry`` tells Prefect whether another attempt follows."""

    def __init__(self, failure: Failure, will_retry: bool) -> None:
        super().__init__(f"{failure.category}: {failure.message}")
        self.failure = failure
        self.will_retry = will_retry


def retry_if_decided(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: must stay a plain function (DESIGN.md)."""
    return bool(getattr(state.data, "will_retry", False))


def _attempt_number() -> int:
    context = TaskRunContext.get()
    return context.task_run.run_count if context and context.task_run else 1


def _error(failure: Failure, policy: RetryPolicy) -> dict[str, Any]:
    return {"category": failure.category, "message": failure.message,
            "retryable": policy.is_retryable(failure)}


@task(name="convert", task_run_name="convert[{input_name}]", cache_policy=NO_CACHE,
      persist_result=False, retry_condition_fn=retry_if_decided)
def convert(run_id: str, job: dict[str, str], input_name: str) -> Any:
    """Run one attempt of one job and record it; raise JobFailed when another attempt follows.

    A job that ends without its output returns its named final state (tasks/states.py).
    """
    runtime = _runtimes[run_id]
    spec = JobSpec(**job)
    ledger = runtime.ledger
    number = _attempt_number()
    with runtime.slots:
        if runtime.stop.is_set():
            ledger.finish_job(run_id, spec.id, "interrupted", attempts=number - 1)
            return job_state("interrupted", "the run was stopped before this attempt")
        attempt = ledger.start_attempt(run_id, spec.id, number)
        log.debug("%s: attempt %d started", spec.input, number)
        try:
            done = runtime.converter.convert(spec)
        except AttemptError as exc:
            failure = exc.failure
        except Exception as exc:  # a bug in convoy: keep the traceback in the log file
            log.error("%s: internal error", spec.input, exc_info=True)
            failure = Failure(INTERNAL, f"{type(exc).__name__}: {exc}")
        else:
            ledger.end_attempt(attempt, outcome="succeeded")
            ledger.finish_job(run_id, spec.id, "succeeded", attempts=number, output=done.output,
                              checksum=done.checksum, size=done.size)
            log.info("%s: succeeded (attempt %d)", spec.input, number)
            return "succeeded"

    decision = runtime.policy.decide(failure, number)
    if decision == "retry" and runtime.stop.is_set():
        decision = "interrupted"
    delay = runtime.delays[min(number, len(runtime.delays)) - 1] if decision == "retry" else None
    ledger.end_attempt(attempt, outcome=decision, category=failure.category,
                       message=failure.message, delay_next=delay)
    if decision == "retry":
        log.warning("%s: attempt %d failed (%s: %s); retrying in %.2f s", spec.input, number,
                    failure.category, failure.message, delay)
        raise JobFailed(failure, will_retry=True)
    ledger.finish_job(run_id, spec.id, decision, attempts=number, error=_error(failure, runtime.policy))
    log.error("%s: %s after %d attempt(s): %s: %s", spec.input, decision, number,
              failure.category, failure.message)
    return job_state(decision, f"{failure.category}: {failure.message}")
