"""Whether a failed attempt is tried again: small composable conditions.

In the spirit of tenacity's ``retry_if_*`` objects: each condition is a
predicate over a :class:`Failure`, and ``a | b`` retries when either says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from policies.categories import COMMAND_FAILED, matches

Decision = Literal["retry", "failed", "retries_exhausted"]


@dataclass(frozen=True)
class Failure:
    """One failed attempt, reduced to what the decisions need."""

    category: str
    message: str = ""
    exit_code: int | None = None
    retryable: bool | None = None  # a converter's own verdict wins over the condition
    retry_after: float | None = None  # seconds the remote asked us to wait


@dataclass(frozen=True)
class Condition:
    """A retry predicate that composes with ``|``."""

    test: Callable[[Failure], bool]

    def __call__(self, failure: Failure) -> bool:
        return self.test(failure)

    def __or__(self, other: Condition) -> Condition:
        return Condition(lambda f: self.test(f) or other.test(f))


def retry_if_category(*keys: str) -> Condition:
    """Retry failures whose category is, or belongs to the family of, one of ``keys``."""
    return Condition(lambda f: any(matches(k, f.category) for k in keys))


def retry_if_exit_code(*codes: int) -> Condition:
    """Retry a program that exited with one of ``codes`` (``retry_exit_codes``)."""
    wanted = frozenset(codes)
    return Condition(lambda f: f.category == COMMAND_FAILED and f.exit_code in wanted)


retry_never = Condition(lambda f: False)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt, for failures ``condition`` accepts."""

    max_retries: int
    condition: Condition = retry_never

    def is_retryable(self, failure: Failure) -> bool:
        if failure.retryable is not None:
            return failure.retryable
        return self.condition(failure)

    def decide(self, failure: Failure, attempt: int) -> Decision:
        """What follows the failed ``attempt`` (1-based) of a job."""
        if not self.is_retryable(failure):
            return "failed"
        if attempt <= self.max_retries:
            return "retry"
        return "retries_exhausted"
