"""Start Prefect's own processes (CLI, worker, served flows) for tests, and always stop them.

Each long-lived process gets its own process group, so that stopping it also
stops whatever it started; its output goes to a file that a failing test shows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


def prefect_env(api_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
    env.update(PREFECT_API_URL=api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", PREFECT_CLI_PROMPT="false")
    env.update(extra)
    return env


def prefect_cli(api_url: str, *args: str, cwd: Path = REPO, timeout: float = 120) -> str:
    """Run one ``prefect`` command; fail the test with its output if it fails."""
    result = subprocess.run([PREFECT, *args], cwd=cwd, env=prefect_env(api_url),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@contextlib.contextmanager
def background(argv: list[str], env: dict[str, str], log: Path,
               cwd: Path = REPO) -> Iterator[subprocess.Popen]:
    """A long-lived process in its own group, stopped (then killed) on the way out."""
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen, grace: float = 10) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
