"""Header values that reference secrets: ``${env:NAME}`` and ``${secret:block-name}``.

They are resolved once, when the converter is built; the settings, the ledger
and Prefect's flow parameters keep only the references. Every resolved value
goes to the Redactor, so no message can carry it further.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

from flows.settings import SettingsError
from policies.redact import Redactor, is_sensitive_header

_REFERENCE = re.compile(r"\$\{(env|secret):([^}]+)\}")


def _secret_block(name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        block: Any = Secret.load(name)  # a sync call here: Prefect dispatches on the context
        value = block.get()
    except Exception as exc:
        raise SettingsError(f"cannot load the Prefect Secret block {name!r}: {type(exc).__name__}") from None
    return str(value)


def resolve_headers(headers: dict[str, str]) -> tuple[dict[str, str], Redactor]:
    """Headers with references filled in, and a Redactor for every secret among them."""
    secrets: list[str] = []
    resolved: dict[str, str] = {}

    def fill(header: str) -> Callable[[re.Match[str]], str]:
        def one(match: re.Match[str]) -> str:
            kind, name = match.group(1), match.group(2).strip()
            if kind == "env":
                if name not in os.environ:
                    raise SettingsError(
                        f"invalid setting converter.headers: {header} uses ${{env:{name}}}, "
                        f"but the environment variable {name} is not set")
                value = os.environ[name]
            else:
                value = _secret_block(name)
            secrets.append(value)
            return value
        return one

    for header, template in headers.items():
        value = _REFERENCE.sub(fill(header), template)
        if is_sensitive_header(header):
            secrets.append(value)
            secrets.extend(value.split())  # "Bearer TOKEN": the token alone is secret too
        resolved[header] = value
    return resolved, Redactor(s for s in secrets if len(s) >= 4)
