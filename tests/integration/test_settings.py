"""Run settings: job file, CONVOY_* environment and command line, in that order of weight."""

import textwrap

import pytest

from flows.settings import SettingsError, load_settings

JOB = """
[inputs]
paths = ["docs"]
include = ["*.md"]

[output]
dir = "out"
extension = ".html"

[converter]
kind = "command"
argv = ["pandoc", "{input}", "-o", "{output}"]
retry_exit_codes = [75]

[run]
workers = 8
timeout = 30

[retry]
max_retries = 2
initial_delay = 0.5

[thresholds]
on_threshold = "drain"
[thresholds.fail_after]
"remote.auth" = 1

[logging]
level = "debug"
"""


@pytest.fixture
def jobfile(tmp_path, monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("CONVOY_"):
            monkeypatch.delenv(name)
    path = tmp_path / "job.toml"
    path.write_text(JOB)
    return path


def test_job_file_values_are_read_and_paths_resolved_against_its_folder(jobfile):
    s = load_settings(jobfile, {})
    assert s.input == [str(jobfile.parent / "docs")]
    assert s.include == ["*.md"]
    assert s.output == jobfile.parent / "out"
    assert s.ext == ".html"
    assert s.converter == "command"
    assert s.command == ["pandoc", "{input}", "-o", "{output}"]
    assert s.retry_exit_codes == [75]
    assert (s.workers, s.timeout, s.retries, s.retry_delay) == (8, 30, 2, 0.5)
    assert s.on_threshold == "drain"
    assert s.fail_after == {"remote.auth": 1}
    assert s.log_level == "debug"


def test_environment_beats_job_file_and_command_line_beats_both(jobfile, monkeypatch):
    monkeypatch.setenv("CONVOY_WORKERS", "3")
    monkeypatch.setenv("CONVOY_RETRIES", "5")
    s = load_settings(jobfile, {"retries": 1})
    assert s.workers == 3
    assert s.retries == 1


def test_defaults_without_a_job_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(None, {"input": ["a"], "command": "cat {input}"})
    assert s.command == ["cat", "{input}"]
    assert s.converter == "command"
    assert s.retries == 3 and s.retry_delay == 1 and s.backoff_factor == 2 and s.max_delay == 60
    assert s.timeout == 300 and s.workers >= 1
    assert s.output == tmp_path / "out"
    assert s.log_level == "information" and s.format == "table"


def test_fail_after_from_the_command_line(tmp_path):
    s = load_settings(None, {"input": ["a"], "command": "x", "fail_after": ["remote=3", "command.failed=2"]})
    assert s.fail_after == {"remote": 3, "command.failed": 2}


def test_env_list_values(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOY_INPUT", "docs")
    monkeypatch.setenv("CONVOY_FAIL_AFTER", "remote=3,remote.auth=1")
    s = load_settings(None, {"command": "x"})
    assert s.input == [str(tmp_path / "docs")] or s.input[0].endswith("docs")
    assert s.fail_after == {"remote": 3, "remote.auth": 1}


def test_snapshot_hides_header_values(tmp_path):
    s = load_settings(None, {"input": ["a"], "url": "http://127.0.0.1:1/x"})
    s = s.model_copy(update={"headers": {"Authorization": "Bearer abc"}})
    assert s.snapshot()["headers"] == {"Authorization": "***"}


def _error(jobfile, cli=None, text=None):
    if text is not None:
        jobfile.write_text(textwrap.dedent(text))
    with pytest.raises(SettingsError) as info:
        load_settings(jobfile, cli or {})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_negative_retries_is_refused(jobfile):
    assert "retries" in _error(jobfile, {"retries": -1})


def test_unknown_converter_kind_is_refused(jobfile):
    message = _error(jobfile, text=JOB.replace('kind = "command"', 'kind = "teleport"'))
    assert "converter" in message and "teleport" in message


def test_malformed_toml_is_refused(jobfile):
    message = _error(jobfile, text="[inputs\npaths = 3")
    assert "TOML" in message and str(jobfile) in message


def test_missing_job_file_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="job file"):
        load_settings(tmp_path / "nope.toml", {})


def test_bad_fail_after_syntax_is_refused(jobfile):
    assert "fail_after" in _error(jobfile, {"fail_after": ["remote.auth"]})


def test_unknown_log_level_is_refused(jobfile):
    message = _error(jobfile, {"log_level": "loud"})
    assert "log_level" in message and "loud" in message


def test_unknown_key_in_job_file_is_refused(jobfile):
    message = _error(jobfile, text=JOB.replace("workers = 8", "wokers = 8"))
    assert "run.wokers" in message


def test_command_converter_needs_an_argv(tmp_path):
    with pytest.raises(SettingsError, match="command"):
        load_settings(None, {"input": ["a"], "converter": "command"})


def test_no_converter_at_all_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="converter"):
        load_settings(None, {"input": ["a"]})


def test_no_input_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVOY_INPUT", raising=False)
    with pytest.raises(SettingsError, match="input"):
        load_settings(None, {"command": "x"})


def test_bad_environment_value_names_the_variable(jobfile, monkeypatch):
    monkeypatch.setenv("CONVOY_WORKERS", "many")
    assert "workers" in _error(jobfile)
