"""The breaker: stop a run when one kind of error keeps repeating across jobs."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from policies.categories import is_valid_category, matches


def parse_fail_after(text: str) -> tuple[str, int]:
    """``"remote.auth=1"`` → ``("remote.auth", 1)``; ValueError says what is wrong."""
    key, sep, count = text.partition("=")
    key, count = key.strip(), count.strip()
    if not sep or not key:
        raise ValueError(f"expected CATEGORY=N, got {text!r}")
    if not is_valid_category(key):
        raise ValueError(f"not a category or family name: {key!r}")
    try:
        limit = int(count)
    except ValueError:
        raise ValueError(f"limit for {key} must be a whole number, got {count!r}") from None
    if limit < 1:
        raise ValueError(f"limit for {key} must be at least 1, got {limit}")
    return key, limit


@dataclass(frozen=True)
class Trip:
    key: str
    count: int
    limit: int

    @property
    def reason(self) -> str:
        return f"failure threshold reached: {self.key} occurred {self.count} times (limit {self.limit})"


class Breaker:
    """Counts failed attempts per category; trips once when a key reaches its limit.

    Thread-safe: worker threads of one process record into the same breaker.
    """

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = dict(limits)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.tripped: Trip | None = None

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def record(self, category: str) -> Trip | None:
        """Count one failed attempt; return the Trip if this one tripped the breaker."""
        with self._lock:
            self._counts[category] += 1
            if self.tripped is not None:
                return None
            for key, limit in self.limits.items():
                count = sum(n for cat, n in self._counts.items() if matches(key, cat))
                if count >= limit:
                    self.tripped = Trip(key, count, limit)
                    return self.tripped
            return None
