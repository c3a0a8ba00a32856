"""Recording a run before it starts: its jobs, what is already done, its run file.

``convoy run`` skips jobs whose key (input content + converter settings) has an
intact output in the ledger; ``convoy resume`` carries the last run's finished
outputs and finalized chunks over. Both decide from the ledger and a stat per
output, so skipping costs no Prefect task run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from flows.converters import build_converter
from flows.plan import converter_fingerprint, plan_jobs
from flows.settings import RunSettings
from state.atomic import TEMP_MARK
from state.files import checksum_of, output_intact
from state.ledger import Ledger, RunRecord
from state.resume import ResumeDecision, plan_resume
from tasks.chunks import read_chunks
from tasks.spec import JobSpec


@dataclass(frozen=True)
class PreparedRun:
    run_id: str
    jobs: list[JobSpec]
    decisions: list[ResumeDecision] | None = None


def remove_stray_temps(output_dir: Path) -> int:
    """Temporary files left by a killed run: never outputs, safe to remove (we hold the lock)."""
    removed = 0
    if not output_dir.is_dir():
        return 0
    for folder, _dirs, files in os.walk(output_dir):
        for name in files:
            if TEMP_MARK in name:
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


def cached_skips(ledger: Ledger, jobs: list[JobSpec]) -> dict[str, dict[str, Any]]:
    """Jobs whose key already has an intact output at the same path: skipped, not run."""
    found = ledger.cached_outputs(j.key for j in jobs)
    carried: dict[str, dict[str, Any]] = {}
    for job in jobs:
        record = found.get(job.key)
        if record is None or record.output != job.output:
            continue
        if not output_intact(record.output, record.size, record.mtime_ns, record.checksum)[0]:
            continue
        produced_by = record.produced_by or record.run_id
        carried[job.id] = dict(status="skipped", output=record.output, checksum=record.checksum,
                               size=record.size, mtime_ns=record.mtime_ns, produced_by=produced_by,
                               skip_reason=f"cached: output of run {produced_by} is intact")
    return carried


def _record(ledger: Ledger, settings: RunSettings, jobs: list[JobSpec],
            carried: dict[str, dict[str, Any]], resumed_from: str | None = None) -> str:
    snapshot = settings.snapshot()
    run_id = ledger.create_run(snapshot, resumed_from=resumed_from)
    ledger.add_jobs(run_id, jobs, carried)
    ledger.write_run_file(run_id, snapshot, jobs)
    return run_id


def prepare_run(settings: RunSettings, ledger: Ledger,
                before_recording: Callable[[], None] | None = None) -> PreparedRun:
    """Plan the jobs and record the run (ledger and run file) before any job starts.

    ``before_recording`` may still refuse the run (by raising) once the inputs are known good.
    """
    build_converter(settings)  # refuse an unusable converter before recording anything
    jobs = plan_jobs(settings)
    if before_recording is not None:
        before_recording()
    carried = {} if settings.force else cached_skips(ledger, jobs)
    remove_stray_temps(settings.output)
    return PreparedRun(_record(ledger, settings, jobs, carried), jobs)


def prepare_resume(settings: RunSettings, ledger: Ledger, previous: RunRecord) -> PreparedRun:
    """A new run over the previous run's jobs: finished ones skipped, partial ones continued."""
    build_converter(settings)
    before = RunSettings.model_construct(**{**previous.settings})
    same_converter = converter_fingerprint(before) == converter_fingerprint(settings)
    records = ledger.jobs(previous.id)
    decisions = plan_resume(records, previous.id, same_converter)
    jobs = [JobSpec(r.job_id, r.input, r.source, r.target, r.key) for r in records]
    carried = {d.job.job_id: c for d in decisions if (c := d.carried()) is not None}
    remove_stray_temps(settings.output)
    return PreparedRun(_record(ledger, settings, jobs, carried, resumed_from=previous.id),
                       jobs, decisions)


def rebuild_last_run(ledger: Ledger, settings_for: Any) -> RunRecord:
    """Rebuild the newest run from ``runs/RUN_ID.json`` and the outputs on disk.

    Outputs on disk are complete (they are only ever renamed into place), so
    each one found is recorded as a success; part files found make a job
    partial. ``settings_for(snapshot)`` turns the recorded settings into RunSettings.
    """
    files = sorted((ledger.convoy_dir / "runs").glob("*.json"))
    if not files:
        raise FileNotFoundError("no run file in .convoy/runs/ to rebuild from")
    document = json.loads(files[-1].read_text())
    settings: RunSettings = settings_for(document["settings"])
    jobs = [JobSpec(**j) for j in document["jobs"]]
    run_id = ledger.create_run(document["settings"])
    carried: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if os.path.isfile(job.output):
            checksum, size = checksum_of(job.output)
            carried[job.id] = dict(status="succeeded", output=job.output, checksum=checksum,
                                   size=size, mtime_ns=os.stat(job.output).st_mtime_ns,
                                   produced_by=run_id)
            continue
        parts = sorted(p.as_posix() for p in Path(job.output).parent.glob(Path(job.output).name + ".part*"))
        if parts and settings.chunk_lines and os.path.isfile(job.source):
            total = len(read_chunks(job.source, settings.chunk_lines))
            carried[job.id] = dict(status="partial", partial_outputs=parts, parts_done=len(parts),
                                   parts_total=total)
        else:
            carried[job.id] = dict(status="interrupted")
    ledger.add_jobs(run_id, jobs, carried)
    ledger.finish_run(run_id, "interrupted", abort_reason=f"rebuilt from runs/{files[-1].name}")
    record = ledger.run(run_id)
    assert record is not None
    return record
