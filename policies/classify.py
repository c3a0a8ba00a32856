"""Failures mapped to a category: local ones (program, input, output) and remote calls."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from policies.categories import (
    COMMAND_FAILED,
    COMMAND_NOT_FOUND,
    INPUT_MISSING,
    INPUT_UNREADABLE,
    OUTPUT_WRITE,
    REMOTE_AUTH,
    REMOTE_BAD_RESPONSE,
    REMOTE_CONNECT,
    REMOTE_RATE_LIMITED,
    REMOTE_REJECTED,
    REMOTE_TIMEOUT,
    REMOTE_UNAVAILABLE,
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


# -- remote calls -------------------------------------------------------------

TransportKind = Literal["timeout", "connect", "reset", "truncated"]
_TRANSPORT = {"timeout": REMOTE_TIMEOUT, "connect": REMOTE_CONNECT, "reset": REMOTE_CONNECT,
              "truncated": REMOTE_BAD_RESPONSE}


def classify_transport(kind: TransportKind, detail: str) -> Failure:
    """A call that got no complete answer: timed out, refused or reset, or cut short."""
    return Failure(_TRANSPORT[kind], detail)


def classify_http(status: int, *, body_size: int, content_length: int | None = None,
                  retry_after: float | None = None, body_excerpt: str = "") -> Failure | None:
    """An HTTP answer: None when it is a usable conversion, else the Failure it is."""
    reason = " ".join(body_excerpt.split())[:200]
    message = f"HTTP {status}" + (f": {reason}" if reason else "")
    if 200 <= status < 300:
        if content_length is not None and body_size < content_length:
            return Failure(REMOTE_BAD_RESPONSE, f"truncated body: {body_size} of {content_length} bytes")
        if body_size == 0:
            return Failure(REMOTE_BAD_RESPONSE, f"HTTP {status} with an empty body")
        return None
    if status == 429:
        return Failure(REMOTE_RATE_LIMITED, message, retry_after=retry_after)
    if status in (401, 403):
        return Failure(REMOTE_AUTH, message)
    if status >= 500:
        return Failure(REMOTE_UNAVAILABLE, message,
                       retry_after=retry_after if status == 503 else None)
    return Failure(REMOTE_REJECTED, message)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())
