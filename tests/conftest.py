"""Shared fixtures: a real Prefect server for the session, and the fake converter program."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_CONVERT = FIXTURES / "fake_convert.py"


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
