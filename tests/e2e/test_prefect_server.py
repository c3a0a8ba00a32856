"""`convoy run` against the Prefect server PREFECT_API_URL names, a dead one, and none at all."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time

import pytest

from state.ledger import Ledger
from tests import prefect_api
from tests.conftest import fake_job_toml
from tests.e2e.conftest import CONVOY


@pytest.fixture
def job(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("alpha")
    (tmp_path / "docs" / "b.md").write_text("beta")
    path = tmp_path / "job.toml"
    path.write_text(fake_job_toml())
    return path


def test_a_run_shows_up_on_the_server_prefect_api_url_names(job, convoy, tmp_path):
    result = convoy("run", "job.toml", "--format", "json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["run"]["id"]
    (flow_run,) = prefect_api.eventually(lambda: prefect_api.flow_runs_named(run_id), bool, 30,
                                         f"flow run {run_id}")
    assert flow_run.state.type.value == "COMPLETED"
    assert flow_run.state.message == "2 jobs succeeded"
    summary = prefect_api.artifact(flow_run.id, "run-summary")
    assert f"# convoy run {run_id}: succeeded" in summary.data
    states = prefect_api.task_states(flow_run.id, expected=2)
    assert set(states) == {"convert[a.md]", "convert[b.md]"}


@contextlib.contextmanager
def _silent_server():
    """Accepts connections and never answers: a server that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    finally:
        listener.close()


@contextlib.contextmanager
def _refusing_server():
    yield "http://127.0.0.1:9/api"  # nothing listens on the discard port


@pytest.mark.parametrize("server", [_refusing_server, _silent_server], ids=["refused", "silent"])
def test_an_unreachable_server_is_one_line_and_exit_2(job, convoy, tmp_path, server):
    with server() as url:
        started = time.monotonic()
        result = convoy("run", "job.toml", timeout=30, PREFECT_API_URL=url)
        elapsed = time.monotonic() - started
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert url in lines[0] and "Prefect" in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert elapsed < 30
    assert Ledger.open(tmp_path).runs() == []  # nothing was started or recorded
    assert not (tmp_path / "out").exists()


def test_without_prefect_api_url_prefect_runs_its_own_server(job, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVOY_", "PREFECT_"))}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    result = subprocess.run([CONVOY, "run", "job.toml", "--format", "json"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["run"]["status"] == "succeeded"
    assert (tmp_path / "out" / "a.md").read_text() == "ALPHA"
