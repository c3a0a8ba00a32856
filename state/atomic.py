"""Atomic file writes (as Luigi does): write beside, flush to disk, rename into place.

A reader, or a crash at any moment, sees either no file or a complete one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_MARK = ".convoy-tmp-"


def temp_path_for(final: str | Path) -> Path:
    """A fresh, unique temporary path in the final file's folder (same file system)."""
    final = Path(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}{TEMP_MARK}", dir=final.parent)
    os.close(fd)
    return Path(name)


def fsync_dir(folder: str | Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finalize(temp: str | Path, final: str | Path) -> None:
    """Flush ``temp`` to disk and rename it over ``final``; the rename is the commit."""
    with open(temp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    fsync_dir(Path(final).parent)


def write_atomic(final: str | Path, data: bytes) -> None:
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path_for(final)
    try:
        temp.write_bytes(data)
        finalize(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
