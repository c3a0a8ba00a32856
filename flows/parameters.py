"""What the flow's ``settings`` parameter may be, turned into one RunSettings.

A deployment passes JSON: a job file path (the usual case), or an object of
settings, which may name a ``job_file`` whose values it overrides. Python
callers may also pass a RunSettings or a Path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.settings import RunSettings, SettingsError, load_settings


def resolve_settings(value: Any) -> RunSettings:
    """RunSettings from any accepted form; SettingsError (one line) for anything else."""
    if isinstance(value, RunSettings):
        return value
    if isinstance(value, (str, Path)):
        return load_settings(value, {})
    if isinstance(value, dict):
        overrides = dict(value)
        return load_settings(overrides.pop("job_file", None), overrides)
    kind = type(value).__name__
    raise SettingsError(f"invalid setting settings: expected a job file path or settings "
                        f"(got {kind})")
