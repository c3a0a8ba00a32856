"""The Python API: run one batch, get its report.

    from flows.api import run

    report = run("examples/convert.toml")    # or a RunSettings from flows.settings.load_settings
    print(report.run.status, report.totals)

``run`` returns the report whatever the outcome: a failed, aborted or
interrupted run is a report with that status, not an exception, exactly as
`convoy report` would show it. What stops a run before any job starts raises
an exception with a one-line message: ``SettingsError`` (bad settings or job
file), ``PlanError`` (missing inputs, colliding outputs), ``ServerUnreachable``
(PREFECT_API_URL names a server that does not answer).

The `convert-batch` flow itself (``flows.batch.convert_batch``) is what
deployments run; called from Python it returns the run's Prefect state.
"""

from __future__ import annotations

from pathlib import Path

from flows.batch import run_batch
from flows.parameters import resolve_settings
from flows.server import require_reachable_server
from flows.settings import RunSettings
from state.report import Report


def run(settings: RunSettings | str | Path) -> Report:
    """Run the batch a job file (or settings object) describes and return its report."""
    resolved = resolve_settings(settings)
    require_reachable_server()
    return run_batch(resolved).report
