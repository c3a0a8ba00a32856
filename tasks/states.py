"""The Prefect state a job's task run ends in, so that the UI shows convoy's status.

Prefect knows only its state types (Completed, Failed, Cancelled); the state
name carries convoy's finer status (``RetriesExhausted`` is a Failed state,
``Aborted`` a Cancelled one). A task returns such a state only when the job is
over: a failed attempt that will be retried still raises, so that Prefect's
own retry machinery runs.
"""

from __future__ import annotations

from typing import Any

from prefect.states import Cancelled, Completed, Failed, State

# convoy status -> (state constructor, state name)
_STATES: dict[str, tuple[Any, str]] = {
    "succeeded": (Completed, "Completed"),
    "skipped": (Completed, "Skipped"),
    "failed": (Failed, "Failed"),
    "retries_exhausted": (Failed, "RetriesExhausted"),
    "partial": (Failed, "Partial"),  # the output is not there, only some finalized chunks
    "aborted": (Cancelled, "Aborted"),
    "interrupted": (Cancelled, "Interrupted"),
}


def job_state(status: str, message: str) -> State:
    """The final task run state for a job that ended with ``status``."""
    try:
        make, name = _STATES[status]
    except KeyError:
        raise ValueError(f"{status!r} is not a terminal job status") from None
    return make(name=name, message=message)
