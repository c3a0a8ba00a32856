"""Which Prefect state each convoy job status ends in: what the UI shows for a job."""

import pytest

from tasks.states import job_state


@pytest.mark.parametrize(
    "status, kind, name",
    [
        ("succeeded", "COMPLETED", "Completed"),
        ("skipped", "COMPLETED", "Skipped"),
        ("failed", "FAILED", "Failed"),
        ("retries_exhausted", "FAILED", "RetriesExhausted"),
        ("partial", "FAILED", "Partial"),
        ("aborted", "CANCELLED", "Aborted"),
        ("interrupted", "CANCELLED", "Interrupted"),
    ],
)
def test_every_terminal_status_has_a_named_state_of_the_matching_type(status, kind, name):
    state = job_state(status, "why it ended")
    assert state.type.value == kind
    assert state.name == name
    assert state.message == "why it ended"


@pytest.mark.parametrize("status", ["pending", "running", "exploded"])
def test_a_status_that_is_not_terminal_has_no_final_state(status):
    with pytest.raises(ValueError, match=status):
        job_state(status, "")
