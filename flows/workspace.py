"""Opening a workspace's state: the lock, the ledger (moved aside when damaged), reconciliation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from state.ledger import Ledger, LedgerDamaged, LedgerError, move_aside
from state.lock import WorkspaceLock
from state.reconcile import reconcile

log = logging.getLogger("convoy.workspace")

AFTERWARDS = ("`convoy resume --rebuild` rebuilds the last run from .convoy/runs/, "
              "`convoy run JOBFILE` starts afresh and reuses the intact outputs")


@dataclass
class Workspace:
    """The ledger of a workspace this process owns (it holds the lock)."""

    ledger: Ledger
    lock: WorkspaceLock

    def close(self) -> None:
        self.ledger.close()
        self.lock.release()


def _open_or_move_aside(path: Path, refuse: bool) -> Ledger:
    try:
        return Ledger.open(path)
    except LedgerDamaged as exc:
        moved = move_aside(path)
        message = f"{exc}; moved it to {moved.name}"
        if refuse:
            raise LedgerError(f"{message}; {AFTERWARDS}") from None
        log.warning("%s; starting a new ledger", message)
        return Ledger.open(path)


def open_workspace(path: Path, refuse_damaged: bool = False) -> Workspace:
    """Lock the workspace, open its ledger and repair what a killed run left behind.

    Raises WorkspaceBusy when another run is active, LedgerError when the
    ledger is damaged and ``refuse_damaged`` (it is moved aside either way).
    """
    lock = WorkspaceLock(path / ".convoy").acquire()
    try:
        ledger = _open_or_move_aside(path, refuse_damaged)
    except BaseException:
        lock.release()
        raise
    reconcile(ledger)
    return Workspace(ledger, lock)


def open_for_reading(path: Path) -> Ledger:
    """The ledger for status, reports and plans; runs left by dead processes are repaired.

    A damaged ledger is left where it is: only ``resume`` and ``run`` move it aside.
    """
    if not (path / ".convoy" / "ledger.db").exists():
        raise LedgerError(f"no run in {path}: start one with `convoy run JOBFILE`")
    try:
        ledger = Ledger.open(path)
    except LedgerDamaged as exc:
        raise LedgerError(f"{exc}; `convoy resume` moves it aside and says how to recover") from None
    lock = WorkspaceLock(path / ".convoy")
    if lock.is_free():
        reconcile(ledger)
    return ledger
