"""The command converter with real subprocesses: outputs appear atomically or not at all."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from state.atomic import TEMP_MARK
from tasks.command import CommandConverter, spawn_options
from tasks.errors import AttemptError
from tasks.spec import JobSpec


def _job(tmp_path, text, name="a.md", out_name=None):
    src = tmp_path / "in" / name
    src.parent.mkdir(exist_ok=True)
    src.write_text(text)
    out = tmp_path / "out" / (out_name or name)
    return JobSpec("id", name, str(src), str(out), "key")


def _temps(folder):
    return [p for p in folder.rglob("*") if TEMP_MARK in p.name] if folder.exists() else []


def _fail(converter, job):
    with pytest.raises(AttemptError) as info:
        converter.convert(job)
    return info.value.failure


def test_success_writes_the_output_atomically_and_reports_its_checksum(tmp_path, fake_argv):
    job = _job(tmp_path, "hello", out_name="sub/a.html")
    done = CommandConverter(fake_argv, timeout=10).convert(job)
    assert open(job.output).read() == "HELLO"
    assert done.size == 5 and len(done.checksum) == 64
    assert _temps(tmp_path / "out") == []


def test_output_placeholder_keeps_the_final_extension(tmp_path):
    job = _job(tmp_path, "x", out_name="a.html")
    script = "import sys; open(sys.argv[2], 'w').write(sys.argv[2])"
    CommandConverter([sys.executable, "-c", script, "{input}", "{output}"], timeout=10).convert(job)
    written = open(job.output).read()
    assert written.endswith(".html") and TEMP_MARK in written


def test_name_stem_and_jobdir_placeholders(tmp_path):
    job = _job(tmp_path, "x", name="doc.md")
    script = "import sys; open(sys.argv[1], 'w').write(' '.join(sys.argv[2:]))"
    CommandConverter([sys.executable, "-c", script, "{output}", "{name}", "{stem}", "{jobdir}"],
                     timeout=10, jobdir="/jobs").convert(job)
    assert open(job.output).read() == "doc.md doc /jobs"


def test_non_zero_exit_is_command_failed_with_the_last_stderr_line(tmp_path, fake_argv):
    job = _job(tmp_path, "FAIL")
    failure = _fail(CommandConverter(fake_argv, timeout=10), job)
    assert failure.category == "command.failed" and failure.exit_code == 1
    assert "fake: cannot convert a.md" in failure.message
    assert not os.path.exists(job.output) and _temps(tmp_path / "out") == []


def test_exit_zero_without_output_is_command_failed(tmp_path, fake_argv):
    failure = _fail(CommandConverter(fake_argv, timeout=10), _job(tmp_path, "NOWRITE"))
    assert failure.category == "command.failed" and "no output" in failure.message


def test_a_hanging_program_and_its_children_are_killed_at_the_timeout(tmp_path):
    job = _job(tmp_path, "x")
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(600)\n"
    )
    started = time.monotonic()
    failure = _fail(CommandConverter([sys.executable, "-c", script], timeout=1.5), job)
    assert failure.category == "command.timeout"
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    time.sleep(0.2)
    assert not _alive(child)


def _alive(pid):
    """Running, not a zombie waiting for a parent that is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_missing_program_is_command_not_found(tmp_path):
    failure = _fail(CommandConverter(["/no/such/program", "{input}"], timeout=5), _job(tmp_path, "x"))
    assert failure.category == "command.not_found" and "/no/such/program" in failure.message


def test_a_program_that_is_not_executable_is_command_not_found(tmp_path):
    program = tmp_path / "not-exec.sh"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o644)
    failure = _fail(CommandConverter([str(program)], timeout=5), _job(tmp_path, "x"))
    assert failure.category in ("command.not_found",)


def test_a_missing_input_is_input_missing(tmp_path, fake_argv):
    job = _job(tmp_path, "x")
    os.unlink(job.source)
    assert _fail(CommandConverter(fake_argv, timeout=5), job).category == "input.missing"


def test_an_input_that_is_a_directory_is_input_unreadable(tmp_path, fake_argv):
    job = _job(tmp_path, "x")
    os.unlink(job.source)
    os.mkdir(job.source)
    assert _fail(CommandConverter(fake_argv, timeout=5), job).category == "input.unreadable"


def test_an_output_folder_that_cannot_be_created_is_output_write(tmp_path, fake_argv):
    (tmp_path / "out").write_text("a file where the output folder should be")
    job = _job(tmp_path, "x", out_name="a.md")
    failure = _fail(CommandConverter(fake_argv, timeout=5), job)
    assert failure.category == "output.write"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_an_output_folder_without_write_permission_is_output_write(tmp_path, fake_argv):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        failure = _fail(CommandConverter(fake_argv, timeout=5), _job(tmp_path, "x"))
    finally:
        out.chmod(0o700)
    assert failure.category == "output.write"


def test_an_existing_output_is_replaced_whole(tmp_path, fake_argv):
    job = _job(tmp_path, "new")
    os.makedirs(os.path.dirname(job.output))
    open(job.output, "w").write("old content that is longer")
    CommandConverter(fake_argv, timeout=5).convert(job)
    assert open(job.output).read() == "NEW"


CHILD = """
import sys
from tasks.command import CommandConverter
from tasks.spec import JobSpec
converter = CommandConverter(["sh", "-c", "echo $$ > {pidfile}; exec sleep 30", "{{output}}"], timeout=60)
converter.convert(JobSpec("id", "a.md", {source!r}, {output!r}, "key"))
"""


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"  # a zombie no one reaps yet
    except FileNotFoundError:
        return True


def test_a_program_dies_when_the_process_that_started_it_is_killed(tmp_path):
    job = _job(tmp_path, "x")
    pidfile = tmp_path / "program.pid"
    script = CHILD.format(pidfile=pidfile, source=job.source, output=job.output)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = subprocess.Popen([sys.executable, "-c", script], cwd=repo, start_new_session=True)
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    program = int(pidfile.read_text())
    os.killpg(child.pid, signal.SIGKILL)  # the program has a session of its own: untouched
    child.wait(timeout=10)
    deadline = time.monotonic() + 10
    while not _gone(program) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(program)


def test_a_program_is_started_without_a_python_pre_exec_hook(tmp_path):
    """A pre-exec hook takes subprocess off its vfork fast path: a fork of the whole
    convoy process per job (benchmarks/README.md, overhead, program case)."""
    if not shutil.which("setpriv"):
        pytest.skip("no setpriv (util-linux) here: the pre-exec hook is the fallback")
    argv, preexec = spawn_options(["true"])
    assert preexec is None
    assert argv[-1] == "true" and "--pdeathsig" in argv
    argv, preexec = spawn_options(["/no/such/program"])
    assert argv == ["/no/such/program"]  # Popen itself says what is wrong with it
