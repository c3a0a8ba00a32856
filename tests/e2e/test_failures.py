"""Failing programs, inputs and outputs never stop the other jobs, and print no traceback."""

import json
import sys

from tests.conftest import FAKE_CONVERT


def _docs(tmp_path, texts):
    docs = tmp_path / "docs"
    for name, text in texts.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    return docs


def _fake(*extra):
    return f"{sys.executable} {FAKE_CONVERT} {{input}} {{output}}"


def _jobs(result):
    assert "Traceback" not in result.stderr, result.stderr
    return {j["input"]: j for j in json.loads(result.stdout)["jobs"]}


def test_a_hanging_program_is_killed_at_the_timeout(tmp_path, convoy):
    _docs(tmp_path, {"a.md": "a", "hang.md": "HANG", "b.md": "b"})
    result = convoy("run", "-i", "docs", "--command", _fake(), "--timeout", "2", "--retries", "0",
                    "--format", "json", "--log-level", "none")
    assert result.returncode == 1
    jobs = _jobs(result)
    assert jobs["hang.md"]["status"] == "retries_exhausted"
    assert jobs["hang.md"]["error"]["category"] == "command.timeout"
    assert jobs["a.md"]["status"] == jobs["b.md"]["status"] == "succeeded"


def test_a_missing_program_is_command_not_found(tmp_path, convoy):
    _docs(tmp_path, {"a.md": "a", "b.md": "b"})
    result = convoy("run", "-i", "docs", "--command", "no-such-converter {input} {output}",
                    "--format", "json", "--log-level", "none")
    assert result.returncode == 1
    jobs = _jobs(result)
    assert {j["error"]["category"] for j in jobs.values()} == {"command.not_found"}
    assert {j["attempts"] for j in jobs.values()} == {1}


def test_an_unwritable_output_folder_is_output_write(tmp_path, convoy):
    _docs(tmp_path, {"a.md": "a", "sub/b.md": "b"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file where a folder should be")
    result = convoy("run", "-i", "docs", "--command", _fake(), "--format", "json",
                    "--log-level", "none")
    assert result.returncode == 1
    jobs = _jobs(result)
    assert jobs["sub/b.md"]["error"]["category"] == "output.write"
    assert jobs["a.md"]["status"] == "succeeded"


def test_all_succeeded_exits_zero(tmp_path, convoy):
    _docs(tmp_path, {"a.md": "a"})
    result = convoy("run", "-i", "docs", "--command", _fake(), "--log-level", "none")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "a.md").read_text() == "A"
