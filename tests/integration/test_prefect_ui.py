"""What a run shows in the Prefect UI, read back through the API of a real Prefect server.

One batch with every kind of ending (succeeded, failed, retries exhausted) is
run once for the module; each test checks one thing the UI shows about it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from flows.batch import run_batch
from flows.settings import load_settings
from state.report import render_markdown
from tests import prefect_api

pytestmark = pytest.mark.usefixtures("prefect_server")

# exit 75 (retryable) every time for BUSY, 1 for FAIL, sleep for SLOW, else upper-case
CONVERTER = """\
import sys, time
text = open(sys.argv[1]).read()
if "BUSY" in text:
    sys.exit(75)
if "FAIL" in text:
    print("cannot convert this one", file=sys.stderr)
    sys.exit(1)
if "SLOW" in text:
    time.sleep(0.4)
open(sys.argv[2], "w").write(text.upper())
"""


def _settings(root, texts, **extra):
    docs = root / "docs"
    docs.mkdir()
    for name, text in texts.items():
        (docs / name).write_text(text)
    script = root / "conv.py"
    script.write_text(CONVERTER)
    cli = dict(input=[str(docs)], output=str(root / "out"), workspace=str(root),
               command=[sys.executable, str(script), "{input}", "{output}"],
               retry_exit_codes=[75], retries=1, retry_delay=0.05, jitter=0, workers=2,
               log_level="information")
    cli.update(extra)
    return load_settings(None, cli)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, prefect_server):
    root = tmp_path_factory.mktemp("ui")
    settings = _settings(root, {"ok1.md": "one", "ok2.md": "two", "bad.md": "FAIL",
                                "busy.md": "BUSY"})
    result = run_batch(settings)
    return result, result.state.state_details.flow_run_id


def test_the_flow_run_ends_in_the_state_of_the_run_with_its_reason(mixed_run):
    _, flow_run_id = mixed_run
    run = prefect_api.wait_final(flow_run_id, timeout=30)
    assert run.state.type.value == "FAILED"
    assert run.state.message == "2 of 4 jobs did not succeed"


def test_the_flow_run_is_named_after_the_convoy_run(mixed_run):
    result, flow_run_id = mixed_run
    run = prefect_api.eventually(lambda: prefect_api.flow_run(flow_run_id),
                                 lambda r: r.name == result.report.run.id, 30, "flow run name")
    assert [r.id for r in prefect_api.flow_runs_named(result.report.run.id)] == [run.id]


def test_each_job_is_a_task_run_whose_state_names_its_status(mixed_run):
    _, flow_run_id = mixed_run
    states = prefect_api.task_states(flow_run_id, expected=4)
    assert {name: (kind, state) for name, (kind, state, _) in states.items()} == {
        "convert[ok1.md]": ("COMPLETED", "Completed"),
        "convert[ok2.md]": ("COMPLETED", "Completed"),
        "convert[bad.md]": ("FAILED", "Failed"),
        "convert[busy.md]": ("FAILED", "RetriesExhausted"),
    }
    assert states["convert[bad.md]"][2].startswith("command.failed:")
    assert "cannot convert this one" in states["convert[bad.md]"][2]
    assert states["convert[busy.md]"][2].startswith("command.failed:")


def test_the_report_is_the_run_summary_markdown_artifact(mixed_run):
    result, flow_run_id = mixed_run
    summary = prefect_api.artifact(flow_run_id, "run-summary")
    assert summary.type == "markdown"
    assert summary.data == render_markdown(result.report)
    text = summary.data
    assert f"# convoy run {result.report.run.id}: failed" in text
    assert "| succeeded | 2 |" in text and "| failed | 1 |" in text
    assert "| retries_exhausted | 1 |" in text
    assert "| command.failed | 3 |" in text  # bad once, busy twice
    rows = [line for line in text.splitlines() if line.startswith("| ") and ".md |" in line]
    assert [row.split("|")[1].strip() for row in rows] == ["bad.md", "busy.md", "ok1.md", "ok2.md"]


def test_the_jobs_are_a_table_artifact(mixed_run):
    result, flow_run_id = mixed_run
    table = prefect_api.artifact(flow_run_id, "run-jobs")
    assert table.type == "table"
    rows = json.loads(table.data)
    by_input = {row["input"]: row for row in rows}
    assert set(by_input) == {"ok1.md", "ok2.md", "bad.md", "busy.md"}
    assert by_input["busy.md"]["status"] == "retries_exhausted"
    assert by_input["busy.md"]["attempts"] == 2
    assert by_input["busy.md"]["error"].startswith("command.failed")
    assert by_input["ok1.md"]["output"].endswith("ok1.md")
    assert [row["input"] for row in rows][:2] == ["bad.md", "busy.md"]  # failures first


def test_the_progress_artifact_ends_at_one_hundred(mixed_run):
    _, flow_run_id = mixed_run
    progress = prefect_api.artifact(flow_run_id, "run-progress")
    assert progress.type == "progress"
    assert float(progress.data) == 100.0


def test_convoy_log_lines_are_in_the_flow_run_logs(mixed_run):
    result, flow_run_id = mixed_run
    run_id = result.report.run.id
    messages = prefect_api.wait_log(flow_run_id, f"run {run_id} ended failed")
    assert any(f"run {run_id}: 4 jobs to run, 2 workers" in m for m in messages)
    assert any("busy.md: retries_exhausted after 2 attempt(s)" in m for m in messages)


def test_job_successes_go_to_the_log_file_and_problems_also_to_the_flow_run_logs(mixed_run):
    """A success is already the task run's Completed state: one API log line per job is waste."""
    result, flow_run_id = mixed_run
    messages = prefect_api.wait_log(flow_run_id, f"run {result.report.run.id} ended failed")
    assert any("busy.md: attempt 1 failed" in m for m in messages)
    assert not any("ok1.md: succeeded" in m for m in messages)
    log_file = Path(result.report.run.settings["workspace"]) / ".convoy" / "logs" / "convoy.log"
    assert "ok1.md: succeeded (attempt 1)" in log_file.read_text()


def test_the_progress_artifact_moves_while_the_run_goes(tmp_path):
    settings = _settings(tmp_path, {f"slow{i}.md": "SLOW" for i in range(8)}, workers=1)
    before = {a.id for a in prefect_api.artifacts(key="run-progress")}
    seen: list[float] = []
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(run_batch(settings)))
    runner.start()
    deadline = time.monotonic() + 60
    while runner.is_alive() and time.monotonic() < deadline:
        for found in prefect_api.artifacts(key="run-progress"):
            if found.id not in before:
                value = float(found.data)
                if not seen or seen[-1] != value:
                    seen.append(value)
        time.sleep(0.1)
    runner.join(timeout=30)
    assert outcome and outcome[0].report.run.status == "succeeded"
    final = prefect_api.artifact(outcome[0].state.state_details.flow_run_id, "run-progress")
    assert float(final.data) == 100.0
    assert any(0 < value < 100 for value in seen), seen
    assert seen == sorted(seen), seen
