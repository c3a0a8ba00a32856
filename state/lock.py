"""One run at a time per workspace: an advisory lock the kernel drops when its holder dies.

``flock`` is released by the kernel when the process ends, however it ends,
so a lock left by a killed run can never block the next one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any


class WorkspaceBusy(Exception):
    """Another convoy process is running in this workspace; the message names it."""


class WorkspaceLock:
    def __init__(self, convoy_dir: Path) -> None:
        self.path = convoy_dir / "lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> WorkspaceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe(handle.read())
            handle.close()
            raise WorkspaceBusy(f"another convoy run is active in {self.path.parent.parent}: "
                                f"{holder}; wait for it or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def is_free(self) -> bool:
        """True when no process holds the lock (checked without keeping it)."""
        try:
            self.acquire()
        except WorkspaceBusy:
            return False
        self.release()
        return True

    def __enter__(self) -> WorkspaceLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _describe(text: str) -> str:
    try:
        info = json.loads(text)
        return f"process {info['pid']} on {info['host']} since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "a process that holds its lock"
