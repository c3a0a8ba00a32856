"""The run ledger: runs, jobs and attempts in SQLite (WAL), through SQLAlchemy Core.

SQLAlchemy Core keeps PostgreSQL a URL change away; only a job's own writes on
SQLite skip its execution machinery (``Ledger._write_steps``). Writes go through one
process-wide lock: SQLite has a single writer anyway, and serialising in
Python avoids "database is locked" when many worker threads finish at once.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from state.atomic import write_atomic

SCHEMA_VERSION = 2

metadata = sa.MetaData()

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("resumed_from", sa.String),
    sa.Column("started_at", sa.String, nullable=False),
    sa.Column("ended_at", sa.String),
    sa.Column("abort_reason", sa.String),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer),
    sa.Column("host", sa.String),
)

jobs = sa.Table(
    "jobs", metadata,
    sa.Column("run_id", sa.String, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("job_id", sa.String, primary_key=True),
    sa.Column("key", sa.String, nullable=False),
    sa.Column("input", sa.String, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("target", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("output", sa.String),
    sa.Column("checksum", sa.String),
    sa.Column("size", sa.Integer),
    sa.Column("error_category", sa.String),
    sa.Column("error_message", sa.Text),
    sa.Column("error_retryable", sa.Boolean),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("parts_done", sa.Integer, nullable=False, default=0),
    sa.Column("parts_total", sa.Integer),
    sa.Column("partial_outputs", sa.Text),
    sa.Column("skip_reason", sa.String),
    sa.Column("mtime_ns", sa.BigInteger),
    sa.Column("produced_by", sa.String),  # the run whose attempt wrote the output
    sa.Column("intent_path", sa.String),  # recorded just before an output is renamed into place
    sa.Column("intent_checksum", sa.String),
    sa.Column("updated_at", sa.String),
    sa.Index("jobs_by_key", "key", "status"),
)

attempts = sa.Table(
    "attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("job_id", sa.String, nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("started_at", sa.String, nullable=False),
    sa.Column("ended_at", sa.String),
    sa.Column("outcome", sa.String),
    sa.Column("category", sa.String),
    sa.Column("message", sa.Text),
    sa.Column("delay_next", sa.Float),
    sa.Index("attempts_by_job", "job_id", "run_id"),
)

TERMINAL = ("succeeded", "partial", "retries_exhausted", "failed", "skipped", "aborted", "interrupted")
# the order of the report's totals (CONTRACT §7)
STATUSES = ("succeeded", "failed", "retries_exhausted", "partial", "skipped", "aborted",
            "interrupted", "pending", "running")


def _this_job() -> Any:
    return sa.and_(jobs.c.run_id == sa.bindparam("b_run"), jobs.c.job_id == sa.bindparam("b_job"))


def _bound(**values: Any) -> dict[str, Any]:
    """Parameters for the statements below: their names must differ from the columns'."""
    return {f"b_{name}": value for name, value in values.items()}


# The per-attempt writes, built once: on SQLite, Ledger._write_steps compiles each once
# and runs its SQL on the driver's cursor (benchmarks/README.md, bookkeeping: ledger).
_JOB_RUNNING = sa.update(jobs).where(_this_job()).values(
    status="running", attempts=sa.bindparam("b_n_attempts"), updated_at=sa.bindparam("b_stamp"))
_ATTEMPT_STARTED = sa.insert(attempts).values(
    run_id=sa.bindparam("b_run"), job_id=sa.bindparam("b_job"), number=sa.bindparam("b_n_attempts"),
    started_at=sa.bindparam("b_stamp"))
_ATTEMPT_ENDED = sa.update(attempts).where(attempts.c.id == sa.bindparam("b_attempt")).values(
    ended_at=sa.bindparam("b_stamp"), outcome=sa.bindparam("b_outcome"), category=sa.bindparam("b_category"),
    message=sa.bindparam("b_message"), delay_next=sa.bindparam("b_delay_next"))
