"""`python deployments/serve.py JOBFILE --cron ...`: the flow served by flow.serve, run once."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from tests import prefect_api
from tests.conftest import fake_job_toml
from tests.integration.prefect_processes import REPO, background, prefect_env

SERVE = str(REPO / "deployments" / "serve.py")



def _job(folder):
    (folder / "docs").mkdir()
    (folder / "docs" / "a.md").write_text("served")
    (folder / "docs" / "b.md").write_text("twice")
    job = folder / "job.toml"
    job.write_text(fake_job_toml())
    return job


def _a_cron_far_from_now() -> str:
    """Twelve hours away: the schedule exists but never fires while the test runs."""
    later = datetime.now(UTC) + timedelta(hours=12)  # served crons are UTC
    return f"{later.minute} {later.hour} * * *"


def _deployment(name):
    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(f"convert-batch/{name}")
        except ObjectNotFound:
            return None


def test_the_served_flow_runs_once_on_demand(prefect_server, tmp_path):
    job = _job(tmp_path)
    cron = _a_cron_far_from_now()
    env = prefect_env(prefect_server, PREFECT_RUNNER_POLL_FREQUENCY="1")
    argv = [sys.executable, SERVE, "job.toml", "--cron", cron, "--name", "served-once"]
    log = tmp_path / "serve.log"
    with background(argv, env, log, cwd=tmp_path) as server:
        deployment = prefect_api.eventually(lambda: _deployment("served-once"), bool, 90,
                                            "served deployment")
        assert [s.schedule.cron for s in deployment.schedules] == [cron]
        assert deployment.parameters == {"settings": str(job)}
        with get_client(sync_client=True) as client:
            run = client.create_flow_run_from_deployment(deployment.id)
        try:
            final = prefect_api.wait_final(run.id, timeout=120)
        except AssertionError:
            raise AssertionError(
                f"alive={server.poll() is None}; log:\n{log.read_text()}") from None
    assert final.state.type.value == "COMPLETED", log.read_text()
    assert final.state.message == "2 jobs succeeded"
    assert (tmp_path / "out" / "a.md").read_text() == "SERVED"
    assert (tmp_path / "out" / "b.md").read_text() == "TWICE"
    assert (tmp_path / ".convoy" / "ledger.db").exists()


def _serve(args, env, cwd, timeout=60):
    started = time.monotonic()
    result = subprocess.run([sys.executable, SERVE, *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return result, time.monotonic() - started


def _one_line(result, *words):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_serve_refuses_a_missing_job_file_in_one_line(prefect_server, tmp_path):
    result, _ = _serve(["nope.toml", "--cron", "0 2 * * *"], prefect_env(prefect_server), tmp_path)
    _one_line(result, "nope.toml")


def test_serve_refuses_a_bad_cron_in_one_line(prefect_server, tmp_path):
    _job(tmp_path)
    result, _ = _serve(["job.toml", "--cron", "every day"], prefect_env(prefect_server), tmp_path)
    _one_line(result, "cron", "every day")


def test_serve_says_when_the_server_is_unreachable(tmp_path):
    _job(tmp_path)
    env = prefect_env("http://127.0.0.1:9/api")
    result, elapsed = _serve(["job.toml", "--cron", "0 2 * * *"], env, tmp_path, timeout=30)
    _one_line(result, "http://127.0.0.1:9/api")
    assert elapsed < 30
