"""Chunked outputs: each chunk's answer is a part file beside the final output.

Parts are finalized atomically and recorded one by one, so a job stopped
anywhere keeps every part it finished, and a later attempt (or resume) asks
the remote only for the parts that are missing.
"""

from __future__ import annotations

import os
from typing import Iterator

from policies.classify import classify_os_error
from state.atomic import write_atomic
from tasks.errors import AttemptError
from tasks.outputs import Finalized, Intent, discard, finalize_output, reserve_temp

_MARK = ".part"


def read_chunks(source: str, lines_per_chunk: int) -> list[bytes]:
    """The input split into chunks of ``lines_per_chunk`` lines (line endings kept)."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    with open(source, "rb") as handle:
        for line in handle:
            current.append(line)
            if len(current) == lines_per_chunk:
                chunks.append(b"".join(current))
                current = []
    if current or not chunks:
        chunks.append(b"".join(current))
    return chunks


def part_path(output: str, index: int, total: int) -> str:
    return f"{output}{_MARK}{index:0{max(3, len(str(total)))}d}"


def part_index(path: str) -> int:
    return int(path.rsplit(_MARK, 1)[1])


def existing_parts(paths: list[str]) -> dict[int, str]:
    """Recorded parts that are still on disk, by 1-based index."""
    return {part_index(p): p for p in paths if os.path.isfile(p)}


def write_part(path: str, content: bytes) -> None:
    try:
        write_atomic(path, content)
    except OSError as exc:
        raise AttemptError(classify_os_error("output", exc)) from None


def join_parts(parts: dict[int, str], output: str, intent: Intent = None) -> Finalized:
    """Join the parts in order into the final output, atomically; then remove the parts."""
    temp = reserve_temp(output)
    try:
        try:
            with open(temp, "wb") as target:
                for index in sorted(parts):
                    with open(parts[index], "rb") as piece:
                        while block := piece.read(1 << 20):
                            target.write(block)
        except OSError as exc:
            raise AttemptError(classify_os_error("output", exc)) from None
        done = finalize_output(temp, output, intent)
    finally:
        discard(temp)
    for path in parts.values():
        discard(path)
    return done


def iter_missing(total: int, done: dict[int, str]) -> Iterator[int]:
    return (i for i in range(1, total + 1) if i not in done)
