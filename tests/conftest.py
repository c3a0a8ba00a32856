"""Shared fixtures: a real Prefect server for the session, and the fake converter program."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_CONVERT = FIXTURES / "fake_convert.py"


def fake_job_toml(before: str = "", after: str = "") -> str:
    """A job file converting ``docs/`` into ``out/`` with the fake program.

    ``before`` holds top-level keys (they must precede the tables), ``after`` more tables.
    """
    argv = f'["{sys.executable}", "{FAKE_CONVERT}", "{{input}}", "{{output}}"]'
    return (f'{before}\n[inputs]\npaths = ["docs"]\n\n[output]\ndir = "out"\n\n'
            f"[converter]\nargv = {argv}\n\n{after}")


def write_inputs(folder: Path, texts: dict[str, str]) -> Path:
    """Create ``folder`` with one file per name, holding its text."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """One Prefect test server for the whole session, in its own PREFECT_HOME.

    Yields the API URL, for subprocesses that should use it instead of starting
    an ephemeral server of their own.
    """
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def fake_argv():
    return [sys.executable, str(FAKE_CONVERT), "{input}", "{output}"]


@pytest.fixture
def fault_server():
    """A fresh fault-injecting conversion service on 127.0.0.1; yields the server (``.url``)."""
    from tests.fixtures.fault_server import FaultServer

    server = FaultServer()
    server.url = server.start()
    yield server
    server.stop()
