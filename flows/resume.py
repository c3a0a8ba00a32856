"""`convoy resume`: continue the workspace's latest run without redoing finished work.

Settings given now override the previous run's; the rest comes from its
recorded snapshot. Retry budgets and threshold counts start afresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.batch import BatchResult, execute
from flows.logs import configure_logging
from flows.prepare import PreparedRun, prepare_resume, rebuild_last_run
from flows.settings import RunSettings, SettingsError, load_settings
from flows.workspace import open_for_reading, open_workspace
from policies.redact import MASK
from state.ledger import Ledger, RunRecord
from state.resume import ResumeDecision, plan_resume


class ResumeError(Exception):
    """Nothing to resume, or it cannot be resumed as recorded; one line."""


def resume_settings(snapshot: dict[str, Any], overrides: dict[str, Any]) -> RunSettings:
    """The previous run's settings with today's command-line options on top."""
    masked = [name for name, value in (snapshot.get("headers") or {}).items() if value == MASK]
    if masked and "headers" not in overrides:
        raise ResumeError(f"header {masked[0]} was given literally and not recorded; "
                          f"give it as ${{env:NAME}} or ${{secret:block}} in the job file and run again")
    values = {**snapshot, **{k: v for k, v in overrides.items() if v is not None}}
    return load_settings(None, values)


def latest_run(ledger: Ledger, workspace: Path) -> RunRecord:
    previous = ledger.latest_run()
    if previous is None:
        raise ResumeError(f"no run to resume in {workspace}: start one with `convoy run JOBFILE`")
    return previous


def plan_resume_for(workspace: str | Path) -> list[ResumeDecision]:
    """The resume plan of the latest run (``--dry-run``): changes nothing."""
    workspace = Path(workspace).absolute()
    if not (workspace / ".convoy" / "ledger.db").exists():
        raise ResumeError(f"no run to resume in {workspace}: start one with `convoy run JOBFILE`")
    ledger = open_for_reading(workspace)
    try:
        previous = latest_run(ledger, workspace)
        return plan_resume(ledger.jobs(previous.id), previous.id)
    finally:
        ledger.close()


def start_resume(ledger: Ledger, workspace: Path, overrides: dict[str, Any],
                 rebuild: bool = False) -> tuple[RunSettings, PreparedRun]:
    """Record the resume run (the caller holds the workspace): its settings and its jobs."""
    if rebuild:
        try:
            previous = rebuild_last_run(ledger, lambda s: resume_settings(s, overrides))
        except FileNotFoundError as exc:
            raise ResumeError(f"cannot rebuild: {exc}") from None
    else:
        previous = latest_run(ledger, workspace)
    settings = resume_settings(previous.settings, {**overrides, "workspace": str(workspace)})
    return settings, prepare_resume(settings, ledger, previous)


def resume_batch(workspace: str | Path, overrides: dict[str, Any], rebuild: bool = False,
                 ) -> BatchResult:
    """Python API of `convoy resume`: a new run over the latest one's jobs."""
    workspace = Path(workspace).absolute()
    if not rebuild and not (workspace / ".convoy" / "ledger.db").exists():
        raise ResumeError(f"no run to resume in {workspace}: start one with `convoy run JOBFILE`")
    opened = open_workspace(workspace, refuse_damaged=not rebuild)
    try:
        settings, prepared = start_resume(opened.ledger, workspace, overrides, rebuild)
        configure_logging(settings.log_level, settings.effective_log_dir, settings.log_max_bytes,
                          settings.log_backups, to_stderr=False)
        return execute(settings, opened.ledger, prepared.run_id)
    finally:
        opened.close()


__all__ = ["ResumeError", "plan_resume_for", "resume_batch", "resume_settings", "start_resume",
           "SettingsError"]
