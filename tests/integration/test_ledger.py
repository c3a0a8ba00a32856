"""The run ledger on a real SQLite file: runs, jobs, attempts, and the report built from them."""

import json
import sqlite3
import threading

import pytest

from state.ledger import SCHEMA_VERSION, Ledger, LedgerError
from state.report import build_report
from tasks.spec import JobSpec


def _jobs(tmp_path, n=3):
    return [
        JobSpec(f"id{i}", f"in{i}.txt", str(tmp_path / f"in{i}.txt"), str(tmp_path / "out" / f"in{i}.txt"), f"key{i}")
        for i in range(n)
    ]


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger.open(tmp_path)
    yield ledger
    ledger.close()


def test_ledger_lives_in_the_workspace_in_wal_mode_with_a_schema_version(tmp_path, ledger):
    db = tmp_path / ".convoy" / "ledger.db"
    assert db.exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_a_run_with_jobs_attempts_and_its_report(tmp_path, ledger):
    run_id = ledger.create_run({"retries": 1, "headers": {"A": "***"}})
    jobs = _jobs(tmp_path)
    ledger.add_jobs(run_id, jobs)
    assert ledger.status_counts(run_id) == {"pending": 3}

    out = tmp_path / "out" / "in0.txt"
    out.parent.mkdir()
    out.write_text("done")
    a = ledger.start_attempt(run_id, "id0", 1)
    ledger.end_attempt(a, outcome="succeeded")
    ledger.finish_job(run_id, "id0", "succeeded", attempts=1, output=str(out), checksum="c0", size=4)

    a = ledger.start_attempt(run_id, "id1", 1)
    ledger.end_attempt(a, outcome="retry", category="command.failed", message="exit code 75", delay_next=0.5)
    a = ledger.start_attempt(run_id, "id1", 2)
    ledger.end_attempt(a, outcome="failed", category="command.failed", message="exit code 75")
    ledger.finish_job(
        run_id, "id1", "retries_exhausted", attempts=2,
        error={"category": "command.failed", "message": "exit code 75", "retryable": True},
    )
    ledger.finish_run(run_id, "failed")

    report = build_report(ledger, run_id).model_dump(mode="json")
    assert set(report) == {"run", "totals", "error_counts", "jobs"}
    assert set(report["run"]) == {"id", "status", "resumed_from", "started_at", "ended_at", "abort_reason", "settings"}
    assert report["run"]["status"] == "failed" and report["run"]["ended_at"]
    assert report["run"]["settings"] == {"retries": 1, "headers": {"A": "***"}}
    assert report["totals"] == {
        "succeeded": 1, "failed": 0, "retries_exhausted": 1, "partial": 0, "skipped": 0,
        "aborted": 0, "interrupted": 0, "pending": 1, "running": 0,
    }
    assert report["error_counts"] == {"command.failed": 2}
    by_id = {j["id"]: j for j in report["jobs"]}
    assert set(by_id["id0"]) == {
        "id", "input", "status", "attempts", "retries", "total_attempts", "error", "output",
        "partial_outputs", "parts_done", "parts_total", "skip_reason",
    }
    assert by_id["id0"]["output"] == str(out) and by_id["id0"]["error"] is None
    assert by_id["id1"]["attempts"] == 2 and by_id["id1"]["retries"] == 1
    assert by_id["id1"]["total_attempts"] == 2
    assert by_id["id1"]["error"] == {"category": "command.failed", "message": "exit code 75", "retryable": True}
    assert by_id["id1"]["output"] is None
    # failures first
    assert report["jobs"][0]["id"] == "id1"

    attempts = ledger.attempts(run_id, "id1")
    assert [(a.number, a.outcome, a.delay_next) for a in attempts] == [(1, "retry", 0.5), (2, "failed", None)]
    assert all(a.started_at and a.ended_at for a in attempts)


def test_finishing_a_job_can_end_its_last_attempt_in_the_same_write(tmp_path, ledger):
    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 2))
    a = ledger.start_attempt(run_id, "id0", 1)
    ledger.finish_job(run_id, "id0", "succeeded", attempts=1, attempt=a, output="o", checksum="c", size=1)
    b = ledger.start_attempt(run_id, "id1", 1)
    ledger.finish_job(run_id, "id1", "partial", attempts=1, attempt=b, attempt_outcome="failed",
                      error={"category": "remote.unavailable", "message": "503", "retryable": True})

    (first,) = ledger.attempts(run_id, "id0")
    assert (first.outcome, first.category, first.message) == ("succeeded", None, None) and first.ended_at
    (second,) = ledger.attempts(run_id, "id1")
    assert (second.outcome, second.category, second.message) == ("failed", "remote.unavailable", "503")
    assert [ledger.job(run_id, j).status for j in ("id0", "id1")] == ["succeeded", "partial"]
    assert ledger.error_counts(run_id) == {"remote.unavailable": 1}