_JOB_FINISHED = sa.update(jobs).where(_this_job()).values(
    status=sa.bindparam("b_status"), output=sa.bindparam("b_output"), checksum=sa.bindparam("b_checksum"),
    size=sa.bindparam("b_size"), skip_reason=sa.bindparam("b_skip_reason"),
    mtime_ns=sa.bindparam("b_mtime_ns"), produced_by=sa.bindparam("b_produced_by"),
    error_category=sa.bindparam("b_category"), error_message=sa.bindparam("b_message"),
    error_retryable=sa.bindparam("b_retryable"), updated_at=sa.bindparam("b_stamp"),
    attempts=sa.func.coalesce(sa.bindparam("b_n_attempts", type_=sa.Integer), jobs.c.attempts))
_INTENT = sa.update(jobs).where(_this_job()).values(
    intent_path=sa.bindparam("b_path"), intent_checksum=sa.bindparam("b_checksum"),
    updated_at=sa.bindparam("b_stamp"))
_PARTS = sa.update(jobs).where(_this_job()).values(
    parts_done=sa.bindparam("b_parts_done"), parts_total=sa.bindparam("b_parts_total"),
    partial_outputs=sa.bindparam("b_paths"), updated_at=sa.bindparam("b_stamp"))


class LedgerError(Exception):
    """The ledger cannot be opened or used; one line saying what is wrong."""


class LedgerDamaged(LedgerError):
    """The ledger file exists but is not a usable convoy ledger (corrupt, foreign, unreadable)."""


def move_aside(workspace: str | Path) -> Path:
    """Rename a damaged ledger (and its WAL files) out of the way; never delete it."""
    db = Path(workspace) / ".convoy" / "ledger.db"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = db.with_name(f"ledger.db.damaged-{stamp}")
    n = 1
    while target.exists():
        target = db.with_name(f"ledger.db.damaged-{stamp}-{n}")
        n += 1
    os.rename(db, target)
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.rename(side, target.with_name(target.name + suffix))
    return target


