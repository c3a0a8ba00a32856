"""What every scenario shares: the Prefect server, child processes, inputs, figures, the table.

Every measured run happens in a child process of its own (``python -m
benchmarks.common MODULE:FUNCTION JSON``): the clock runs inside the child
around the run alone (imports and interpreter start-up excluded), each side
starts from the same clean state, and the child's peak memory is its own.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH-RESULT "


@dataclass
class Context:
    """Where and how big: the API of the one Prefect server, a scratch folder, a size preset."""

    api_url: str
    workdir: Path
    size: str = "full"  # full | quick | smoke: each scenario maps it to its own sizes
    rounds: int = 5
    server_pid: int | None = None  # known when we started the server: runs wait for it to idle
    child_timeout: float = 3 * 3600.0

    def scratch(self, name: str) -> Path:
        """A fresh empty folder for one run."""
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        return path

    def settle(self, timeout: float = 600.0) -> None:
        """Wait until the server has worked off what earlier runs sent it (events, logs).

        The server processes task-run events after the run has ended; a backlog
        left by one run would otherwise slow down the next one.
        """
        if self.server_pid is None:
            return
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2 and time.monotonic() < deadline:
            before = cpu_seconds(self.server_pid)
            time.sleep(0.5)
            quiet = quiet + 1 if cpu_seconds(self.server_pid) - before < 0.05 else 0

    def child(self, target: str, **kwargs: Any) -> dict[str, Any]:
        """Run ``target`` (``module:function``) in a child process; its JSON figures.

        The server is idle when the child starts; ``server_cpu_seconds`` is what
        the run cost the server, backlog included.
        """
        self.settle()
        server_cpu = cpu_seconds(self.server_pid) if self.server_pid else None
        figures = self._child(target, kwargs)
        if server_cpu is not None and self.server_pid is not None:
            self.settle()
            figures["server_cpu_seconds"] = cpu_seconds(self.server_pid) - server_cpu
        return figures

    def _child(self, target: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVOY_")}
        env.update(PREFECT_API_URL=self.api_url, PYTHONPATH=str(REPO),
                   PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="CRITICAL",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false")
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.common", target, json.dumps(kwargs)],
            check=False, cwd=REPO, env=env, capture_output=True, text=True,
            timeout=self.child_timeout)
        for line in reversed(done.stdout.splitlines()):
            if line.startswith(RESULT_MARK):
                return dict(json.loads(line[len(RESULT_MARK):]))
        raise RuntimeError(f"{target} gave no figures (exit {done.returncode}):\n"
                           f"{done.stderr[-3000:]}")


@dataclass
class Row:
    """One line of the table: convoy's figure next to its baseline's, and the budget."""

    measure: str
    convoy: float | None
    baseline: float | None = None
    baseline_name: str = ""
    unit: str = ""
    budget: str = ""
    met: bool | None = None  # None: no budget for this line

    @property
    def ratio(self) -> float | None:
        if self.convoy is None or not self.baseline:
            return None
        return self.convoy / self.baseline


@dataclass
class Result:
    scenario: str
    rows: list[Row]
    figures: dict[str, Any] = field(default_factory=dict)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def alternate(rounds: int, sides: list[str]) -> Iterator[str]:
    """The sides in turn, round after round, each round starting one further along."""
    for number in range(rounds):
        shift = number % len(sides)
        yield from sides[shift:] + sides[:shift]


# -- work shared by convoy and its baselines ------------------------------------------

def identity(source: Path, output: Path) -> None:
    """The no-op converter: copy the input's few bytes to the output, nothing else."""
    output.write_bytes(source.read_bytes())


def make_inputs(folder: Path, count: int, text: str = "# Title {i}\n\nSome *text* {i}.\n",
                per_dir: int = 1000) -> list[Path]:
    """``count`` small input files, at most ``per_dir`` to a folder."""
    paths = []
    for i in range(count):
        sub = folder / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"doc{i:06d}.md"
        path.write_text(text.format(i=i))
        paths.append(path)
    return paths


def count_files(folder: Path) -> int:
    """Finished outputs: every file below ``folder`` but temporary (hidden) ones."""
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- the one Prefect server -------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prefect_server(home: Path, startup_timeout: float = 180.0) -> Iterator[tuple[str, int]]:
    """``prefect server start`` on 127.0.0.1 in its own PREFECT_HOME; yields (API URL, pid)."""
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port), "--no-ui", "--analytics-off"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(server, url, home, startup_timeout)
        yield url, server.pid
    finally:
        _stop_group(server)


def _wait_healthy(server: subprocess.Popen[bytes], url: str, home: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited; see {home / 'server.log'}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Prefect server did not start in {timeout:.0f} s")
        time.sleep(0.5)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """End the server we started, with the process group it leads (its own session)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- output -----------------------------------------------------------------------------

def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"


def table(results: list[Result]) -> str:
    """A Markdown table: one line per measure, medians, ratio convoy / baseline, budget."""
    lines = ["| scenario | measure | convoy | baseline | ratio | budget | met |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        for row in result.rows:
            unit = f" {row.unit}" if row.unit else ""
            baseline = (f"{_number(row.baseline)}{unit} ({row.baseline_name})"
                        if row.baseline is not None else "—")
            ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
            met = {True: "yes", False: "**no**", None: ""}[row.met]
            lines.append(f"| {result.scenario} | {row.measure} | {_number(row.convoy)}{unit} | "
                         f"{baseline} | {ratio} | {row.budget} | {met} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import platform

    try:
        import prefect

        prefect_version = prefect.__version__
    except ImportError:
        prefect_version = "not installed"
    free = subprocess.run(["free", "-h"], check=False, capture_output=True, text=True).stdout
    return {"nproc": os.cpu_count(), "free -h": free.strip("\n"),
            "python": platform.python_version(),
            "prefect": prefect_version, "platform": platform.platform(),
            "parallel": (shutil.which("parallel") is not None)}


def write_json(path: Path, results: list[Result], machine: dict[str, Any]) -> None:
    document = {
        "machine": machine,
        "scenarios": [
            {"scenario": r.scenario,
             "rows": [{**asdict(row), "ratio": row.ratio} for row in r.rows],
             "figures": r.figures}
            for r in results
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")


# -- child process entry ----------------------------------------------------------------

def _child_main(target: str, arguments: str) -> None:
    module_name, _, function_name = target.partition(":")
    function = getattr(import_module(module_name), function_name)
    figures = dict(function(**json.loads(arguments)))
    figures["peak_rss_mb"] = peak_rss_mb()
    print(RESULT_MARK + json.dumps(figures), flush=True)


if __name__ == "__main__":
    _child_main(sys.argv[1], sys.argv[2])
