"""Finalizing an output: from a temporary file beside it to the final name, atomically.

Before the rename the job records its intent (path and checksum) in the
ledger, after it the success: a crash in between leaves a complete file that
the next resume adopts by its checksum instead of making it again.
"""

from __future__ import annotations

import os
import secrets
import signal
from dataclasses import dataclass
from typing import Callable, Optional

from policies.classify import classify_os_error
from state.atomic import TEMP_MARK, finalize
from state.files import checksum_of
from tasks.errors import AttemptError

Intent = Optional[Callable[[str, str], None]]  # (final path, checksum) recorded before rename

FAULT_VARIABLE = "CONVOY_FAULT"  # tests only: "before-rename" or "after-rename", optional ":NAME"


@dataclass(frozen=True)
class Finalized:
    output: str
    checksum: str
    size: int
    mtime_ns: int


def _fault_point(point: str, final: str) -> None:
    """Die here, as a power cut would, when a test asks for it through the environment."""
    wanted = os.environ.get(FAULT_VARIABLE)
    if not wanted:
        return
    where, _, name = wanted.partition(":")
    if where == point and (not name or os.path.basename(final) == name):
        os.kill(os.getpid(), signal.SIGKILL)


def reserve_temp(final: str) -> str:
    """A temporary path beside ``final`` that keeps its extension (converters look at it).

    The folder is created and checked for writing first, so an unwritable output
    folder is reported as ``output.write`` before the converter runs. The check
    is ``access(2)``; only a folder it refuses is probed with a real file, for the
    exact error. A probe file would cost a file made and removed on every job
    (one file creation took 26 to 830 us of CPU on the benchmark machine).
    """
    folder, name = os.path.split(final)
    stem, suffix = os.path.splitext(name)
    temp = os.path.join(folder, f".{stem}{TEMP_MARK}{secrets.token_hex(4)}{suffix}")
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            os.close(fd)
            os.unlink(temp)
    except OSError as exc:
        raise AttemptError(classify_os_error("output", exc)) from None
    return temp


def discard(temp: str) -> None:
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass


def finalize_output(temp: str, final: str, intent: Intent = None) -> Finalized:
    """Flush and rename ``temp`` into place; only then does the output count."""
    try:
        checksum, size = checksum_of(temp)
        if intent is not None:
            intent(final, checksum)
        _fault_point("before-rename", final)
        finalize(temp, final)
        _fault_point("after-rename", final)
        mtime_ns = os.stat(final).st_mtime_ns
    except OSError as exc:
        discard(temp)
        raise AttemptError(classify_os_error("output", exc)) from None
    return Finalized(final, checksum, size, mtime_ns)
