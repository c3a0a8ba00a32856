"""Local failures (a program, its input, its output) mapped to a category."""

from __future__ import annotations

from typing import Literal

from policies.categories import (
    COMMAND_FAILED,
    COMMAND_NOT_FOUND,
    INPUT_MISSING,
    INPUT_UNREADABLE,
    OUTPUT_WRITE,
)
from policies.retry import Failure

Stage = Literal["program", "input", "output"]


def classify_exit(exit_code: int, last_stderr_line: str = "") -> Failure:
    """A program that exited non-zero; its last stderr line is the useful part."""
    message = f"exit code {exit_code}"
    if last_stderr_line:
        message += f": {last_stderr_line}"
    return Failure(COMMAND_FAILED, message, exit_code=exit_code)


def classify_os_error(stage: Stage, exc: OSError) -> Failure:
    """An OSError raised while starting the program, reading input or writing output."""
    text = exc.strerror or str(exc)
    if exc.filename:
        text = f"{text}: {exc.filename}"
    if stage == "program":
        return Failure(COMMAND_NOT_FOUND, f"cannot execute program: {text}")
    if stage == "input":
        category = INPUT_MISSING if isinstance(exc, FileNotFoundError) else INPUT_UNREADABLE
        return Failure(category, f"cannot read input: {text}")
    return Failure(OUTPUT_WRITE, f"cannot write output: {text}")
