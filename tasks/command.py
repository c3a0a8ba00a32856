"""The command converter: one local program run per input, without a shell."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from policies.categories import COMMAND_FAILED, COMMAND_TIMEOUT
from policies.classify import classify_exit, classify_os_error
from policies.retry import Failure
from tasks.errors import AttemptError
from tasks.outputs import Finalized, discard, finalize_output, reserve_temp
from tasks.spec import JobSpec


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to kill the program when convoy's thread dies (kill -9)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    PR_SET_PDEATHSIG = 1

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return hook if sys.platform.startswith("linux") else None


_PREEXEC = _die_with_parent()


@functools.cache
def _setpriv() -> list[str]:
    """``setpriv --pdeathsig KILL --`` (util-linux) where it exists, else nothing.

    It asks Linux for the same thing as the preexec hook, from the program's
    side of the exec. Any Python preexec hook makes subprocess fork the whole
    convoy process instead of using vfork, for every program it starts
    (benchmarks/README.md, overhead, program case).
    """
    found = shutil.which("setpriv")
    if found is None or not sys.platform.startswith("linux"):
        return []
    try:
        usage = subprocess.run([found, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [found, "--pdeathsig", "KILL", "--"] if "--pdeathsig" in usage else []


def spawn_options(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to start and the preexec hook: the program dies with convoy either way.

    Through setpriv when it exists and the program is found; otherwise the
    hook, so that Popen itself reports a missing or non-executable program.
    """
    prefix = _setpriv()
    if prefix and shutil.which(argv[0]):
        return prefix + argv, None
    return argv, _PREEXEC


# only these are filled in: other braces (awk programs, inline scripts) stay as written
_PLACEHOLDER = re.compile(r"\{(input|output|name|stem|jobdir)\}")


def check_readable(source: str) -> None:
    """Fail early, with an input category, when the input cannot be read."""
    try:
        with open(source, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise AttemptError(classify_os_error("input", exc)) from None


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


class CommandConverter:
    """Runs ``argv`` with ``{input}``, ``{output}``, ``{name}``, ``{stem}``, ``{jobdir}`` filled in.

    The program writes ``{output}``, a temporary path beside the final output;
    only an exit code of 0 with that file written makes it the job's output. On
    timeout the program's whole process group is killed.
    """

    def __init__(self, argv: list[str], timeout: float, jobdir: str | None = None) -> None:
        self.argv = argv
        self.timeout = timeout
        self.jobdir = jobdir or os.getcwd()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def render(self, job: JobSpec, temp: str) -> list[str]:
        name = os.path.basename(job.source)
        values = {"input": job.source, "output": temp, "name": name,
                  "stem": Path(name).stem, "jobdir": self.jobdir}
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], part) for part in self.argv]

    def convert(self, job: JobSpec, context: object = None) -> Finalized:
        check_readable(job.source)
        temp = reserve_temp(job.output)
        try:
            self._run(self.render(job, temp))
            if not os.path.exists(temp):
                raise AttemptError(Failure(COMMAND_FAILED, "program exited 0 but wrote no output"))
            return finalize_output(temp, job.output, getattr(context, "intend", None))
        finally:
            discard(temp)

    def _run(self, argv: list[str]) -> None:
        try:
            argv, preexec = spawn_options(argv)
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, start_new_session=True,
                                       preexec_fn=preexec)
        except OSError as exc:
            raise AttemptError(classify_os_error("program", exc)) from None
        with self._lock:
            self._running[process.pid] = process
        try:
            try:
                _, stderr = process.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._kill(process)
                _, stderr = process.communicate()
                message = f"program ran past the timeout of {self.timeout:g} s and was killed"
                last = _last_line(stderr)
                raise AttemptError(Failure(COMMAND_TIMEOUT, f"{message}: {last}" if last else message)) from None
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
        if process.returncode != 0:
            raise AttemptError(classify_exit(process.returncode, _last_line(stderr)))

    @staticmethod
    def _kill(process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill_all(self) -> None:
        """Kill every program still running (the run is being interrupted)."""
        with self._lock:
            running = list(self._running.values())
        for process in running:
            self._kill(process)
