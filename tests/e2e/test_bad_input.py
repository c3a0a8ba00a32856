"""Bad settings: exit 2, one line on stderr naming the problem, no traceback, no job started."""

import pytest

GOOD = """
[inputs]
paths = ["docs"]
[converter]
argv = ["cp", "{input}", "{output}"]
"""


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("a")
    (tmp_path / "job.toml").write_text(GOOD)
    return tmp_path


def _refused(result, *words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--retries", "-1"], ["retries"]),
        (["--log-level", "loud"], ["log_level", "loud"]),
        (["--fail-after", "remote.auth"], ["fail_after"]),
        (["--fail-after", "remote=zero"], ["fail_after"]),
        (["-i", "nowhere"], ["nowhere", "does not exist"]),
        (["--workers", "0"], ["workers"]),
        (["--no-such-option"], ["no-such-option"]),
    ],
)
def test_bad_options(workspace, convoy_offline, args, words):
    _refused(convoy_offline("run", "job.toml", *args), *words)
    assert not (workspace / "out").exists()


def test_unknown_converter_kind(workspace, convoy_offline):
    (workspace / "job.toml").write_text(GOOD.replace("[converter]", '[converter]\nkind = "teleport"'))
    _refused(convoy_offline("run", "job.toml"), "converter", "teleport")


def test_malformed_toml(workspace, convoy_offline):
    (workspace / "job.toml").write_text("[inputs\npaths = ")
    _refused(convoy_offline("run", "job.toml"), "TOML")


def test_missing_job_file(workspace, convoy_offline):
    _refused(convoy_offline("run", "nope.toml"), "nope.toml")


def test_bad_environment_value(workspace, convoy_offline, monkeypatch):
    import os
    import subprocess

    from tests.e2e.conftest import CONVOY

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVOY_", "PREFECT_"))}
    env["CONVOY_WORKERS"] = "many"
    result = subprocess.run([CONVOY, "run", "job.toml"], cwd=workspace, env=env,
                            capture_output=True, text=True, timeout=60)
    _refused(result, "workers")


def test_report_without_any_run(workspace, convoy_offline):
    _refused(convoy_offline("report"), "no run")


def test_status_without_any_run(workspace, convoy_offline):
    _refused(convoy_offline("status"), "no run")
