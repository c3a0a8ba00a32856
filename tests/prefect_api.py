"""Read what a run left on the Prefect server, the way the UI does: through the API.

Every wait is bounded; a helper that gives up raises AssertionError with what it saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)

T = TypeVar("T")


def eventually(probe: Callable[[], T], ok: Callable[[T], bool], timeout: float,
               what: str, every: float = 0.5) -> T:
    """Call ``probe`` until ``ok(result)``; fail after ``timeout`` seconds with the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not there after {timeout} s (last seen: {result!r})")
        time.sleep(every)


def flow_run(flow_run_id: UUID | str) -> Any:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id)))


def wait_final(flow_run_id: UUID | str, timeout: float) -> Any:
    """The flow run once it is in a final state."""
    return eventually(lambda: flow_run(flow_run_id), lambda r: r.state and r.state.is_final(),
                      timeout, f"flow run {flow_run_id} final")


def flow_runs_named(name: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["convert-batch"])),
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))


def task_runs(flow_run_id: UUID | str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(str(flow_run_id))])))


def task_states(flow_run_id: UUID | str, expected: int, timeout: float = 30) -> dict[str, tuple]:
    """{task run name: (state type, state name, message)} once ``expected`` runs are final."""
    def probe() -> dict[str, tuple]:
        return {r.name: (r.state.type.value, r.state.name, r.state.message)
                for r in task_runs(flow_run_id) if r.state}

    def settled(found: dict[str, tuple]) -> bool:
        return len(found) == expected and all(
            t in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED") for t, _, _ in found.values())

    return eventually(probe, settled, timeout, f"{expected} final task runs")


def artifacts(flow_run_id: UUID | str | None = None, key: str | None = None) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=(ArtifactFilterFlowRunId(any_=[UUID(str(flow_run_id))])
                         if flow_run_id else None),
            key=ArtifactFilterKey(any_=[key]) if key else None))


def artifact(flow_run_id: UUID | str, key: str, timeout: float = 30) -> Any:
    found = eventually(lambda: artifacts(flow_run_id, key), bool, timeout,
                       f"artifact {key} of flow run {flow_run_id}")
    assert len(found) == 1, found
    return found[0]


def log_messages(flow_run_id: UUID | str) -> list[str]:
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(
            flow_run_id=LogFilterFlowRunId(any_=[UUID(str(flow_run_id))])), limit=200)
    return [log.message for log in logs]


def wait_log(flow_run_id: UUID | str, fragment: str, timeout: float = 30) -> list[str]:
    return eventually(lambda: log_messages(flow_run_id),
                      lambda messages: any(fragment in m for m in messages), timeout,
                      f"log line with {fragment!r}")
