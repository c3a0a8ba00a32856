"""The http converter against a real fault-injecting server on 127.0.0.1."""

import os

import pytest

from flows.batch import run_batch
from flows.settings import SettingsError, load_settings
from state.ledger import Ledger
from tests.conftest import write_inputs

pytestmark = pytest.mark.usefixtures("prefect_server")


def _inputs(tmp_path, texts):
    return write_inputs(tmp_path / "in", texts)


def _run(tmp_path, server, texts, **extra):
    folder = _inputs(tmp_path, texts)
    cli = dict(input=[str(folder)], output=str(tmp_path / "out"), workspace=str(tmp_path),
               url=server.url, retries=2, retry_delay=0.05, jitter=0, workers=4, timeout=5,
               log_level="none")
    cli.update(extra)
    result = run_batch(load_settings(None, cli))
    return result, {j.input: j for j in result.report.jobs}


def _requests_for(server, job_input_id):
    return [r for r in server.requests if r.job == job_input_id]


def test_two_503_then_success_on_the_third_attempt(tmp_path, fault_server):
    result, jobs = _run(tmp_path, fault_server, {"a.txt": "hello STATUS=503x2"})
    assert jobs["a.txt"].status == "succeeded" and jobs["a.txt"].attempts == 3
    assert (tmp_path / "out" / "a.txt").read_text() == "HELLO STATUS=503X2"
    assert len(fault_server.requests) == 3
    assert result.report.error_counts == {"remote.unavailable": 2}


def test_failing_forever_exhausts_after_retries_plus_one_requests(tmp_path, fault_server):
    _, jobs = _run(tmp_path, fault_server, {"a.txt": "STATUS=503"}, retries=2)
    assert jobs["a.txt"].status == "retries_exhausted" and jobs["a.txt"].attempts == 3
    assert jobs["a.txt"].error.category == "remote.unavailable"
    assert len(fault_server.requests) == 3


def test_a_400_fails_after_exactly_one_request(tmp_path, fault_server):
    _, jobs = _run(tmp_path, fault_server, {"a.txt": "STATUS=400"})
    assert jobs["a.txt"].status == "failed" and jobs["a.txt"].attempts == 1
    assert jobs["a.txt"].error.category == "remote.rejected"
    assert len(fault_server.requests) == 1


def test_a_reset_and_a_timeout_are_retried(tmp_path, fault_server):
    _, jobs = _run(tmp_path, fault_server, {"reset.txt": "RESETx1", "slow.txt": "SLOW=3x1"},
                   timeout=1)
    assert jobs["reset.txt"].status == "succeeded" and jobs["reset.txt"].attempts == 2
    assert jobs["slow.txt"].status == "succeeded" and jobs["slow.txt"].attempts == 2
    ledger = Ledger.open(tmp_path)
    categories = {a.category for a in ledger.attempts(ledger.latest_run().id) if a.category}
    assert categories == {"remote.connect", "remote.timeout"}


def test_a_truncated_body_is_never_saved(tmp_path, fault_server):
    _, jobs = _run(tmp_path, fault_server, {"a.txt": "TRUNCATE"}, retries=0)
    assert jobs["a.txt"].error.category == "remote.bad_response"
    assert not (tmp_path / "out" / "a.txt").exists()


def test_429_with_retry_after_waits_at_least_that_long(tmp_path, fault_server):
    _, jobs = _run(tmp_path, fault_server, {"a.txt": "STATUS=429:RA=1x1"})
    assert jobs["a.txt"].status == "succeeded" and jobs["a.txt"].attempts == 2
    first, second = fault_server.requests
    assert second.at - first.at >= 1.0


def test_headers_name_the_job_and_part_and_content_type(tmp_path, fault_server):
    _, jobs = _run(tmp_path, fault_server, {"a.txt": "x"})
    request = fault_server.requests[0]
    assert request.job == jobs["a.txt"].id and request.part == "1"
    assert request.headers["Content-Type"].startswith("text/plain")


