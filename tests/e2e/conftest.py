"""Run the `convoy` command as a user would, against the session's Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONVOY = str(Path(sys.executable).parent / "convoy")


@pytest.fixture
def convoy(prefect_server, tmp_path):
    """Call ``convoy(*args)`` → CompletedProcess; runs in ``tmp_path`` unless cwd is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
    env["PREFECT_API_URL"] = prefect_server

    def run(*args: str, cwd: Path | None = None, timeout: float = 240, **extra_env: str):
        return subprocess.run([CONVOY, *args], cwd=cwd or tmp_path, env={**env, **extra_env},
                              capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture
def convoy_offline(tmp_path):
    """``convoy`` for commands that must not need Prefect at all (bad settings, reports)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONVOY_", "PREFECT_"))}
    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"  # nothing listens there

    def run(*args: str, cwd: Path | None = None, timeout: float = 60):
        return subprocess.run([CONVOY, *args], cwd=cwd or tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return run
