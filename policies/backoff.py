"""Exponential backoff with jitter, computed up front as a list of delays.

Prefect ignores ``retry_jitter_factor`` for task retries, so the jitter is
baked into the list handed to ``retry_delay_seconds``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.0  # each delay is scaled by a factor in [1 - jitter, 1 + jitter]

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (1-based), capped at ``max_delay``."""
        base = self.initial * self.factor ** (retry - 1)
        if self.jitter:
            base *= 1 + (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(base, self.max_delay))

    def delays(self, retries: int, rng: random.Random | None = None) -> list[float]:
        return [self.delay(n, rng) for n in range(1, retries + 1)]


def honour_retry_after(delay: float, retry_after: float | None, max_delay: float) -> float:
    """The wait before the next attempt: at least what the remote asked for, capped."""
    if retry_after is None:
        return delay
    return max(delay, min(retry_after, max_delay))
