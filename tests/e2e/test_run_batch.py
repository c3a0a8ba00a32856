"""The foundation batch, end to end: `convoy run` on 50 inputs as a user runs it."""

import json
import sys

from state.atomic import TEMP_MARK
from tests.conftest import FAKE_CONVERT

JOB = """
[inputs]
paths = ["docs"]
include = ["*.md"]

[output]
dir = "out"
extension = ".txt"

[converter]
kind = "command"
argv = ["{python}", "{fake}", "{{input}}", "{{output}}"]
retry_exit_codes = [75]

[run]
workers = 4
timeout = 60

[retry]
max_retries = 2
initial_delay = 0.1
jitter = 0.0
"""

REPORT_KEYS = {"run", "totals", "error_counts", "jobs"}
RUN_KEYS = {"id", "status", "resumed_from", "started_at", "ended_at", "abort_reason", "settings"}
TOTAL_KEYS = {"succeeded", "failed", "retries_exhausted", "partial", "skipped", "aborted",
              "interrupted", "pending", "running"}
JOB_KEYS = {"id", "input", "status", "attempts", "retries", "total_attempts", "error", "output",
            "partial_outputs", "parts_done", "parts_total", "skip_reason"}


def _batch(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(50):
        text = f"document {i}"
        if i in (3, 17, 41):
            text += " FAIL"
        if i in (8, 29):
            text += " FLAKY"
        (docs / f"doc{i:02d}.md").write_text(text)
    (docs / "notes.rst").write_text("not included")
    job = tmp_path / "job.toml"
    job.write_text(JOB.format(python=sys.executable, fake=FAKE_CONVERT))
    return job


def test_fifty_inputs_three_failing_two_flaky(tmp_path, convoy):
    job = _batch(tmp_path)
    result = convoy("run", str(job), "--format", "json")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr

    report = json.loads(result.stdout)
    assert set(report) == REPORT_KEYS
    assert set(report["run"]) == RUN_KEYS
    assert report["run"]["status"] == "failed"
    assert report["run"]["resumed_from"] is None and report["run"]["abort_reason"] is None
    assert set(report["totals"]) == TOTAL_KEYS
    assert report["totals"]["succeeded"] == 47 and report["totals"]["failed"] == 3
    assert sum(report["totals"].values()) == 50
    assert report["error_counts"] == {"command.failed": 5}
    assert len(report["jobs"]) == 50
    for entry in report["jobs"]:
        assert set(entry) == JOB_KEYS
        assert set(entry["error"] or {}) <= {"category", "message", "retryable"}

    by_input = {j["input"]: j for j in report["jobs"]}
    failed = [j for j in report["jobs"] if j["status"] == "failed"]
    assert [j["input"] for j in failed] == ["doc03.md", "doc17.md", "doc41.md"]
    assert report["jobs"][:3] == failed  # failures first
    for entry in failed:
        assert entry["attempts"] == 1 and entry["retries"] == 0 and entry["output"] is None
        assert entry["error"]["category"] == "command.failed"
        assert entry["error"]["retryable"] is False
        assert f"cannot convert {entry['input']}" in entry["error"]["message"]
    for name in ("doc08.md", "doc29.md"):
        assert by_input[name]["status"] == "succeeded"
        assert by_input[name]["attempts"] == 2 and by_input[name]["total_attempts"] == 2
        assert by_input[name]["error"] is None

    out = tmp_path / "out"
    for i in range(50):
        target = out / f"doc{i:02d}.txt"
        if i in (3, 17, 41):
            assert not target.exists()
            continue
        expected = f"document {i}" + (" FLAKY" if i in (8, 29) else "")
        assert target.read_text() == expected.upper()
        assert by_input[f"doc{i:02d}.md"]["output"] == str(target)
    assert not [p for p in out.rglob("*") if TEMP_MARK in p.name]
    assert len(list(out.iterdir())) == 47

    # the same report, later, from the ledger alone
    again = convoy("report", "--format", "json")
    assert again.returncode == 0
    assert json.loads(again.stdout) == report


def test_table_summary_lists_failures_first_and_ends_with_totals(tmp_path, convoy):
    job = _batch(tmp_path)
    result = convoy("run", str(job), "--log-level", "none")
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    text = result.stdout
    assert text.index("doc03.md") < text.index("doc00.md")
    assert "command.failed" in text
    assert "succeeded" in lines[-1] and "47" in lines[-1]


def test_status_runs_and_markdown_report(tmp_path, convoy):
    job = _batch(tmp_path)
    convoy("run", str(job), "--log-level", "none")
    status = convoy("status")
    assert status.returncode == 0 and "failed" in status.stdout and "47" in status.stdout
    runs = convoy("runs")
    assert runs.returncode == 0 and "failed" in runs.stdout
    markdown = convoy("report", "--format", "markdown")
    assert markdown.returncode == 0
    assert markdown.stdout.lstrip().startswith("#") and "| doc03.md |" in markdown.stdout


def test_log_file_is_written_and_rotated(tmp_path, convoy):
    job = _batch(tmp_path)
    logs = tmp_path / "logs"
    result = convoy("run", str(job), "--log-level", "verbose", "--log-dir", str(logs),
                    "--log-max-bytes", "2000", "--log-backups", "2")
    assert result.returncode == 1
    files = sorted(p.name for p in logs.iterdir())
    assert files == ["convoy.log", "convoy.log.1", "convoy.log.2"]
    assert all(p.stat().st_size <= 2500 for p in logs.iterdir())


def test_log_level_none_writes_no_log_file_and_only_the_summary(tmp_path, convoy):
    job = _batch(tmp_path)
    result = convoy("run", str(job), "--log-level", "none")
    assert result.returncode == 1
    assert not (tmp_path / ".convoy" / "logs").exists()
    assert result.stderr.strip() == ""