def test_a_jobs_writes_on_sqlite_skip_sqlalchemys_statement_execution(tmp_path, ledger, monkeypatch):
    """The per-attempt writes run their SQL, compiled once, on the driver's cursor."""
    import sqlalchemy

    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 2))
    ledger.start_attempt(run_id, "id1", 1)  # compiles the statements once
    executed = []
    original = sqlalchemy.engine.Connection.execute
    monkeypatch.setattr(sqlalchemy.engine.Connection, "execute",
                        lambda self, *a, **k: executed.append(a[0]) or original(self, *a, **k))
    a = ledger.start_attempt(run_id, "id0", 1)
    ledger.record_intent(run_id, "id0", "out/a", "c0")
    ledger.record_parts(run_id, "id0", ["out/a.1"], 2)
    ledger.end_attempt(a, outcome="retry", category="remote.timeout", message="slow", delay_next=1.5)
    b = ledger.start_attempt(run_id, "id0", 2)
    ledger.finish_job(run_id, "id0", "succeeded", attempts=2, attempt=b, output="out/a",
                      checksum="c0", size=4, mtime_ns=7, produced_by=run_id)
    assert executed == []
    assert b == a + 1
    job = ledger.job(run_id, "id0")
    assert (job.status, job.attempts, job.output, job.checksum, job.size, job.mtime_ns) == (
        "succeeded", 2, "out/a", "c0", 4, 7)
    assert (job.intent_path, job.intent_checksum, job.partial_outputs, job.parts_total) == (
        "out/a", "c0", ["out/a.1"], 2)
    assert [(x.number, x.outcome, x.category, x.delay_next) for x in ledger.attempts(run_id, "id0")] == [
        (1, "retry", "remote.timeout", 1.5), (2, "succeeded", None, None)]


def test_a_jobs_writes_through_sqlalchemy_as_other_databases_take_them(tmp_path, ledger):
    ledger._direct = False  # the path every database but SQLite takes
    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 1))
    a = ledger.start_attempt(run_id, "id0", 1)
    ledger.record_intent(run_id, "id0", "out/a", "c0")
    ledger.finish_job(run_id, "id0", "succeeded", attempts=1, attempt=a, output="out/a", checksum="c0")
    assert a >= 1 and ledger.start_attempt(run_id, "id0", 2) == a + 1
    job = ledger.job(run_id, "id0")
    assert (job.output, job.intent_path, job.attempts) == ("out/a", "out/a", 2)
    assert [x.outcome for x in ledger.attempts(run_id, "id0")] == ["succeeded", None]


def test_a_failed_direct_write_is_rolled_back_and_leaves_the_ledger_writable(tmp_path, ledger):
    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 1))
    a = ledger.start_attempt(run_id, "id0", 1)
    with pytest.raises(sqlite3.ProgrammingError):
        ledger.finish_job(run_id, "id0", "succeeded", attempts=1, attempt=a, size=object())  # unbindable
    assert ledger.job(run_id, "id0").status == "running"
    assert [x.outcome for x in ledger.attempts(run_id, "id0")] == [None]
    ledger.finish_job(run_id, "id0", "succeeded", attempts=1, attempt=a)
    assert ledger.job(run_id, "id0").status == "succeeded"


def test_a_failed_write_leaves_the_ledger_writable(tmp_path, ledger):
    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 1))
    with pytest.raises(Exception, match="UNIQUE"):
        ledger.add_jobs(run_id, _jobs(tmp_path, 1))  # the same job twice: refused, rolled back
    a = ledger.start_attempt(run_id, "id0", 1)
    ledger.finish_job(run_id, "id0", "succeeded", attempts=1, attempt=a)
    assert ledger.status_counts(run_id) == {"succeeded": 1}
    assert [x.outcome for x in ledger.attempts(run_id, "id0")] == ["succeeded"]


def test_report_lists_no_output_that_is_gone_from_disk(tmp_path, ledger):
    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 1))
    ledger.finish_job(run_id, "id0", "succeeded", attempts=1, output=str(tmp_path / "gone"), checksum="x", size=1)
    assert build_report(ledger, run_id).jobs[0].output is None


def test_runs_are_listed_newest_first_and_latest_is_found(tmp_path, ledger):
    first = ledger.create_run({})
    second = ledger.create_run({})
    assert [r.id for r in ledger.runs()] == [second, first]
    assert ledger.latest_run().id == second


def test_run_file_is_written_with_settings_and_jobs(tmp_path, ledger):
    run_id = ledger.create_run({"retries": 2})
    ledger.add_jobs(run_id, _jobs(tmp_path, 2))
    path = ledger.write_run_file(run_id, {"retries": 2}, _jobs(tmp_path, 2))
    assert path == tmp_path / ".convoy" / "runs" / f"{run_id}.json"
    data = json.loads(path.read_text())
    assert data["run_id"] == run_id and data["settings"] == {"retries": 2}
    assert [j["id"] for j in data["jobs"]] == ["id0", "id1"]
    assert not list(path.parent.glob("*.tmp*"))


def test_concurrent_writers_lose_nothing(tmp_path, ledger):
    run_id = ledger.create_run({})
    ledger.add_jobs(run_id, _jobs(tmp_path, 8))

    def work(job_id):
        for n in range(1, 26):
            a = ledger.start_attempt(run_id, job_id, n)
            ledger.end_attempt(a, outcome="retry", category="x.y", message="m")

    threads = [threading.Thread(target=work, args=(f"id{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.error_counts(run_id) == {"x.y": 200}


def test_a_ledger_of_another_schema_version_is_refused(tmp_path, ledger):
    ledger.close()
    with sqlite3.connect(tmp_path / ".convoy" / "ledger.db") as conn:
        conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    with pytest.raises(LedgerError, match="schema"):
        Ledger.open(tmp_path)


def test_a_garbage_file_is_refused_with_a_ledger_error(tmp_path):
    (tmp_path / ".convoy").mkdir()
    (tmp_path / ".convoy" / "ledger.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError):
        Ledger.open(tmp_path)


def test_opening_an_unwritable_workspace_is_a_ledger_error(tmp_path):
    blocker = tmp_path / "ws"
    blocker.write_text("a file where the workspace folder should be")
    with pytest.raises(LedgerError):
        Ledger.open(blocker)
