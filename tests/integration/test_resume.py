"""Resume and the run cache through the Python API, on a real Prefect server and SQLite."""

import asyncio
import os
import time

import pytest

from flows.batch import run_batch
from flows.resume import ResumeError, plan_resume_for, resume_batch
from flows.settings import load_settings
from state.ledger import Ledger
from tests.conftest import write_inputs

pytestmark = pytest.mark.usefixtures("prefect_server")


def _inputs(tmp_path, texts):
    return write_inputs(tmp_path / "in", texts)


def _cmd_settings(tmp_path, fake_argv, **extra):
    cli = dict(input=[str(tmp_path / "in")], output=str(tmp_path / "out"), workspace=str(tmp_path),
               command=fake_argv, retry_exit_codes=[75], retries=0, retry_delay=0.05, jitter=0,
               workers=3, log_level="none")
    cli.update(extra)
    return load_settings(None, cli)


def _http_settings(tmp_path, server, **extra):
    cli = dict(input=[str(tmp_path / "in")], output=str(tmp_path / "out"), workspace=str(tmp_path),
               url=server.url, retries=0, retry_delay=0.05, jitter=0, workers=1, timeout=5,
               log_level="none")
    cli.update(extra)
    return load_settings(None, cli)


def _starts(journal):
    if not journal.exists():
        return []
    return [line.split()[1] for line in journal.read_text().splitlines() if line.startswith("start")]


@pytest.fixture
def journal(tmp_path, monkeypatch):
    path = tmp_path / "journal.txt"
    monkeypatch.setenv("FAKE_LOG", str(path))
    return path


def test_resume_skips_what_succeeded_and_reruns_the_rest(tmp_path, fake_argv, journal):
    _inputs(tmp_path, {"a.md": "a", "b.md": "b", "bad.md": "FAIL"})
    first = run_batch(_cmd_settings(tmp_path, fake_argv)).report
    assert first.totals["failed"] == 1
    (tmp_path / "in" / "bad.md").write_text("fixed")

    result = resume_batch(tmp_path, {})
    report = result.report
    assert report.run.resumed_from == first.run.id
    assert report.run.status == "succeeded" and result.state.is_completed()
    jobs = {j.input: j for j in report.jobs}
    assert len(report.jobs) == 3
    assert jobs["a.md"].status == jobs["b.md"].status == "skipped"
    assert first.run.id in jobs["a.md"].skip_reason
    assert jobs["a.md"].output == str(tmp_path / "out" / "a.md")
    assert jobs["a.md"].attempts == 0 and jobs["a.md"].total_attempts == 1
    assert jobs["bad.md"].status == "succeeded" and jobs["bad.md"].total_attempts == 2
    assert (tmp_path / "out" / "bad.md").read_text() == "FIXED"
    assert sorted(_starts(journal)) == ["a.md", "b.md", "bad.md", "bad.md"]


def test_a_deleted_or_changed_output_is_made_again(tmp_path, fake_argv, journal):
    _inputs(tmp_path, {"a.md": "a", "b.md": "b", "c.md": "c"})
    run_batch(_cmd_settings(tmp_path, fake_argv))
    os.unlink(tmp_path / "out" / "a.md")
    (tmp_path / "out" / "b.md").write_text("tampered")
    plan = {d.input: d for d in plan_resume_for(tmp_path)}
    assert plan["a.md"].action == "run" and "missing" in plan["a.md"].reason
    assert plan["b.md"].action == "run" and "changed" in plan["b.md"].reason
    assert plan["c.md"].action == "skip"
    report = resume_batch(tmp_path, {}).report
    assert (tmp_path / "out" / "a.md").read_text() == "A"
    assert (tmp_path / "out" / "b.md").read_text() == "B"
    assert {j.input: j.status for j in report.jobs} == {
        "a.md": "succeeded", "b.md": "succeeded", "c.md": "skipped"}


def test_dry_run_plan_changes_nothing(tmp_path, fake_argv, journal):
    _inputs(tmp_path, {"a.md": "a", "bad.md": "FAIL"})
    run_batch(_cmd_settings(tmp_path, fake_argv))
    ledger = Ledger.open(tmp_path)
    before = [r.id for r in ledger.runs()]
    plan = {d.input: d for d in plan_resume_for(tmp_path)}
    assert plan["a.md"].action == "skip" and plan["bad.md"].action == "run"
    assert "failed" in plan["bad.md"].reason and "command.failed" in plan["bad.md"].reason
    assert [r.id for r in ledger.runs()] == before


