"""The convert-batch flow on a real Prefect test server, with real subprocesses and SQLite."""

import sys
import time

import pytest

from flows.batch import prepare_run, run_batch
from flows.settings import load_settings
from state.ledger import Ledger
from tests.conftest import write_inputs

pytestmark = pytest.mark.usefixtures("prefect_server")


def _inputs(tmp_path, texts):
    return write_inputs(tmp_path / "in", texts)


def _settings(tmp_path, folder, argv, **extra):
    cli = dict(input=[str(folder)], output=str(tmp_path / "out"), workspace=str(tmp_path),
               command=argv, retry_exit_codes=[75], retry_delay=0.05, jitter=0, workers=3,
               log_level="none")
    cli.update(extra)
    return load_settings(None, cli)


def test_one_failing_job_never_stops_the_others(tmp_path, fake_argv):
    texts = {f"ok{i}.md": f"text {i}" for i in range(6)}
    texts.update({"bad.md": "FAIL", "flaky.md": "FLAKY once", "hang.md": "HANG"})
    folder = _inputs(tmp_path, texts)
    settings = _settings(tmp_path, folder, fake_argv, timeout=2, retries=1)
    result = run_batch(settings)

    report = result.report
    assert report.run.status == "failed"
    assert result.state.is_failed()
    status = {j.input: j for j in report.jobs}
    for i in range(6):
        assert status[f"ok{i}.md"].status == "succeeded"
        assert (tmp_path / "out" / f"ok{i}.md").read_text() == f"TEXT {i}"
    assert status["flaky.md"].status == "succeeded" and status["flaky.md"].attempts == 2
    assert status["bad.md"].status == "failed" and status["bad.md"].attempts == 1
    assert status["bad.md"].error.category == "command.failed"
    assert "cannot convert bad.md" in status["bad.md"].error.message
    hang = status["hang.md"]
    assert hang.status == "retries_exhausted" and hang.attempts == 2
    assert hang.error.category == "command.timeout" and hang.error.retryable
    assert report.totals["succeeded"] == 7
    assert report.error_counts == {"command.failed": 2, "command.timeout": 2}


def test_every_attempt_is_in_the_ledger(tmp_path, fake_argv):
    folder = _inputs(tmp_path, {"flaky.md": "FLAKY"})
    result = run_batch(_settings(tmp_path, folder, fake_argv))
    ledger = Ledger.open(tmp_path)
    attempts = ledger.attempts(result.report.run.id)
    assert [(a.number, a.outcome, a.category) for a in attempts] == [
        (1, "retry", "command.failed"), (2, "succeeded", None)]
    assert attempts[0].delay_next == pytest.approx(0.05)


def test_a_batch_that_all_succeeds_completes(tmp_path, fake_argv):
    folder = _inputs(tmp_path, {"a.md": "a", "b.md": "b"})
    result = run_batch(_settings(tmp_path, folder, fake_argv))
    assert result.report.run.status == "succeeded"
    assert result.state.is_completed()
    assert result.report.run.ended_at is not None


def test_task_runs_are_named_after_their_input(tmp_path, fake_argv):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    folder = _inputs(tmp_path, {"a.md": "a", "b.md": "FAIL"})
    result = run_batch(_settings(tmp_path, folder, fake_argv))
    flow_run_id = result.state.state_details.flow_run_id

    import asyncio

    async def names():
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return {r.name: r.state.type.value for r in runs}

    deadline = time.monotonic() + 30
    found = {}
    while time.monotonic() < deadline:
        found = asyncio.run(names())
        if len(found) == 2 and "RUNNING" not in found.values():
            break
        time.sleep(0.5)
    assert found == {"convert[a.md]": "COMPLETED", "convert[b.md]": "FAILED"}


def test_at_most_workers_jobs_run_at_once(tmp_path):
    folder = _inputs(tmp_path, {f"{i}.md": str(i) for i in range(8)})
    log = tmp_path / "spans.txt"
    script = (
        "import sys, time\n"
        f"open({str(log)!r}, 'a').write(f'start {{time.time()}}\\n')\n"
        "time.sleep(0.3)\n"
        f"open({str(log)!r}, 'a').write(f'end {{time.time()}}\\n')\n"
        "open(sys.argv[1], 'w').write('x')\n"
    )
    argv = [sys.executable, "-c", script, "{output}"]
    result = run_batch(_settings(tmp_path, folder, argv, workers=2))
    assert result.report.totals["succeeded"] == 8
    events = sorted((float(t), kind) for kind, t in (line.split() for line in log.read_text().splitlines()))
    running = peak = 0
    for _, kind in events:
        running += 1 if kind == "start" else -1
        peak = max(peak, running)
    assert peak == 2


def test_python_converter_and_its_own_error_categories(tmp_path):
    folder = _inputs(tmp_path, {"a.md": "hello", "quota.md": "QUOTA", "boom.md": "BOOM"})
    (tmp_path / "myconv.py").write_text(
        "from policies.categories import JobError\n"
        "def convert(source, output):\n"
        "    text = source.read_text()\n"
        "    if 'QUOTA' in text:\n"
        "        raise JobError('daily quota used up', category='api.quota', retryable=False)\n"
        "    if 'BOOM' in text:\n"
        "        raise ValueError('cannot parse')\n"
        "    return text[::-1]\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        settings = load_settings(None, dict(input=[str(folder)], output=str(tmp_path / "out"),
                                            workspace=str(tmp_path), python_callable="myconv:convert",
                                            log_level="none"))
        report = run_batch(settings).report
    finally:
        sys.path.remove(str(tmp_path))
    status = {j.input: j for j in report.jobs}
    assert status["a.md"].status == "succeeded"
    assert (tmp_path / "out" / "a.md").read_text() == "olleh"
    assert status["quota.md"].error.category == "api.quota" and status["quota.md"].status == "failed"
    assert status["boom.md"].error.category == "python.failed"
    assert "ValueError: cannot parse" in status["boom.md"].error.message


def test_run_file_is_written_before_the_first_job_starts(tmp_path, fake_argv):
    folder = _inputs(tmp_path, {"a.md": "a"})
    settings = _settings(tmp_path, folder, fake_argv)
    ledger = Ledger.open(tmp_path)
    prepared = prepare_run(settings, ledger)
    run_file = tmp_path / ".convoy" / "runs" / f"{prepared.run_id}.json"
    assert run_file.exists()
    assert ledger.status_counts(prepared.run_id) == {"pending": 1}
    assert not (tmp_path / "out" / "a.md").exists()
