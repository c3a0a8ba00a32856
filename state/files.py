"""Facts about files on disk: checksums, and whether a recorded output is still intact."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_BLOCK = 1 << 20


def checksum_of(path: str | Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def output_intact(path: str | None, size: int | None, mtime_ns: int | None,
                  checksum: str | None) -> tuple[bool, str]:
    """Is the recorded output still the one that was written? (intact, reason if not)

    A stat with the recorded size and modification time is taken as proof (as
    make and rsync do), so checking 10,000 outputs costs 10,000 stats; only a
    file whose time changed is read again and compared by checksum.
    """
    if not path:
        return False, "no output recorded"
    try:
        stat = os.stat(path)
    except OSError:
        return False, "output missing"
    if size is not None and stat.st_size != size:
        return False, "output changed"
    if mtime_ns is not None and stat.st_mtime_ns == mtime_ns:
        return True, ""
    if checksum is None:
        return False, "output changed"
    try:
        found, _ = checksum_of(path)
    except OSError:
        return False, "output unreadable"
    return (True, "") if found == checksum else (False, "output changed")