def test_backing_off_jobs_do_not_starve_healthy_ones(tmp_path, fault_server):
    texts = {f"bad{i}.txt": f"bad {i} STATUS=503x1" for i in range(2)}
    texts.update({f"ok{i}.txt": f"ok {i} SLOW=0.2" for i in range(6)})
    _, jobs = _run(tmp_path, fault_server, texts, workers=2, retry_delay=2)
    assert all(j.status == "succeeded" for j in jobs.values())
    bad_ids = {jobs["bad0.txt"].id, jobs["bad1.txt"].id}
    healthy = [r for r in fault_server.requests if r.job not in bad_ids]
    retries = [r for r in fault_server.requests if r.job in bad_ids][2:]
    assert len(healthy) == 6 and len(retries) == 2
    assert max(r.at for r in healthy) + 0.2 < min(r.at for r in retries)


def test_a_chunked_job_whose_fourth_chunk_fails_is_partial(tmp_path, fault_server):
    lines = "".join(f"line {i}{' STATUS=503' if i == 4 else ''}\n" for i in range(1, 6))
    _, jobs = _run(tmp_path, fault_server, {"a.txt": lines}, chunk_lines=1, retries=1)
    job = jobs["a.txt"]
    assert job.status == "partial" and job.parts_done == 3 and job.parts_total == 5
    assert len(job.partial_outputs) == 3
    assert [open(p).read() for p in job.partial_outputs] == ["LINE 1\n", "LINE 2\n", "LINE 3\n"]
    assert job.error.category == "remote.unavailable"
    assert not (tmp_path / "out" / "a.txt").exists()
    parts_requested = [r.part for r in fault_server.requests]
    assert parts_requested == ["1", "2", "3", "4", "4"]  # the retry resumes at the missing chunk


def test_a_chunked_job_that_succeeds_is_joined_and_leaves_no_parts(tmp_path, fault_server):
    lines = "".join(f"line {i}\n" for i in range(1, 8))
    _, jobs = _run(tmp_path, fault_server, {"a.txt": lines}, chunk_lines=3)
    job = jobs["a.txt"]
    assert job.status == "succeeded" and job.parts_total == 3 and job.partial_outputs == []
    assert (tmp_path / "out" / "a.txt").read_text() == lines.upper()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt"]
    assert [r.part for r in fault_server.requests] == ["1", "2", "3"]


def test_threshold_stops_the_run_with_no_new_request(tmp_path, fault_server):
    fault_server.default_status = 503
    texts = {f"{i:02d}.txt": f"job {i}" for i in range(30)}
    result, jobs = _run(tmp_path, fault_server, texts, workers=4,
                        fail_after=["remote.unavailable=5"])
    report = result.report
    assert report.run.status == "aborted"
    assert result.state.is_cancelled()
    assert "remote.unavailable" in report.run.abort_reason and "5" in report.run.abort_reason
    assert "remote.unavailable" in result.state.message
    assert len(fault_server.requests) <= 5 + (4 - 1)
    assert report.totals["aborted"] >= 30 - 8
    assert sum(report.totals.values()) == 30
    assert report.totals["succeeded"] == 0


@pytest.mark.parametrize("mode, expected", [("abort", "aborted"), ("drain", "succeeded")])
def test_abort_stops_in_flight_jobs_at_a_chunk_boundary_and_drain_lets_them_finish(
        tmp_path, fault_server, mode, expected):
    texts = {"big.txt": "".join(f"chunk {i} SLOW=0.4\n" for i in range(4)),
             "bad1.txt": "SLOW=0.1 STATUS=401", "bad2.txt": "SLOW=0.1 STATUS=401"}
    result, jobs = _run(tmp_path, fault_server, texts, workers=3, retries=0, chunk_lines=1,
                        fail_after=["remote.auth=2"], on_threshold=mode)
    assert result.report.run.status == "aborted"
    big = jobs["big.txt"]
    assert big.status == expected
    if mode == "abort":
        assert 1 <= big.parts_done < 4 and len(big.partial_outputs) == big.parts_done
    else:
        assert (tmp_path / "out" / "big.txt").exists()


