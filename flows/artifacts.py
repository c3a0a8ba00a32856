"""The run as the Prefect UI shows it: its name, live progress, the report and the job table.

The ledger is the record; all of this is a view of it for people watching the
UI. So it is best effort: a Prefect hiccup while publishing is logged and the
run goes on, never failing or slowing because of it.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, cast
from uuid import UUID

from state.ledger import TERMINAL, Ledger
from state.report import Report, render_markdown

log = logging.getLogger("convoy.prefect")

SUMMARY_KEY = "run-summary"  # CONTRACT §8
JOBS_KEY = "run-jobs"
PROGRESS_KEY = "run-progress"
PROGRESS_EVERY = 0.5  # seconds between looks at the ledger
MAX_ROWS = 1000  # a UI page, not a database: `convoy report` has every job


def _flow_run_id() -> UUID | None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return context.flow_run.id if context and context.flow_run else None


def name_flow_run(run_id: str) -> None:
    """Name the flow run after the convoy run, so that the UI and `convoy runs` agree."""
    from prefect.client.orchestration import get_client

    flow_run_id = _flow_run_id()
    if flow_run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id, name=run_id)
    except Exception as exc:
        log.warning("could not name the Prefect flow run %s: %s", run_id, exc)


def percent_done(ledger: Ledger, run_id: str) -> float:
    counts = ledger.status_counts(run_id)
    total = sum(counts.values())
    done = sum(n for status, n in counts.items() if status in TERMINAL)
    return round(100.0 * done / total, 1) if total else 100.0


class LiveProgress:
    """A progress artifact, updated from the ledger while the jobs run.

    A thread of its own reads the ledger (which the jobs write anyway) and
    updates the artifact only when the figure changed, so a quiet run costs
    the server nothing. After a failed update it gives up until the run ends,
    rather than fill the log with the same warning.
    """

    def __init__(self, ledger: Ledger, run_id: str) -> None:
        self.ledger, self.run_id = ledger, run_id
        self._artifact: UUID | None = None
        self._shown: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="convoy-prefect-progress",
                                        daemon=True)

    def __enter__(self) -> LiveProgress:
        from prefect.artifacts import create_progress_artifact

        try:
            self._shown = percent_done(self.ledger, self.run_id)
            self._artifact = cast(UUID, create_progress_artifact(
                progress=self._shown, key=PROGRESS_KEY,
                description=f"convoy run {self.run_id}: share of jobs finished"))
        except Exception as exc:
            log.warning("could not create the Prefect progress artifact: %s", exc)
            return self
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._artifact is None:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._update(None)

    def _loop(self) -> None:
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                while not self._stop.wait(PROGRESS_EVERY):
                    if not self._update(client):
                        return
        except Exception as exc:
            log.warning("stopped updating the Prefect progress artifact: %s", exc)

    def _update(self, client: Any) -> bool:
        """Show the current figure if it changed; False if that failed."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.actions import ArtifactUpdate

        assert self._artifact is not None
        try:
            value = percent_done(self.ledger, self.run_id)
            if value == self._shown:
                return True
            if client is None:
                with get_client(sync_client=True) as own:
                    own.update_artifact(self._artifact, ArtifactUpdate(data=value))
            else:
                client.update_artifact(self._artifact, ArtifactUpdate(data=value))
            self._shown = value
            return True
        except Exception as exc:
            log.warning("could not update the Prefect progress artifact: %s", exc)
            return False


def job_rows(report: Report) -> list[dict[str, Any]]:
    """One row per job, failures first (the report's order), for the table artifact."""
    return [{"input": job.input, "status": job.status, "attempts": job.attempts,
             "error": f"{job.error.category}: {job.error.message}" if job.error else "",
             "output": job.output}
            for job in report.jobs[:MAX_ROWS]]


def summary_markdown(report: Report) -> str:
    """The report in Markdown, as `convoy report --format markdown` prints it.

    A very large run lists its first MAX_ROWS jobs (failures come first) and says
    where the rest are; the totals and error counts always cover every job.
    """
    hidden = len(report.jobs) - MAX_ROWS
    if hidden <= 0:
        return render_markdown(report)
    shown = report.model_copy(update={"jobs": report.jobs[:MAX_ROWS]})
    return (render_markdown(shown) + f"\n… and {hidden} more jobs: "
            f"`convoy report --run {report.run.id}` lists them all.\n")


def publish_report(report: Report) -> None:
    """The report as the `run-summary` Markdown artifact and the jobs as a table artifact."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    described = f"convoy run {report.run.id}: {report.run.status}"
    try:
        create_markdown_artifact(markdown=summary_markdown(report), key=SUMMARY_KEY,
                                 description=described)
    except Exception as exc:
        log.warning("could not publish the run summary to Prefect: %s", exc)
    try:
        create_table_artifact(table=job_rows(report), key=JOBS_KEY,
                              description=f"{described}; the jobs, failures first")
    except Exception as exc:
        log.warning("could not publish the job table to Prefect: %s", exc)
