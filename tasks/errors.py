"""How a converter reports a failed attempt: an exception carrying a classified Failure."""

from __future__ import annotations

from policies.retry import Failure


class AttemptError(Exception):
    """One attempt failed; ``failure`` says in which category and why."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.category}: {failure.message}")
        self.failure = failure


class Halted(Exception):
    """The run was stopped; the converter stopped at a chunk boundary, keeping its parts."""
