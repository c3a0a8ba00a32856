"""Where Prefect keeps a job's cached result: a folder of the workspace, on a real disk."""

import pytest

from tasks.results import ResultFolder


def test_results_are_written_and_read_back_by_key(tmp_path):
    folder = ResultFolder(basepath=str(tmp_path / "results"))
    written = folder.write_path("convoy-abc", b'{"output": "x"}')
    assert written == str(tmp_path / "results" / "convoy-abc")
    assert folder.read_path("convoy-abc") == b'{"output": "x"}'
    assert folder.read_path(written) == b'{"output": "x"}'  # Prefect may pass the full path back


def test_a_missing_result_is_a_value_error_as_prefect_expects(tmp_path):
    folder = ResultFolder(basepath=str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        folder.read_path("convoy-missing")


@pytest.mark.parametrize("key", ["../outside", "/etc/passwd", "a/../../outside"])
def test_keys_outside_the_folder_are_refused(tmp_path, key):
    folder = ResultFolder(basepath=str(tmp_path / "results"))
    with pytest.raises(ValueError, match="outside"):
        folder.write_path(key, b"x")
    assert not (tmp_path / "outside").exists()


def test_a_result_that_cannot_be_written_is_an_os_error(tmp_path):
    (tmp_path / "results").write_text("a file where the folder should be")
    folder = ResultFolder(basepath=str(tmp_path / "results"))
    with pytest.raises(OSError):
        folder.write_path("convoy-abc", b"x")
