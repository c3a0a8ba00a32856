"""One job as a Prefect task: one attempt per Prefect try, every attempt in the ledger.

The task body decides, through the retry policy, what follows a failed
attempt, records it, waits out the backoff itself and tells Prefect through
``JobFailed.will_retry`` (Prefect's own delay is zero). The ``slots``
semaphore is taken around the attempt alone, so a job in backoff holds no
worker slot, and the backoff wait wakes at once when the run is stopped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from prefect import task
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.states import State
from prefect.transactions import get_transaction

from policies.backoff import Backoff, honour_retry_after
from policies.categories import INTERNAL
from policies.retry import Failure, RetryPolicy
from policies.thresholds import Breaker, Trip
from state.ledger import Ledger
from tasks.chunks import existing_parts
from tasks.errors import AttemptError, Halted
from tasks.outputs import Finalized
from tasks.spec import JobSpec
from tasks.states import job_state

log = logging.getLogger("convoy.job")


class JobContext(Protocol):
    """What a converter may ask of the run while it works on one job."""

    def done_parts(self) -> dict[int, str]: ...
    def part_finished(self, parts: dict[int, str], total: int) -> None: ...
    def should_stop(self) -> bool: ...
    def intend(self, path: str, checksum: str) -> None: ...


class Converter(Protocol):
    def convert(self, job: JobSpec, context: JobContext) -> Finalized: ...


@dataclass
class JobRuntime:
    """What every job of one run shares, in this process."""

    run_id: str
    ledger: Ledger
    converter: Converter
    policy: RetryPolicy
    backoff: Backoff
    slots: threading.Semaphore
    breaker: Breaker = field(default_factory=lambda: Breaker({}))
    stop_at_chunks_on_trip: bool = True  # "abort"; False for "drain"
    stop: threading.Event = field(default_factory=threading.Event)
    stop_status: str | None = None  # "aborted" or "interrupted" once stopped
    stop_reason: str | None = None
    stop_at_chunks: bool = False
    gate: threading.Lock = field(default_factory=threading.Lock)

    def halt(self, status: str, reason: str, at_chunks: bool) -> None:
        """No new job or attempt starts from now; the first reason given wins."""
        if self.stop.is_set():
            return
        self.stop_status, self.stop_reason, self.stop_at_chunks = status, reason, at_chunks
        self.stop.set()

    def count_failure(self, failure: Failure) -> None:
        with self.gate:  # no attempt may pass its stop check between the trip and the halt
            trip: Trip | None = self.breaker.record(failure.category)
            if trip is not None:
                self.halt("aborted", trip.reason, at_chunks=self.stop_at_chunks_on_trip)
        if trip is not None:
            log.error("%s: no new job or attempt starts", trip.reason)

    def may_start(self) -> bool:
        """The stop check before an attempt, ordered with respect to a trip."""
        with self.gate:
            return not self.stop.is_set()


_runtimes: dict[str, JobRuntime] = {}


def register(runtime: JobRuntime) -> None:
    _runtimes[runtime.run_id] = runtime


def unregister(run_id: str) -> None:
    _runtimes.pop(run_id, None)


class JobKeyCache(CachePolicy):
    """Prefect's cache key for a job is convoy's job key: input content + converter settings.

    It answers "already done?" when the ledger is gone (moved aside); results
    live under the workspace's ``.convoy/results``.
    """

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        job = inputs.get("job") or {}
        return f"convoy-{job['key']}" if job.get("key") else None


class JobFailed(Exception):
    """An attempt failed; ``will_retry`` tells Prefect whether another attempt follows."""

    def __init__(self, failure: Failure, will_retry: bool) -> None:
        super().__init__(f"{failure.category}: {failure.message}")
        self.failure = failure
        self.will_retry = will_retry


def retry_if_decided(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: must stay a plain function (DESIGN.md)."""
    return bool(getattr(state.data, "will_retry", False))


class _LedgerContext:
    """A converter's view of its job's durable progress (finalized chunks)."""

    def __init__(self, runtime: JobRuntime, spec: JobSpec) -> None:
        self.runtime, self.spec = runtime, spec
        self.parts_done = 0

    def done_parts(self) -> dict[int, str]:
        record = self.runtime.ledger.job(self.runtime.run_id, self.spec.id)
        found = existing_parts(record.partial_outputs if record else [])
        self.parts_done = len(found)
        return found

    def part_finished(self, parts: dict[int, str], total: int) -> None:
        self.parts_done = len(parts)
        self.runtime.ledger.record_parts(self.runtime.run_id, self.spec.id,
                                         [parts[i] for i in sorted(parts)], total)

    def should_stop(self) -> bool:
        return self.runtime.stop.is_set() and self.runtime.stop_at_chunks

    def intend(self, path: str, checksum: str) -> None:
        self.runtime.ledger.record_intent(self.runtime.run_id, self.spec.id, path, checksum)


