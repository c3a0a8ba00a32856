"""Error categories: the names every failure is filed under (CONTRACT §5)."""

from __future__ import annotations

import re

REMOTE_TIMEOUT = "remote.timeout"
REMOTE_CONNECT = "remote.connect"
REMOTE_UNAVAILABLE = "remote.unavailable"
REMOTE_RATE_LIMITED = "remote.rate_limited"
REMOTE_AUTH = "remote.auth"
REMOTE_REJECTED = "remote.rejected"
REMOTE_BAD_RESPONSE = "remote.bad_response"
COMMAND_FAILED = "command.failed"
COMMAND_TIMEOUT = "command.timeout"
COMMAND_NOT_FOUND = "command.not_found"
INPUT_MISSING = "input.missing"
INPUT_UNREADABLE = "input.unreadable"
INPUT_INVALID = "input.invalid"
OUTPUT_WRITE = "output.write"
INTERNAL = "internal"

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def is_valid_category(name: str) -> bool:
    """A category is a lower-case dotted name such as ``remote.auth``."""
    return bool(_NAME.match(name))


def family(category: str) -> str:
    """The family of ``remote.auth`` is ``remote``: thresholds may name either."""
    return category.split(".", 1)[0]


def matches(key: str, category: str) -> bool:
    """True when ``key`` names ``category`` itself or one of its dotted ancestors."""
    return category == key or category.startswith(key + ".")


class JobError(Exception):
    """A failure a converter understands: raise it with its own category.

    ``retryable`` None leaves the decision to the run's ``retry_on`` setting;
    True or False overrides it for this failure.
    """

    def __init__(self, message: str, *, category: str, retryable: bool | None = None) -> None:
        if not is_valid_category(category):
            raise ValueError(f"not a category name: {category!r} (use a dotted lower-case name)")
        super().__init__(message)
        self.message = message
        self.category = category
        self.retryable = retryable
