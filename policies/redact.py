"""Hide secret values in any text that may reach the ledger, the logs or a report."""

from __future__ import annotations

from typing import Iterable

MASK = "***"


class Redactor:
    """Replaces every known secret value with ``***``; longest first, so no piece leaks."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