class PlannedJob(Protocol):
    """What the ledger needs of a planned job (tasks.spec.JobSpec is one)."""

    @property
    def id(self) -> str: ...
    @property
    def input(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def output(self) -> str: ...
    @property
    def key(self) -> str: ...


@dataclass(frozen=True)
class RunRecord:
    id: str
    status: str
    resumed_from: str | None
    started_at: str
    ended_at: str | None
    abort_reason: str | None
    settings: dict[str, Any]
    pid: int | None
    host: str | None


@dataclass(frozen=True)
class JobRecord:
    run_id: str
    job_id: str
    key: str
    input: str
    source: str
    target: str
    status: str
    output: str | None
    checksum: str | None
    size: int | None
    error_category: str | None
    error_message: str | None
    error_retryable: bool | None
    attempts: int
    parts_done: int
    parts_total: int | None
    partial_outputs: list[str]
    skip_reason: str | None
    mtime_ns: int | None = None
    produced_by: str | None = None
    intent_path: str | None = None
    intent_checksum: str | None = None


# what a job carries into a new run when it is skipped or continued
CARRIED = ("status", "output", "checksum", "size", "mtime_ns", "produced_by", "skip_reason",
           "partial_outputs", "parts_done", "parts_total")


@dataclass(frozen=True)
class AttemptRecord:
    job_id: str
    number: int
    started_at: str
    ended_at: str | None
    outcome: str | None
    category: str | None
    message: str | None
    delay_next: float | None


def now() -> str:
    """UTC timestamps to the microsecond: runs are ordered by them."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Ledger:
    """All durable state of a workspace's runs. Thread-safe within one process."""

    def __init__(self, engine: Engine, convoy_dir: Path) -> None:
        self.engine = engine
        self.convoy_dir = convoy_dir
        self._write_lock = threading.Lock()
        self._writer: sa.Connection | None = None  # opened by the first write, kept until close
        self._direct = engine.dialect.name == "sqlite"  # per-attempt writes skip SQLAlchemy
        self._driver_sql: dict[Any, tuple[str, tuple[tuple[str, Any], ...]]] = {}

    @classmethod
    def open(cls, workspace: str | Path, url: str | None = None) -> Ledger:
        """Open (creating if needed) the ledger of ``workspace``; LedgerError if unusable."""
        convoy_dir = Path(workspace) / ".convoy"
        db = convoy_dir / "ledger.db"
        try:
            convoy_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create {convoy_dir}: {exc.strerror}") from None
        engine = sa.create_engine(
            url or f"sqlite:///{db}",
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=-1,
        )
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        ledger = cls(engine, convoy_dir)
        existed = db.exists()
        try:
            ledger._prepare_schema(check=existed)
        except SQLAlchemyError as exc:
            engine.dispose()
            reason = str(getattr(exc, "orig", None) or type(exc).__name__)
            raise LedgerDamaged(f"ledger {db} is unreadable: {reason}") from None
        except LedgerError:
            engine.dispose()
            raise
        return ledger

    def _prepare_schema(self, check: bool) -> None:
        with self._write_lock, self.engine.begin() as conn:
            if check and self.engine.dialect.name == "sqlite":
                verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
                if verdict != "ok":
                    raise LedgerDamaged(f"ledger {self.convoy_dir / 'ledger.db'} is corrupt: {verdict}")
            existing = set(sa.inspect(conn).get_table_names())
            if "meta" in existing:
                row = conn.execute(
                    sa.select(meta.c.value).where(meta.c.key == "schema_version")
                ).first()
                if row is None or row[0] != str(SCHEMA_VERSION):
                    found = row[0] if row else "none"
                    raise LedgerDamaged(
                        f"ledger {self.convoy_dir / 'ledger.db'} has schema version {found}, "
                        f"this convoy reads version {SCHEMA_VERSION}"
                    )
            elif existing:
                raise LedgerDamaged(
                    f"ledger {self.convoy_dir / 'ledger.db'} holds foreign tables, not a convoy schema"
                )
            metadata.create_all(conn)
            if "meta" not in existing:
                conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()

    # -- writes -------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """One transaction on the one writing connection, under the process-wide write lock."""
        with self._write_lock:
            if self._writer is None:
                self._writer = self.engine.connect()
            with self._writer.begin():
                yield self._writer

    def _write(self, *statements: Any) -> Any:
        """Run ``statements`` (each a statement or a ``(statement, parameters)`` pair) in one
        transaction, on the one writing connection; return the last result."""
        with self._transaction() as conn:
            result = None
            for statement in statements:
                result = conn.execute(*(statement if isinstance(statement, tuple) else (statement,)))
            return result

    def _write_steps(self, *steps: tuple[Any, dict[str, Any]]) -> int | None:
        """Run prebuilt ``(statement, parameters)`` steps in one transaction; the last row id.

        On SQLite each statement is compiled once and its SQL run on the driver's
        cursor: SQLAlchemy's execution machinery was about half of a job's ledger
        CPU (benchmarks/README.md, bookkeeping: ledger), on the worker threads
        that Prefect's engine needs too. Other databases take the SQLAlchemy path.
        """
        if not self._direct:
            result = self._write(*steps)
            return result.inserted_primary_key[0] if result.is_insert else None
        with self._transaction() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for statement, parameters in steps:
                    sql, slots = self._compiled(statement)
                    cursor.execute(sql, [parameters.get(name, fixed) for name, fixed in slots])
                return int(cursor.lastrowid) if cursor.lastrowid else None
            finally:
                cursor.close()

    def _compiled(self, statement: Any) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """SQLite's SQL of ``statement`` and its (qmark) parameters in order, each with the
        value it has when not given (the statement's own, as ``status="running"``)."""
        form = self._driver_sql.get(statement)
        if form is None:
            compiled = statement.compile(dialect=self.engine.dialect)
            fixed = compiled.params
            slots = tuple((name, fixed.get(name)) for name in compiled.positiontup or ())
            form = self._driver_sql[statement] = (compiled.string, slots)
        return form

    def create_run(self, settings: dict[str, Any], resumed_from: str | None = None) -> str:
        run_id = new_run_id()
        self._write(sa.insert(runs).values(
            id=run_id, status="running", resumed_from=resumed_from, started_at=now(),
            settings=json.dumps(settings), pid=os.getpid(), host=socket.gethostname(),
        ))
        return run_id

    def add_jobs(self, run_id: str, planned: Iterable[PlannedJob],
                 carried: dict[str, dict[str, Any]] | None = None) -> None:
        """Jobs of a new run, pending unless ``carried`` gives a job's state (skip, parts)."""
        stamp = now()
        carried = carried or {}
        rows = []
        for j in planned:
            row = dict(run_id=run_id, job_id=j.id, key=j.key, input=j.input, source=j.source,
                       target=j.output, status="pending", attempts=0, parts_done=0,
                       updated_at=stamp, output=None, checksum=None, size=None, mtime_ns=None,
                       produced_by=None, skip_reason=None, partial_outputs=None, parts_total=None)
            extra = carried.get(j.id)
            if extra:
                row.update(extra)
                if isinstance(row["partial_outputs"], list):
                    row["partial_outputs"] = json.dumps(row["partial_outputs"])
            rows.append(row)
        if rows:
            with self._write_lock, self.engine.begin() as conn:
                conn.execute(sa.insert(jobs), rows)

    def write_run_file(self, run_id: str, settings: dict[str, Any], planned: Sequence[PlannedJob]) -> Path:
        """``runs/RUN_ID.json``: the settings and job list, kept apart from the database."""
        path = self.convoy_dir / "runs" / f"{run_id}.json"
        document = {
            "run_id": run_id,
            "settings": settings,
            "jobs": [dict(id=j.id, input=j.input, source=j.source, output=j.output, key=j.key)
                     for j in planned],
        }
        write_atomic(path, json.dumps(document, indent=1).encode())
        return path

    def start_attempt(self, run_id: str, job_id: str, number: int) -> int:
        where = _bound(run=run_id, job=job_id, n_attempts=number, stamp=now())
        return int(self._write_steps((_JOB_RUNNING, where), (_ATTEMPT_STARTED, where)) or 0)

    def end_attempt(self, attempt_id: int, *, outcome: str, category: str | None = None,
                    message: str | None = None, delay_next: float | None = None) -> None:
        self._write_steps((_ATTEMPT_ENDED, _bound(
            attempt=attempt_id, stamp=now(), outcome=outcome, category=category, message=message,
            delay_next=delay_next)))

    def finish_job(self, run_id: str, job_id: str, status: str, *, attempts: int | None = None,
                   output: str | None = None, checksum: str | None = None,
                   size: int | None = None, error: dict[str, Any] | None = None,
                   skip_reason: str | None = None, mtime_ns: int | None = None,
                   produced_by: str | None = None, attempt: int | None = None,
                   attempt_outcome: str | None = None) -> None:
        """Settle a job; with ``attempt``, end that attempt (outcome ``attempt_outcome``, else
        ``status``; the error's category and message) in the same transaction."""
        error = error or {}
        stamp = now()
        values = _bound(run=run_id, job=job_id, stamp=stamp, status=status, output=output,
                        checksum=checksum, size=size, skip_reason=skip_reason, mtime_ns=mtime_ns,
                        produced_by=produced_by, category=error.get("category"),
                        message=error.get("message"), retryable=error.get("retryable"),
                        n_attempts=attempts)
        steps: list[Any] = [(_JOB_FINISHED, values)]
        if attempt is not None:
            steps.insert(0, (_ATTEMPT_ENDED, _bound(
                attempt=attempt, stamp=stamp, outcome=attempt_outcome or status,
                category=error.get("category"), message=error.get("message"), delay_next=None)))
        self._write_steps(*steps)

    def record_intent(self, run_id: str, job_id: str, path: str, checksum: str) -> None:
        """The output about to be renamed into place: adopted after a crash if it matches."""
        self._write_steps((_INTENT, _bound(run=run_id, job=job_id, path=path, checksum=checksum,
                                         stamp=now())))

    def record_parts(self, run_id: str, job_id: str, paths: list[str], total: int) -> None:
        """Finalized chunk outputs of a job, recorded after each is in place."""
        self._write_steps((_PARTS, _bound(run=run_id, job=job_id, parts_done=len(paths),
                                        parts_total=total, paths=json.dumps(paths), stamp=now())))

    def set_unfinished(self, run_id: str, status: str) -> int:
        """Give every job still pending or running ``status`` (interrupted, aborted)."""
        result = self._write(sa.update(jobs).where(
            jobs.c.run_id == run_id, jobs.c.status.in_(("pending", "running"))
        ).values(status=status, updated_at=now()))
        return int(result.rowcount or 0)

    def finish_run(self, run_id: str, status: str, abort_reason: str | None = None) -> None:
        self._write(sa.update(runs).where(runs.c.id == run_id).values(
            status=status, ended_at=now(), abort_reason=abort_reason))

    # -- reads --------------------------------------------------------------

    def _rows(self, statement: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(statement))

    @staticmethod
    def _run(row: Any) -> RunRecord:
        m = row._mapping
        return RunRecord(m["id"], m["status"], m["resumed_from"], m["started_at"], m["ended_at"],
                         m["abort_reason"], json.loads(m["settings"]), m["pid"], m["host"])

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._rows(sa.select(runs).where(runs.c.id == run_id))
        return self._run(rows[0]) if rows else None

    def runs(self) -> list[RunRecord]:
        rows = self._rows(sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()))
        return [self._run(r) for r in rows]

    def latest_run(self) -> RunRecord | None:
        rows = self._rows(sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1))
        return self._run(rows[0]) if rows else None

    def jobs(self, run_id: str, statuses: Iterable[str] | None = None) -> list[JobRecord]:
        """The jobs of a run by input, optionally only those in ``statuses``."""
        query = sa.select(jobs).where(jobs.c.run_id == run_id)
        if statuses is not None:
            query = query.where(jobs.c.status.in_(list(statuses)))
        return self._job_records(query.order_by(jobs.c.input))

    def _job_records(self, query: Any) -> list[JobRecord]:
        out = []
        for row in self._rows(query):
            m = dict(row._mapping)
            m["partial_outputs"] = json.loads(m["partial_outputs"] or "[]")
            m.pop("updated_at")
            out.append(JobRecord(**m))
        return out

    def job(self, run_id: str, job_id: str) -> JobRecord | None:
        found = self._job_records(sa.select(jobs).where(jobs.c.run_id == run_id,
                                                        jobs.c.job_id == job_id))
        return found[0] if found else None

    def cached_outputs(self, keys: Iterable[str]) -> dict[str, JobRecord]:
        """For each key, the newest job record that succeeded (or was skipped) with an output."""
        wanted = list(keys)
        found: dict[str, JobRecord] = {}
        for start in range(0, len(wanted), 500):
            query = (sa.select(jobs).where(jobs.c.key.in_(wanted[start:start + 500]),
                                           jobs.c.status.in_(("succeeded", "skipped")),
                                           jobs.c.output.is_not(None))
                     .order_by(jobs.c.updated_at))
            for record in self._job_records(query):
                found[record.key] = record
        return found

    def attempts(self, run_id: str, job_id: str | None = None) -> list[AttemptRecord]:
        query = sa.select(attempts).where(attempts.c.run_id == run_id)
        if job_id is not None:
            query = query.where(attempts.c.job_id == job_id)
        rows = self._rows(query.order_by(attempts.c.job_id, attempts.c.number))
        return [AttemptRecord(r.job_id, r.number, r.started_at, r.ended_at, r.outcome, r.category,
                              r.message, r.delay_next) for r in rows]

    def total_attempts(self, job_ids: Iterable[str]) -> dict[str, int]:
        """Attempts of each job across every run of the workspace."""
        wanted = list(job_ids)
        counts: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            batch = wanted[start:start + 500]
            rows = self._rows(sa.select(attempts.c.job_id, sa.func.count())
                              .where(attempts.c.job_id.in_(batch)).group_by(attempts.c.job_id))
            counts.update({r[0]: int(r[1]) for r in rows})
        return counts

    def status_counts(self, run_id: str) -> dict[str, int]:
        rows = self._rows(sa.select(jobs.c.status, sa.func.count())
                          .where(jobs.c.run_id == run_id).group_by(jobs.c.status))
        return {r[0]: int(r[1]) for r in rows}

    def error_counts(self, run_id: str) -> dict[str, int]:
        """Failed attempts of this run per category."""
        rows = self._rows(sa.select(attempts.c.category, sa.func.count())
                          .where(attempts.c.run_id == run_id, attempts.c.category.is_not(None))
                          .group_by(attempts.c.category))
        return dict(sorted(Counter({r[0]: int(r[1]) for r in rows}).items()))
