"""On a terminal, a live progress line (counts per status, jobs per second) goes to stderr."""

import os
import pty
import select
import subprocess
import sys
import time

from tests.conftest import FAKE_CONVERT
from tests.e2e.conftest import CONVOY


def test_progress_is_shown_on_a_terminal_and_the_summary_on_stdout(tmp_path, prefect_server):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"{i}.md").write_text(f"{i} SLEEP=0.5")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
    env.update(PREFECT_API_URL=prefect_server, COLUMNS="120", TERM="xterm")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [CONVOY, "run", "-i", "docs", "--command", f"{sys.executable} {FAKE_CONVERT} {{input}} {{output}}",
         "--workers", "2", "--format", "json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    out, _ = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    assert b"jobs/s" in seen and b"succeeded" in seen
    assert out.lstrip().startswith("{")  # stdout stays the clean summary
