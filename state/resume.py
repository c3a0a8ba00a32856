"""The resume plan: for every job of the last run, skip, run again, or continue its chunks.

Decided from the ledger and a stat per output, never by creating Prefect task
runs, so skipping 10,000 finished jobs costs milliseconds, not minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from state.files import checksum_of, output_intact
from state.ledger import JobRecord

Action = Literal["skip", "run", "continue"]


@dataclass(frozen=True)
class ResumeDecision:
    job: JobRecord
    action: Action
    reason: str

    @property
    def input(self) -> str:
        return self.job.input

    def carried(self) -> dict[str, Any] | None:
        """What the job brings into the new run: its output when skipped, its parts when continued."""
        job = self.job
        if self.action == "skip":
            return dict(status="skipped", output=job.output, checksum=job.checksum, size=job.size,
                        mtime_ns=job.mtime_ns, produced_by=job.produced_by,
                        skip_reason=self.reason, parts_done=job.parts_done,
                        parts_total=job.parts_total, partial_outputs=[])
        if self.action == "continue":
            parts = [p for p in job.partial_outputs if os.path.isfile(p)]
            return dict(partial_outputs=parts, parts_done=len(parts), parts_total=job.parts_total)
        return None


def _adoptable(job: JobRecord) -> bool:
    """A complete output renamed into place just before a crash cut off its recording."""
    if not job.intent_path or not job.intent_checksum or not os.path.isfile(job.intent_path):
        return False
    try:
        return checksum_of(job.intent_path)[0] == job.intent_checksum
    except OSError:
        return False


def decide(job: JobRecord, run_id: str, same_converter: bool = True) -> ResumeDecision:
    if job.status in ("succeeded", "skipped"):
        intact, why = output_intact(job.output, job.size, job.mtime_ns, job.checksum)
        if intact:
            return ResumeDecision(job, "skip", f"output of run {job.produced_by or run_id} is intact")
        return ResumeDecision(job, "run", f"was {job.status}, but {why}")
    if _adoptable(job):
        assert job.intent_path and job.intent_checksum
        stat = os.stat(job.intent_path)
        adopted = JobRecord(**{**job.__dict__, "output": job.intent_path,
                               "checksum": job.intent_checksum, "size": stat.st_size,
                               "mtime_ns": stat.st_mtime_ns, "produced_by": run_id})
        return ResumeDecision(adopted, "skip",
                              f"adopted the complete output that run {run_id} wrote before it stopped")
    parts = [p for p in job.partial_outputs if os.path.isfile(p)]
    if parts and job.parts_total and same_converter:
        return ResumeDecision(job, "continue", f"continue from chunk {len(parts) + 1} of "
                                               f"{job.parts_total} ({len(parts)} kept)")
    why = f"was {job.status}"
    if job.error_category:
        why += f" ({job.error_category})"
    return ResumeDecision(job, "run", why)


def plan_resume(jobs: list[JobRecord], run_id: str, same_converter: bool = True) -> list[ResumeDecision]:
    return [decide(job, run_id, same_converter) for job in jobs]
