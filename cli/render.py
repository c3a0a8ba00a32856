"""Reports for people: the summary table, the status screen, the runs list."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from state.ledger import RunRecord
from state.report import Report

_STYLE = {"succeeded": "green", "skipped": "cyan", "failed": "red", "retries_exhausted": "red",
          "partial": "yellow", "aborted": "yellow", "interrupted": "yellow"}


def _totals_line(report: Report) -> str:
    parts = [f"{count} {status}" for status, count in report.totals.items() if count]
    return f"run {report.run.id} {report.run.status}: " + ", ".join(parts or ["no jobs"])


def print_table(report: Report, console: Console) -> None:
    """Every job, failures first, then one line of totals."""
    table = Table(show_edge=False, pad_edge=False)
    for name in ("input", "status", "attempts", "error", "output"):
        table.add_column(name, overflow="fold")
    for job in report.jobs:
        error = f"{job.error.category}: {job.error.message}" if job.error else ""
        style = _STYLE.get(job.status, "")
        table.add_row(job.input, f"[{style}]{job.status}[/]" if style else job.status,
                      str(job.attempts), error, job.output or "")
    console.print(table)
    if report.run.abort_reason:
        console.print(f"stopped: {report.run.abort_reason}", markup=False)
    if report.error_counts:
        console.print("errors: " + ", ".join(f"{c} {n}" for c, n in report.error_counts.items()),
                      markup=False)
    console.print(_totals_line(report), markup=False, highlight=False)


def print_status(report: Report, console: Console) -> None:
    """One screen: the run, its totals, its errors and at most ten failing jobs."""
    run = report.run
    console.print(f"run {run.id}  {run.status}  started {run.started_at}  ended {run.ended_at or '-'}",
                  markup=False, highlight=False)
    if run.abort_reason:
        console.print(f"  why: {run.abort_reason}", markup=False, highlight=False)
    for status, count in report.totals.items():
        if count:
            console.print(f"  {status:<18} {count}", markup=False, highlight=False)
    if report.error_counts:
        console.print("errors: " + ", ".join(f"{c} {n}" for c, n in report.error_counts.items()),
                      markup=False)
    failures = report.failures
    for job in failures[:10]:
        error = f" {job.error.category}: {job.error.message}" if job.error else ""
        console.print(f"  {job.status:<18} {job.input}{error}", markup=False, highlight=False)
    if len(failures) > 10:
        console.print(f"  … and {len(failures) - 10} more (convoy report)", markup=False)


def print_runs(runs: list[tuple[RunRecord, dict[str, int]]], console: Console) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for name in ("run", "status", "started", "ended", "jobs", "succeeded", "not succeeded"):
        table.add_column(name)
    for run, counts in runs:
        total = sum(counts.values())
        good = counts.get("succeeded", 0) + counts.get("skipped", 0)
        table.add_row(run.id, run.status, run.started_at, run.ended_at or "-", str(total),
                      str(good), str(total - good))
    console.print(table)


def print_plan(decisions: list, console: Console) -> None:
    """The resume plan: what would be skipped, run or continued, and why."""
    table = Table(show_edge=False, pad_edge=False)
    for name in ("action", "input", "reason"):
        table.add_column(name, overflow="fold")
    order = {"run": 0, "continue": 1, "skip": 2}
    for decision in sorted(decisions, key=lambda d: (order[d.action], d.input)):
        table.add_row(decision.action, decision.input, decision.reason)
    console.print(table)
    counts = {a: sum(1 for d in decisions if d.action == a) for a in ("skip", "run", "continue")}
    console.print(f"resume would skip {counts['skip']}, run {counts['run']} and continue "
                  f"{counts['continue']} job(s); nothing was changed", markup=False, highlight=False)