def test_raising_and_lowering_retries_between_run_and_resume(tmp_path, fault_server):
    _inputs(tmp_path, {"a.txt": "STATUS=503x3"})
    first = run_batch(_http_settings(tmp_path, fault_server, retries=1)).report
    assert first.jobs[0].status == "retries_exhausted" and len(fault_server.requests) == 2

    lowered = resume_batch(tmp_path, {"retries": 0}).report
    assert lowered.jobs[0].status == "retries_exhausted" and lowered.jobs[0].attempts == 1
    assert len(fault_server.requests) == 3
    assert lowered.run.settings["retries"] == 0

    raised = resume_batch(tmp_path, {"retries": 5}).report
    job = raised.jobs[0]
    assert job.status == "succeeded" and job.attempts == 1 and job.total_attempts == 4
    assert len(fault_server.requests) == 4
    assert raised.run.settings["retries"] == 5


def test_threshold_counts_start_fresh_on_resume_and_limits_can_change(tmp_path, fault_server):
    _inputs(tmp_path, {"1.txt": "STATUS=503x1", "2.txt": "STATUS=503x1", "3.txt": "STATUS=503x1"})
    first = run_batch(_http_settings(tmp_path, fault_server, fail_after=["remote.unavailable=2"])).report
    assert first.run.status == "aborted"
    assert sorted(j.status for j in first.jobs) == ["aborted", "retries_exhausted", "retries_exhausted"]
    never_started = next(j.input for j in first.jobs if j.status == "aborted")

    second = resume_batch(tmp_path, {}).report  # same limit of 2, counted from zero
    statuses = {j.input: j.status for j in second.jobs}
    assert statuses.pop(never_started) == "retries_exhausted"  # its first request: 503
    assert set(statuses.values()) == {"succeeded"}  # their second request succeeds
    assert second.run.status == "failed" and second.error_counts == {"remote.unavailable": 1}

    third = resume_batch(tmp_path, {"fail_after": ["remote.unavailable=1"], "retries": 3}).report
    assert third.run.status == "succeeded"
    statuses = {j.input: j.status for j in third.jobs}
    assert statuses.pop(never_started) == "succeeded"
    assert set(statuses.values()) == {"skipped"}


def test_a_partial_job_resumes_from_its_first_missing_chunk(tmp_path, fault_server):
    lines = "".join(f"line {i}{' STATUS=503x2' if i == 4 else ''}\n" for i in range(1, 6))
    _inputs(tmp_path, {"a.txt": lines})
    first = run_batch(_http_settings(tmp_path, fault_server, chunk_lines=1, retries=1)).report
    assert first.jobs[0].status == "partial" and first.jobs[0].parts_done == 3
    assert [r.part for r in fault_server.requests] == ["1", "2", "3", "4", "4"]

    plan = plan_resume_for(tmp_path)
    assert plan[0].action == "continue" and "chunk 4 of 5" in plan[0].reason

    report = resume_batch(tmp_path, {}).report
    assert report.jobs[0].status == "succeeded"
    assert [r.part for r in fault_server.requests][5:] == ["4", "5"]
    assert (tmp_path / "out" / "a.txt").read_text() == lines.upper()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]


def test_resuming_a_finished_run_creates_no_task_runs(tmp_path, fake_argv):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _inputs(tmp_path, {f"{i}.md": str(i) for i in range(5)})
    run_batch(_cmd_settings(tmp_path, fake_argv))
    result = resume_batch(tmp_path, {})
    assert result.report.totals["skipped"] == 5
    flow_run_id = result.state.state_details.flow_run_id

    async def count():
        async with get_client() as client:
            return len(await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))))

    time.sleep(1)
    assert asyncio.run(count()) == 0


def test_run_again_skips_cached_results_unless_input_changed_or_forced(tmp_path, fake_argv, journal):
    _inputs(tmp_path, {"a.md": "a", "b.md": "b"})
    run_batch(_cmd_settings(tmp_path, fake_argv))
    again = run_batch(_cmd_settings(tmp_path, fake_argv)).report
    assert again.totals["skipped"] == 2 and again.run.status == "succeeded"
    assert all("cached" in j.skip_reason for j in again.jobs)
    assert sorted(_starts(journal)) == ["a.md", "b.md"]

    (tmp_path / "in" / "a.md").write_text("changed")
    changed = {j.input: j.status for j in run_batch(_cmd_settings(tmp_path, fake_argv)).report.jobs}
    assert changed == {"a.md": "succeeded", "b.md": "skipped"}
    assert (tmp_path / "out" / "a.md").read_text() == "CHANGED"

    forced = run_batch(_cmd_settings(tmp_path, fake_argv, force=True)).report
    assert forced.totals["succeeded"] == 2
    assert sorted(_starts(journal)) == ["a.md", "a.md", "a.md", "b.md", "b.md"]


def test_resume_without_an_earlier_run_is_refused(tmp_path):
    with pytest.raises(ResumeError, match="no run"):
        resume_batch(tmp_path, {})