def _ended(status: str, message: str) -> State:
    """The named final state of a job that ended without its output; never cached.

    Prefect caches a returned non-failed state (a Cancelled one) under the job
    key like a result; only a success may answer "already done" later.
    """
    transaction = get_transaction()
    if transaction is not None:
        transaction.write_on_commit = False
    return job_state(status, message)


def _attempt_number() -> int:
    context = TaskRunContext.get()
    return context.task_run.run_count if context and context.task_run else 1


@task(name="convert", task_run_name="convert[{input_name}]", cache_policy=JobKeyCache(),
      persist_result=True, result_serializer="json", retry_condition_fn=retry_if_decided)
def convert(run_id: str, job: dict[str, str], input_name: str) -> Any:
    """Run one attempt of one job and record it; raise JobFailed when another attempt follows.

    A success returns the output's facts: they are what Prefect's result cache
    keeps. A job that ends without its output returns its named final state
    (tasks/states.py), so the UI shows convoy's status.
    """
    runtime = _runtimes[run_id]
    spec = JobSpec(**job)
    ledger = runtime.ledger
    number = _attempt_number()
    context = _LedgerContext(runtime, spec)
    with runtime.slots:
        if not runtime.may_start():
            status = runtime.stop_status or "aborted"
            ledger.finish_job(run_id, spec.id, status, attempts=number - 1)
            log.info("%s: %s before attempt %d", spec.input, status, number)
            return _ended(status, runtime.stop_reason or "the run was stopped")
        attempt = ledger.start_attempt(run_id, spec.id, number)
        log.log(5, "%s: attempt %d started", spec.input, number)
        try:
            done = runtime.converter.convert(spec, context)
        except Halted:
            status = runtime.stop_status or "aborted"
            ledger.finish_job(run_id, spec.id, status, attempts=number, attempt=attempt)
            log.info("%s: %s at a chunk boundary, %d part(s) kept", spec.input, status,
                     context.parts_done)
            return _ended(status, f"stopped at a chunk boundary, {context.parts_done} part(s) kept")
        except AttemptError as exc:
            failure = exc.failure
        except Exception as exc:  # a bug in convoy: keep the traceback in the log file
            log.error("%s: internal error", spec.input, exc_info=True)
            failure = Failure(INTERNAL, f"{type(exc).__name__}: {exc}")
        else:
            ledger.finish_job(run_id, spec.id, "succeeded", attempts=number, attempt=attempt,
                              output=done.output, checksum=done.checksum, size=done.size,
                              mtime_ns=done.mtime_ns, produced_by=run_id)
            log.info("%s: succeeded (attempt %d)", spec.input, number)
            return {"output": done.output, "checksum": done.checksum, "size": done.size,
                    "mtime_ns": done.mtime_ns, "produced_by": run_id}
    return _after_failure(runtime, spec, number, attempt, failure, context.parts_done)


def _after_failure(runtime: JobRuntime, spec: JobSpec, number: int, attempt: int,
                   failure: Failure, parts_done: int) -> State:
    """Record a failed attempt, then back off and retry, or settle the job's status."""
    ledger, run_id = runtime.ledger, runtime.run_id
    runtime.count_failure(failure)
    decision: str = runtime.policy.decide(failure, number)
    delay = None
    if runtime.stop_status == "interrupted":
        decision = "interrupted"  # killed at the end of the grace period: not the job's fault
    if decision == "retry":
        if runtime.stop.is_set():
            decision = runtime.stop_status or "aborted"
        else:
            delay = honour_retry_after(runtime.backoff.delay(number), failure.retry_after,
                                       runtime.backoff.max_delay)
    if delay is not None:
        ledger.end_attempt(attempt, outcome=decision, category=failure.category,
                           message=failure.message, delay_next=delay)
        log.warning("%s: attempt %d failed (%s: %s); retrying in %.2f s", spec.input, number,
                    failure.category, failure.message, delay)
        runtime.stop.wait(delay)  # outside the slot; wakes at once if the run stops
        raise JobFailed(failure, will_retry=True)
    status = "partial" if decision in ("failed", "retries_exhausted") and parts_done else decision
    error = {"category": failure.category, "message": failure.message,
             "retryable": runtime.policy.is_retryable(failure)}
    ledger.finish_job(run_id, spec.id, status, attempts=number, error=error, attempt=attempt,
                      attempt_outcome=decision)
    log.error("%s: %s after %d attempt(s): %s: %s", spec.input, status, number,
              failure.category, failure.message)
    return _ended(status, f"{failure.category}: {failure.message}")
