"""The Python API: a job file or a settings object in, the run's report out."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from flows.api import run
from flows.settings import SettingsError, load_settings
from state.report import Report
from tests.conftest import fake_job_toml
from tests.integration.prefect_processes import REPO, prefect_env

pytestmark = pytest.mark.usefixtures("prefect_server")



@pytest.fixture
def job(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("alpha")
    (tmp_path / "docs" / "bad.md").write_text("FAIL")
    path = tmp_path / "job.toml"
    path.write_text(fake_job_toml('workspace = "."', '[logging]\nlevel = "none"\n'))
    return path


def test_a_job_file_path_gives_the_report(job, tmp_path):
    report = run(str(job))
    assert isinstance(report, Report)
    assert report.run.status == "failed"  # a failed run is a report, not an exception
    assert {j.input: j.status for j in report.jobs} == {"a.md": "succeeded", "bad.md": "failed"}
    assert (tmp_path / "out" / "a.md").read_text() == "ALPHA"


def test_a_settings_object_gives_the_report(job, tmp_path):
    settings = load_settings(job, {"workers": 1, "output": tmp_path / "elsewhere"})
    report = run(settings)
    assert report.totals["succeeded"] == 1 and report.totals["failed"] == 1
    assert (tmp_path / "elsewhere" / "a.md").read_text() == "ALPHA"


def test_bad_settings_raise_one_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="nope.toml"):
        run(tmp_path / "nope.toml")


def _readme_python_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("### Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python API section has no python example"
    return match.group(1)


def test_the_readme_example_runs_as_written(prefect_server, tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples",
                    ignore=shutil.ignore_patterns("out", ".convoy"))
    result = subprocess.run([sys.executable, "-c", _readme_python_example()], cwd=tmp_path,
                            env=prefect_env(prefect_server), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout
    out = tmp_path / "examples" / "out"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.html")) == [
        "guide/resume.html", "intro.html", "statuses.html"]
