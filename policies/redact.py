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


_SENSITIVE = ("auth", "token", "key", "secret", "cookie", "password")
REFERENCE_MARKS = ("${env:", "${secret:")


def is_sensitive_header(name: str) -> bool:
    """Header names whose literal values are treated as secrets."""
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE)


def recordable_header(name: str, value: str) -> str:
    """What may be recorded of a header: references as written, sensitive literals masked."""
    if any(mark in value for mark in REFERENCE_MARKS) or not is_sensitive_header(name):
        return value
    return MASK
