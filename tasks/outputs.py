"""Finalizing an output: from a temporary file beside it to the final name, atomically."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from policies.classify import classify_os_error
from state.atomic import TEMP_MARK, finalize
from tasks.errors import AttemptError


@dataclass(frozen=True)
class Finalized:
    output: str
    checksum: str
    size: int


def checksum_of(path: str | Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def reserve_temp(final: str) -> str:
    """A temporary path beside ``final`` that keeps its extension (converters look at it).

    The folder is created and probed for writing first, so an unwritable output
    folder is reported as ``output.write`` before the converter runs.
    """
    folder, name = os.path.split(final)
    stem, suffix = os.path.splitext(name)
    temp = os.path.join(folder, f".{stem}{TEMP_MARK}{secrets.token_hex(4)}{suffix}")
    try:
        os.makedirs(folder, exist_ok=True)
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


def finalize_output(temp: str, final: str) -> Finalized:
    """Flush and rename ``temp`` into place; only then does the output count."""
    try:
        checksum, size = checksum_of(temp)
        finalize(temp, final)
    except OSError as exc:
        discard(temp)
        raise AttemptError(classify_os_error("output", exc)) from None
    return Finalized(final, checksum, size)
