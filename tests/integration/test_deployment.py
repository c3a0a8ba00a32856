"""`deployments/prefect.yaml` deployed to a real Prefect server and run by a real process worker."""

from __future__ import annotations

import json

import pytest
import yaml
from prefect.client.orchestration import get_client

from state.ledger import Ledger
from tests import prefect_api
from tests.conftest import fake_job_toml
from tests.integration.prefect_processes import (
    PREFECT,
    REPO,
    background,
    prefect_cli,
    prefect_env,
)

PREFECT_YAML = REPO / "deployments" / "prefect.yaml"



def _the_deployment() -> dict:
    (deployment,) = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    return deployment


@pytest.fixture(scope="module")
def deployed(prefect_server, tmp_path_factory):
    """Pool created, `convert-batch` deployed from deployments/, a process worker polling."""
    spec = _the_deployment()
    pool = spec["work_pool"]["name"]
    prefect_cli(prefect_server, "work-pool", "create", pool, "--type", "process")
    prefect_cli(prefect_server, "--no-prompt", "deploy", "--prefect-file",
                "deployments/prefect.yaml", "--all")
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"convert-batch/{spec['name']}")
        # the nightly schedule must not start a run of the bundled example during the test
        for schedule in deployment.schedules:
            client.update_deployment_schedule(deployment.id, schedule.id, active=False)
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = prefect_env(prefect_server, PREFECT_WORKER_QUERY_SECONDS="1")
    with background([PREFECT, "worker", "start", "--pool", pool], env, log) as worker:
        yield deployment, worker, log


def test_the_deployment_is_scheduled_on_a_process_pool_with_the_bundled_job_file(deployed):
    deployment, _, _ = deployed
    spec = _the_deployment()
    assert [s.schedule.cron for s in deployment.schedules] == [spec["schedules"][0]["cron"]]
    assert deployment.work_pool_name == spec["work_pool"]["name"]
    with get_client(sync_client=True) as client:
        assert client.read_work_pool(deployment.work_pool_name).type == "process"
    job_file = deployment.parameters["settings"]
    assert (REPO / job_file).is_file(), job_file


def test_a_deployment_run_converts_reports_and_records_like_convoy_run(deployed, tmp_path):
    deployment, worker, log = deployed
    (tmp_path / "docs").mkdir()
    for name, text in {"a.md": "alpha", "b.md": "beta", "bad.md": "FAIL"}.items():
        (tmp_path / "docs" / name).write_text(text)
    job = tmp_path / "job.toml"
    job.write_text(fake_job_toml('workspace = "."', "[run]\nworkers = 2\n"))

    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment.id,
                                                     parameters={"settings": str(job)})
    try:
        final = prefect_api.wait_final(run.id, timeout=150)
    except AssertionError:
        pytest.fail(f"worker alive={worker.poll() is None}; worker log:\n{log.read_text()}")

    assert final.state.type.value == "FAILED", log.read_text()
    assert final.state.message == "1 of 3 jobs did not succeed"
    states = prefect_api.task_states(run.id, expected=3)
    assert {name: state for name, (_, state, _) in states.items()} == {
        "convert[a.md]": "Completed", "convert[b.md]": "Completed", "convert[bad.md]": "Failed"}

    assert (tmp_path / "out" / "a.md").read_text() == "ALPHA"
    assert (tmp_path / "out" / "b.md").read_text() == "BETA"
    assert not (tmp_path / "out" / "bad.md").exists()

    ledger = Ledger.open(tmp_path)  # the workspace the job file names, as `convoy run` uses it
    latest = ledger.latest_run()
    assert latest is not None and latest.status == "failed"
    assert ledger.status_counts(latest.id) == {"succeeded": 2, "failed": 1}
    run_file = json.loads((tmp_path / ".convoy" / "runs" / f"{latest.id}.json").read_text())
    assert len(run_file["jobs"]) == 3
    assert (tmp_path / ".convoy" / "logs" / "convoy.log").read_text().count("bad.md") >= 1

    summary = prefect_api.artifact(run.id, "run-summary")
    assert f"# convoy run {latest.id}: failed" in summary.data
    assert "| failed | 1 |" in summary.data and "| command.failed | 1 |" in summary.data
    prefect_api.wait_log(run.id, f"run {latest.id}: 3 jobs to run, 2 workers")
