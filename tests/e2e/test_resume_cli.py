"""`convoy resume` end to end: signals, kill -9, concurrent runs, damaged ledgers, crash points."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest

from state.atomic import TEMP_MARK
from tests.conftest import fake_job_toml, write_inputs
from tests.e2e.conftest import CONVOY


@pytest.fixture(autouse=True)
def journal(tmp_path, monkeypatch):
    """Every program run appends to tmp_path/journal.txt (set before `convoy` copies the env)."""
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "journal.txt"))


def _batch(tmp_path, texts, workers=4):
    write_inputs(tmp_path / "docs", texts)
    (tmp_path / "job.toml").write_text(
        fake_job_toml(after=f"[run]\nworkers = {workers}\n[retry]\nmax_retries = 0\n"))
    return tmp_path / "job.toml"


def _env(prefect_server, tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
    env.update(PREFECT_API_URL=prefect_server, FAKE_LOG=str(tmp_path / "journal.txt"), **extra)
    return env


def _spawn(prefect_server, tmp_path, *args, **extra_env):
    return subprocess.Popen([CONVOY, *args], cwd=tmp_path, env=_env(prefect_server, tmp_path, **extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _starts(tmp_path):
    journal = tmp_path / "journal.txt"
    lines = journal.read_text().splitlines() if journal.exists() else []
    return [line.split()[1] for line in lines if line.startswith("start")]


def _statuses(tmp_path, run=None):
    with sqlite3.connect(tmp_path / ".convoy" / "ledger.db") as conn:
        if run is None:
            run = conn.execute("SELECT id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        return dict(conn.execute("SELECT input, status FROM jobs WHERE run_id=?", (run,)))


def _wait_for_starts(tmp_path, count, limit=60):
    deadline = time.monotonic() + limit
    while len(_starts(tmp_path)) < count:
        assert time.monotonic() < deadline, "the jobs never started"
        time.sleep(0.1)


def _no_temps(tmp_path):
    return not [p for p in (tmp_path / "out").rglob("*") if TEMP_MARK in p.name]


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path, convoy):
    _batch(tmp_path, {"a.md": "a", "bad.md": "FAIL"})
    assert convoy("run", "job.toml", "--log-level", "none").returncode == 1
    plan = convoy("resume", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "skip" in plan.stdout and "a.md" in plan.stdout and "intact" in plan.stdout
    assert "run" in plan.stdout and "bad.md" in plan.stdout and "command.failed" in plan.stdout
    runs = convoy("runs").stdout
    assert runs.count("failed") >= 1 and len([line for line in runs.splitlines() if "T" in line and "-" in line]) == 1


def test_resume_without_a_run_exits_2(tmp_path, convoy):
    result = convoy("resume")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "no run" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_exits_130_within_the_grace_period_and_resume_finishes(
        tmp_path, prefect_server, convoy, signum):
    _batch(tmp_path, {f"{i:02d}.md": f"{i} SLEEP=1.5" for i in range(12)}, workers=2)
    process = _spawn(prefect_server, tmp_path, "run", "job.toml", "--grace-period", "5",
                     "--format", "json")
    _wait_for_starts(tmp_path, 2)
    started = time.monotonic()
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert time.monotonic() - started < 5 + 3
    assert "Traceback" not in err
    report = json.loads(out)
    statuses = {j["input"]: j["status"] for j in report["jobs"]}
    assert report["run"]["status"] == "interrupted"
    assert set(statuses.values()) <= {"succeeded", "interrupted"}
    assert list(statuses.values()).count("succeeded") >= 2  # the two in flight finished
    assert _no_temps(tmp_path)

    resumed = convoy("resume", "--log-level", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert all((tmp_path / "out" / f"{i:02d}.md").exists() for i in range(12))
    assert sorted(_starts(tmp_path)) == sorted(set(_starts(tmp_path)))  # nothing converted twice


def test_a_second_signal_stops_at_once(tmp_path, prefect_server):
    _batch(tmp_path, {f"{i}.md": "SLEEP=30" for i in range(2)}, workers=2)
    process = _spawn(prefect_server, tmp_path, "run", "job.toml", "--grace-period", "60")
    _wait_for_starts(tmp_path, 2)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - started < 5
    assert set(_statuses(tmp_path).values()) == {"interrupted"}


def test_after_kill_9_status_shows_interrupted_and_resume_finishes(tmp_path, prefect_server, convoy):
    _batch(tmp_path, {f"{i}.md": f"{i} SLEEP=1" for i in range(8)}, workers=2)
    process = _spawn(prefect_server, tmp_path, "run", "job.toml")
    _wait_for_starts(tmp_path, 2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    status = convoy("status")
    assert status.returncode == 0
    assert "interrupted" in status.stdout and "process ended unexpectedly" in status.stdout
    resumed = convoy("resume", "--log-level", "none")
    assert resumed.returncode == 0, resumed.stderr
    assert all((tmp_path / "out" / f"{i}.md").read_text() == f"{i} SLEEP=1".upper() for i in range(8))
    assert _no_temps(tmp_path)


def test_a_second_run_in_the_same_workspace_is_refused_and_a_killed_ones_lock_is_not(
        tmp_path, prefect_server, convoy):
    _batch(tmp_path, {f"{i}.md": "SLEEP=2" for i in range(4)}, workers=2)
    first = _spawn(prefect_server, tmp_path, "run", "job.toml")
    _wait_for_starts(tmp_path, 1)
    second = convoy("run", "job.toml")
    assert second.returncode == 2
    assert len(second.stderr.strip().splitlines()) == 1
    assert f"process {first.pid}" in second.stderr
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    after = convoy("run", "job.toml", "--log-level", "none")
    assert after.returncode == 0, after.stderr


def _foreign_schema(db):
    db.unlink()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t(x)")


DAMAGES = {
    "garbage": lambda db: db.write_bytes(b"not a database at all " * 200),
    "truncated": lambda db: db.write_bytes(db.read_bytes()[: len(db.read_bytes()) // 3]),
    "foreign schema": _foreign_schema,
    "unreadable": lambda db: (db.unlink(), db.mkdir()),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_ledger_is_moved_aside_and_nothing_intact_is_redone(tmp_path, convoy, damage):
    _batch(tmp_path, {"a.md": "a", "b.md": "b", "bad.md": "FAIL"})
    assert convoy("run", "job.toml", "--log-level", "none").returncode == 1
    db = tmp_path / ".convoy" / "ledger.db"
    for side in ("ledger.db-wal", "ledger.db-shm"):
        (tmp_path / ".convoy" / side).unlink(missing_ok=True)
    DAMAGES[damage](db)

    refused = convoy("resume")
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "--rebuild" in lines[0] and "Traceback" not in refused.stderr
    assert [p.name for p in (tmp_path / ".convoy").glob("ledger.db.damaged-*")]

    before = len(_starts(tmp_path))
    again = convoy("run", "job.toml", "--log-level", "none", "--format", "json")
    assert again.returncode == 1, again.stderr
    statuses = {j["input"]: j["status"] for j in json.loads(again.stdout)["jobs"]}
    assert statuses == {"a.md": "skipped", "b.md": "skipped", "bad.md": "failed"}
    assert _starts(tmp_path)[before:] == ["bad.md"]


def test_resume_rebuild_reconstructs_the_last_run_from_run_files(tmp_path, convoy):
    _batch(tmp_path, {"a.md": "a", "bad.md": "FAIL"})
    convoy("run", "job.toml", "--log-level", "none")
    (tmp_path / ".convoy" / "ledger.db").write_bytes(b"garbage" * 100)
    (tmp_path / "docs" / "bad.md").write_text("fixed")
    before = len(_starts(tmp_path))
    rebuilt = convoy("resume", "--rebuild", "--format", "json", "--log-level", "none")
    assert rebuilt.returncode == 0, rebuilt.stderr
    statuses = {j["input"]: j["status"] for j in json.loads(rebuilt.stdout)["jobs"]}
    assert statuses == {"a.md": "skipped", "bad.md": "succeeded"}
    assert _starts(tmp_path)[before:] == ["bad.md"]


@pytest.mark.parametrize("point, redone", [("before-rename", True), ("after-rename", False)])
def test_a_crash_around_the_rename_is_repaired_by_resume(tmp_path, prefect_server, convoy, point, redone):
    _batch(tmp_path, {"a.md": "a", "b.md": "b", "c.md": "c"}, workers=1)
    crashed = _spawn(prefect_server, tmp_path, "run", "job.toml", CONVOY_FAULT=f"{point}:b.md")
    crashed.communicate(timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    resumed = convoy("resume", "--format", "json", "--log-level", "none")
    assert resumed.returncode == 0, resumed.stderr
    jobs = {j["input"]: j for j in json.loads(resumed.stdout)["jobs"]}
    assert (tmp_path / "out" / "b.md").read_text() == "B"
    assert _starts(tmp_path).count("b.md") == (2 if redone else 1)
    if not redone:
        assert jobs["b.md"]["status"] == "skipped" and "adopted" in jobs["b.md"]["skip_reason"]
    assert _no_temps(tmp_path)


def test_chaos_kills_never_lose_or_duplicate_finished_work(tmp_path, prefect_server, convoy):
    rng = random.Random(4)
    _batch(tmp_path, {f"{i:02d}.md": f"job {i} SLEEP=0.3" for i in range(40)}, workers=4)
    finished_before_kill: set[str] = set()
    journal_length_at_kill = []
    command = ["run", "job.toml"]
    for _ in range(3):
        process = _spawn(prefect_server, tmp_path, *command)
        _wait_for_starts(tmp_path, len(_starts(tmp_path)) + 1)
        time.sleep(rng.uniform(0.5, 2.5))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        finished_before_kill |= {name for name, status in _statuses(tmp_path).items()
                                 if status in ("succeeded", "skipped")}
        journal_length_at_kill.append((len(_starts(tmp_path)), set(finished_before_kill)))
        command = ["resume"]
    final = convoy("resume", "--log-level", "none")
    assert final.returncode == 0, final.stderr
    starts = _starts(tmp_path)
    for i in range(40):
        name = f"{i:02d}.md"
        assert (tmp_path / "out" / name).read_text() == f"job {i} SLEEP=0.3".upper()
    for position, finished in journal_length_at_kill:
        assert not finished & set(starts[position:]), "a finished job was converted again"
    # a job converted more than once was in flight (started, not finished) at some kill
    for name in {n for n in starts if starts.count(n) > 1}:
        first_start = starts.index(name)
        assert any(first_start < position and name not in finished
                   for position, finished in journal_length_at_kill), name
    assert _no_temps(tmp_path)
