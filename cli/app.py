"""The `convoy` command: run, status, report, runs.

Prefect is imported only once the settings and inputs are known to be good, so
a bad option is refused in a fraction of a second, with one line and exit 2.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console

from flows.plan import PlanError
from flows.server import ServerUnreachable, require_reachable_server
from flows.settings import SettingsError, load_settings
from state.ledger import Ledger, LedgerError
from state.lock import WorkspaceBusy

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ABORTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
RUN_EXIT = {"succeeded": EXIT_OK, "failed": EXIT_FAILED, "aborted": EXIT_ABORTED,
            "interrupted": EXIT_INTERRUPTED}

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run a batch of independent conversion jobs that survives the real world.")
# piped output is read by scripts and people alike: do not fold it at 80 columns
stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True)


class UsageProblem(Exception):
    """Refuse the command: one line, exit 2."""


def _quiet_prefect(level: str) -> None:
    """Prefect's own console chatter is not convoy's output; keep it for debugging only."""
    if level not in ("debug", "verbose"):
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _workspace(workspace: Optional[Path]) -> Path:
    return (workspace or Path(os.environ.get("CONVOY_WORKSPACE", "."))).absolute()


def _open_ledger(workspace: Path) -> Ledger:
    from flows.workspace import open_for_reading

    return open_for_reading(workspace)


@app.command()
def run(
    jobfile: Optional[Path] = typer.Argument(None, help="TOML job file", show_default=False),
    input: Optional[list[str]] = typer.Option(None, "-i", "--input", help="file, directory or glob (repeatable)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="output directory [out]"),
    ext: Optional[str] = typer.Option(None, "--ext", help="extension of the output files"),
    command: Optional[str] = typer.Option(None, "--command", help="local converter: ARGV TEMPLATE, no shell"),
    url: Optional[str] = typer.Option(None, "--url", help="remote converter: POST each input to URL"),
    chunk_lines: Optional[int] = typer.Option(None, "--chunk-lines", help="send the input in chunks of N lines"),
    workers: Optional[int] = typer.Option(None, "--workers", help="jobs in flight at once [CPU count]"),
    retries: Optional[int] = typer.Option(None, "--retries", help="retries per job after its first attempt [3]"),
    retry_delay: Optional[float] = typer.Option(None, "--retry-delay", help="first backoff delay, seconds [1]"),
    backoff_factor: Optional[float] = typer.Option(None, "--backoff-factor", help="backoff growth [2]"),
    max_delay: Optional[float] = typer.Option(None, "--max-delay", help="longest backoff delay [60]"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="limit for one attempt, seconds [300]"),
    fail_after: Optional[list[str]] = typer.Option(None, "--fail-after", help="CATEGORY=N (repeatable)"),
    on_threshold: Optional[str] = typer.Option(None, "--on-threshold", help="abort | drain [abort]"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="where run state lives [.]"),
    log_level: Optional[str] = typer.Option(None, "--log-level", help="none|error|warning|information|debug|verbose"),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="log folder [.convoy/logs]"),
    log_max_bytes: Optional[int] = typer.Option(None, "--log-max-bytes", help="rotate the log at N bytes"),
    log_backups: Optional[int] = typer.Option(None, "--log-backups", help="old log files kept [5]"),
    grace_period: Optional[float] = typer.Option(None, "--grace-period",
                                                 help="seconds jobs in flight get after Ctrl-C [10]"),
    format: Optional[str] = typer.Option(None, "--format", help="final summary: table | json"),
    force: Optional[bool] = typer.Option(None, "--force", help="convert everything again"),
) -> None:
    """Start a new run."""
    cli = dict(input=input or None, output=output, ext=ext, command=command, url=url,
               chunk_lines=chunk_lines, workers=workers, retries=retries, retry_delay=retry_delay,
               backoff_factor=backoff_factor, max_delay=max_delay, timeout=timeout,
               fail_after=fail_after or None, on_threshold=on_threshold, workspace=workspace,
               log_level=log_level, log_dir=log_dir, log_max_bytes=log_max_bytes,
               log_backups=log_backups, grace_period=grace_period, format=format, force=force)
    settings = load_settings(jobfile, cli)

    from flows.logs import configure_logging
    from flows.prepare import prepare_run
    from flows.workspace import open_workspace

    configure_logging(settings.log_level, settings.effective_log_dir, settings.log_max_bytes,
                      settings.log_backups)
    workspace_ = open_workspace(settings.workspace)
    try:
        prepared = prepare_run(settings, workspace_.ledger,
                               before_recording=require_reachable_server)
        if not prepared.jobs:
            workspace_.ledger.finish_run(prepared.run_id, "succeeded")
            raise UsageProblem("the inputs hold no file to convert")
        code = _execute(settings, workspace_.ledger, prepared.run_id, len(prepared.jobs))
    finally:
        workspace_.close()
    raise typer.Exit(code)


@app.command()
def resume(
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan, change nothing"),
    rebuild: bool = typer.Option(False, "--rebuild", help="rebuild the last run from .convoy/runs/ and the outputs"),
    url: Optional[str] = typer.Option(None, "--url", help="remote converter URL"),
    workers: Optional[int] = typer.Option(None, "--workers", help="jobs in flight at once"),
    retries: Optional[int] = typer.Option(None, "--retries", help="retries per job in this resume"),
    retry_delay: Optional[float] = typer.Option(None, "--retry-delay", help="first backoff delay, seconds"),
    backoff_factor: Optional[float] = typer.Option(None, "--backoff-factor", help="backoff growth"),
    max_delay: Optional[float] = typer.Option(None, "--max-delay", help="longest backoff delay"),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="limit for one attempt, seconds"),
    fail_after: Optional[list[str]] = typer.Option(None, "--fail-after", help="CATEGORY=N (repeatable)"),
    on_threshold: Optional[str] = typer.Option(None, "--on-threshold", help="abort | drain"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="where run state lives [.]"),
    log_level: Optional[str] = typer.Option(None, "--log-level", help="none|error|warning|information|debug|verbose"),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="log folder"),
    log_max_bytes: Optional[int] = typer.Option(None, "--log-max-bytes", help="rotate the log at N bytes"),
    log_backups: Optional[int] = typer.Option(None, "--log-backups", help="old log files kept"),
    grace_period: Optional[float] = typer.Option(None, "--grace-period",
                                                 help="seconds jobs in flight get after Ctrl-C"),
    format: Optional[str] = typer.Option(None, "--format", help="final summary: table | json"),
) -> None:
    """Rerun the latest run: skip what finished, continue everything else."""
    from flows.logs import configure_logging
    from flows.resume import ResumeError, plan_resume_for, start_resume
    from flows.workspace import open_workspace

    where = _workspace(workspace)
    overrides = dict(url=url, workers=workers, retries=retries, retry_delay=retry_delay,
                     backoff_factor=backoff_factor, max_delay=max_delay, timeout=timeout,
                     fail_after=fail_after or None, on_threshold=on_threshold,
                     log_level=log_level, log_dir=log_dir, log_max_bytes=log_max_bytes,
                     log_backups=log_backups, grace_period=grace_period, format=format)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        if dry_run:
            from cli.render import print_plan

            print_plan(plan_resume_for(where), stdout)
            return
        if not rebuild and not (where / ".convoy" / "ledger.db").exists():
            raise UsageProblem(f"no run to resume in {where}: start one with `convoy run JOBFILE`")
        require_reachable_server()
        opened = open_workspace(where, refuse_damaged=not rebuild)
        try:
            settings, prepared = start_resume(opened.ledger, where, overrides, rebuild)
            configure_logging(settings.log_level, settings.effective_log_dir,
                              settings.log_max_bytes, settings.log_backups)
            code = _execute(settings, opened.ledger, prepared.run_id, len(prepared.jobs))
        finally:
            opened.close()
    except ResumeError as exc:
        raise UsageProblem(str(exc)) from None
    raise typer.Exit(code)


def _execute(settings: Any, ledger: Ledger, run_id: str, total: int) -> int:
    from cli.progress import Progress
    from flows.batch import execute

    if sys.stderr.isatty() and settings.log_level != "none":
        with Progress(ledger, run_id, total, stderr):
            result = execute(settings, ledger, run_id)
    else:
        result = execute(settings, ledger, run_id)
    _print_report(result.report, settings.format)
    return RUN_EXIT.get(result.report.run.status, EXIT_FAILED)


def _print_report(report: Any, fmt: str) -> None:
    from cli.render import print_table
    from state.report import render_markdown

    if fmt == "json":
        print(report.model_dump_json(indent=2))
    elif fmt == "markdown":
        print(render_markdown(report), end="")
    else:
        print_table(report, stdout)


@app.command()
def status(
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="where run state lives [.]"),
) -> None:
    """One-screen summary of the latest run."""
    from cli.render import print_status
    from state.report import build_report

    ledger = _open_ledger(_workspace(workspace))
    latest = ledger.latest_run()
    if latest is None:
        raise UsageProblem(f"no run in {_workspace(workspace)}: start one with `convoy run JOBFILE`")
    print_status(build_report(ledger, latest.id), stdout)


@app.command()
def report(
    run_id: Optional[str] = typer.Option(None, "--run", help="run id [latest]"),
    format: str = typer.Option("table", "--format", help="table | json | markdown"),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="where run state lives [.]"),
) -> None:
    """The report of a run (the latest by default)."""
    from state.report import build_report

    if format not in ("table", "json", "markdown"):
        raise UsageProblem(f"invalid setting format: expected table, json or markdown (got {format!r})")
    ledger = _open_ledger(_workspace(workspace))
    chosen = ledger.run(run_id) if run_id else ledger.latest_run()
    if chosen is None:
        raise UsageProblem(f"no run {run_id} in this workspace" if run_id else
                           f"no run in {_workspace(workspace)}: start one with `convoy run JOBFILE`")
    _print_report(build_report(ledger, chosen.id), format)


@app.command()
def runs(
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="where run state lives [.]"),
) -> None:
    """The runs of the workspace, newest first."""
    from cli.render import print_runs

    ledger = _open_ledger(_workspace(workspace))
    print_runs([(r, ledger.status_counts(r.id)) for r in ledger.runs()], stdout)


def _refuse(message: str) -> NoReturn:
    print(f"convoy: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _requested_log_level(args: list[str]) -> str:
    """The log level asked for, read before Prefect is imported (it logs at import)."""
    for i, arg in enumerate(args):
        if arg == "--log-level" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--log-level="):
            return arg.split("=", 1)[1]
    return os.environ.get("CONVOY_LOG_LEVEL", "information")


def _log_internal_error() -> None:
    """The traceback of a bug goes to the log file, never to the terminal."""
    logger = logging.getLogger("convoy")
    logger.propagate = False
    if not logger.handlers:
        try:
            folder = _workspace(None) / ".convoy" / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            logger.addHandler(logging.FileHandler(folder / "convoy.log"))
        except OSError:
            logger.addHandler(logging.NullHandler())
    logger.critical("internal error", exc_info=True)


def main() -> None:
    """Entry point: every expected problem is one line; a bug's traceback goes to the log."""
    _quiet_prefect(_requested_log_level(sys.argv[1:]))
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="convoy", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except (SettingsError, PlanError, LedgerError, UsageProblem, WorkspaceBusy,
            ServerUnreachable) as exc:
        _refuse(str(exc))
    except KeyboardInterrupt:
        print("convoy: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        from flows.logs import LogSetupError

        if isinstance(exc, LogSetupError):
            _refuse(str(exc))
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # click's usage errors
            _refuse(exc.format_message().replace("\n", " "))
        _log_internal_error()
        first_line = (str(exc).splitlines() or [""])[0]
        print(f"convoy: internal error: {type(exc).__name__}: {first_line} (details in the log file)",
              file=sys.stderr)
        sys.exit(EXIT_FAILED)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