def test_a_wrong_token_is_not_retried_and_never_written_anywhere(tmp_path, fault_server, monkeypatch):
    token = "tok-5f1e-very-secret"
    monkeypatch.setenv("CONVOY_TEST_TOKEN", token)
    fault_server.expected_auth = "Bearer right-token"
    folder = _inputs(tmp_path, {"a.txt": "AUTH please"})
    settings = load_settings(None, dict(
        input=[str(folder)], output=str(tmp_path / "out"), workspace=str(tmp_path),
        url=fault_server.url, retries=3, retry_delay=0.05, log_level="verbose"))
    settings = settings.model_copy(update={"headers": {"Authorization": "Bearer ${env:CONVOY_TEST_TOKEN}"}})
    report = run_batch(settings).report
    job = report.jobs[0]
    assert job.status == "failed" and job.error.category == "remote.auth" and job.attempts == 1
    assert len(fault_server.requests) == 1
    assert fault_server.requests[0].headers["Authorization"] == f"Bearer {token}"
    assert token not in report.model_dump_json()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_a_right_token_from_the_environment_is_sent(tmp_path, fault_server, monkeypatch):
    monkeypatch.setenv("CONVOY_TEST_TOKEN", "right-token")
    fault_server.expected_auth = "Bearer right-token"
    folder = _inputs(tmp_path, {"a.txt": "AUTH please"})
    settings = load_settings(None, dict(input=[str(folder)], output=str(tmp_path / "out"),
                                        workspace=str(tmp_path), url=fault_server.url,
                                        log_level="none"))
    settings = settings.model_copy(update={"headers": {"Authorization": "Bearer ${env:CONVOY_TEST_TOKEN}"}})
    assert run_batch(settings).report.jobs[0].status == "succeeded"


def test_a_header_naming_an_unset_variable_is_refused_before_anything_runs(tmp_path, fault_server):
    os.environ.pop("CONVOY_UNSET_TOKEN", None)
    folder = _inputs(tmp_path, {"a.txt": "x"})
    settings = load_settings(None, dict(input=[str(folder)], output=str(tmp_path / "out"),
                                        workspace=str(tmp_path), url=fault_server.url,
                                        log_level="none"))
    settings = settings.model_copy(update={"headers": {"Authorization": "${env:CONVOY_UNSET_TOKEN}"}})
    with pytest.raises(SettingsError, match="CONVOY_UNSET_TOKEN"):
        run_batch(settings)
    assert fault_server.requests == []


def test_a_literal_token_never_reaches_prefects_flow_run_parameters(tmp_path, fault_server):
    from tests.prefect_api import flow_run

    token = "literal-token-7c1d"
    fault_server.expected_auth = f"Bearer {token}"
    folder = _inputs(tmp_path, {"a.txt": "AUTH please"})
    settings = load_settings(None, dict(input=[str(folder)], output=str(tmp_path / "out"),
                                        workspace=str(tmp_path), url=fault_server.url,
                                        log_level="none"))
    settings = settings.model_copy(update={"headers": {"Authorization": f"Bearer {token}"}})
    result = run_batch(settings)
    assert result.report.jobs[0].status == "succeeded"  # the flow itself had the real token
    parameters = flow_run(result.state.state_details.flow_run_id).parameters
    assert token not in str(parameters) and "***" in str(parameters)


def test_a_token_from_a_prefect_secret_block_is_sent_and_never_written(tmp_path, fault_server):
    from prefect.blocks.system import Secret

    token = "block-token-93ab"
    Secret(value=token).save("convoy-test-token", overwrite=True)
    fault_server.expected_auth = f"Bearer {token}"
    folder = _inputs(tmp_path, {"a.txt": "AUTH please"})
    settings = load_settings(None, dict(input=[str(folder)], output=str(tmp_path / "out"),
                                        workspace=str(tmp_path), url=fault_server.url,
                                        log_level="verbose"))
    settings = settings.model_copy(update={"headers": {"Authorization": "Bearer ${secret:convoy-test-token}"}})
    report = run_batch(settings).report
    assert report.jobs[0].status == "succeeded"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_a_missing_secret_block_is_refused_before_anything_runs(tmp_path, fault_server):
    folder = _inputs(tmp_path, {"a.txt": "x"})
    settings = load_settings(None, dict(input=[str(folder)], output=str(tmp_path / "out"),
                                        workspace=str(tmp_path), url=fault_server.url,
                                        log_level="none"))
    settings = settings.model_copy(update={"headers": {"Authorization": "${secret:no-such-block}"}})
    with pytest.raises(SettingsError, match="no-such-block"):
        run_batch(settings)
    assert fault_server.requests == []
