"""Reserving a temporary output path: cheap when the folder is writable, exact when it is not."""

import os
import shutil
import subprocess

import pytest

from state.atomic import TEMP_MARK
from tasks.errors import AttemptError
from tasks.outputs import reserve_temp


def test_a_writable_output_folder_is_not_written_to_when_reserving(tmp_path):
    """No probe file is made and removed: each costs an inode per job on a batch's hot path."""
    folder = tmp_path / "out"
    folder.mkdir()
    os.utime(folder, ns=(1_000_000_000, 1_000_000_000))
    temp = reserve_temp(str(folder / "report.pdf"))
    assert os.stat(folder).st_mtime_ns == 1_000_000_000
    assert os.path.dirname(temp) == str(folder) and TEMP_MARK in temp and temp.endswith(".pdf")
    assert not os.path.exists(temp)


def test_a_missing_output_folder_is_created_when_reserving(tmp_path):
    temp = reserve_temp(str(tmp_path / "a" / "b" / "report.pdf"))
    assert os.path.isdir(tmp_path / "a" / "b") and not os.path.exists(temp)


def test_an_output_folder_blocked_by_a_file_is_output_write(tmp_path):
    (tmp_path / "out").write_text("a file where the folder should be")
    with pytest.raises(AttemptError) as info:
        reserve_temp(str(tmp_path / "out" / "report.pdf"))
    assert info.value.failure.category == "output.write"


@pytest.fixture
def immutable_folder(tmp_path):
    """A folder nobody may create files in, root included (``chattr +i``)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if not shutil.which("chattr") or subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_an_output_folder_that_refuses_new_files_is_output_write(immutable_folder):
    with pytest.raises(AttemptError) as info:
        reserve_temp(str(immutable_folder / "report.pdf"))
    failure = info.value.failure
    assert failure.category == "output.write" and "not permitted" in failure.message.lower()
    assert os.listdir(immutable_folder) == []
