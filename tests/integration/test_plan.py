"""Planning: inputs on disk become jobs with stable ids, keys and safe output paths."""

import pytest

from flows.plan import PlanError, plan_jobs
from flows.settings import load_settings


def _settings(tmp_path, **cli):
    cli.setdefault("command", "cp {input} {output}")
    cli.setdefault("output", str(tmp_path / "out"))
    return load_settings(None, cli)


@pytest.fixture
def tree(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("a")
    (docs / "b.txt").write_text("b")
    (docs / "sub" / "c.md").write_text("c")
    return docs


def test_a_directory_is_taken_recursively_with_names_relative_to_it(tmp_path, tree):
    jobs = plan_jobs(_settings(tmp_path, input=[str(tree)]))
    assert [j.input for j in jobs] == ["a.md", "b.txt", "sub/c.md"]
    assert jobs[2].output == str(tmp_path / "out" / "sub" / "c.md")
    assert jobs[2].source == str(tree / "sub" / "c.md")


def test_include_patterns_and_extension(tmp_path, tree):
    jobs = plan_jobs(_settings(tmp_path, input=[str(tree)], include=["*.md"], ext=".html"))
    assert [j.input for j in jobs] == ["a.md", "sub/c.md"]
    assert jobs[0].output.endswith("out/a.html")


def test_extension_without_dot_is_accepted(tmp_path, tree):
    jobs = plan_jobs(_settings(tmp_path, input=[str(tree / "a.md")], ext="html"))
    assert jobs[0].output.endswith("out/a.html")


def test_globs_and_single_files(tmp_path, tree):
    jobs = plan_jobs(_settings(tmp_path, input=[str(tree / "*.md"), str(tree / "b.txt")]))
    assert sorted(j.input for j in jobs) == ["a.md", "b.txt"]


def test_the_same_file_twice_is_one_job(tmp_path, tree):
    jobs = plan_jobs(_settings(tmp_path, input=[str(tree / "a.md"), str(tree / "*.md")]))
    assert [j.input for j in jobs] == ["a.md"]


def test_missing_input_path_is_a_plan_error(tmp_path):
    with pytest.raises(PlanError, match="nope"):
        plan_jobs(_settings(tmp_path, input=[str(tmp_path / "nope")]))


def test_glob_matching_nothing_is_a_plan_error(tmp_path, tree):
    with pytest.raises(PlanError, match=r"\*\.pdf"):
        plan_jobs(_settings(tmp_path, input=[str(tree / "*.pdf")]))


def test_two_inputs_with_one_output_is_a_plan_error(tmp_path, tree):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.md").write_text("x")
    with pytest.raises(PlanError, match="a.md"):
        plan_jobs(_settings(tmp_path, input=[str(tree), str(other)]))


def test_outputs_never_leave_the_output_directory(tmp_path, tree):
    for job in plan_jobs(_settings(tmp_path, input=[str(tree)])):
        assert job.output.startswith(str(tmp_path / "out") + "/")


def test_job_ids_are_stable_and_keys_follow_content_and_converter(tmp_path, tree):
    first = plan_jobs(_settings(tmp_path, input=[str(tree)]))
    again = plan_jobs(_settings(tmp_path, input=[str(tree)]))
    assert [(j.id, j.key) for j in first] == [(j.id, j.key) for j in again]
    assert len({j.id for j in first}) == 3

    (tree / "a.md").write_text("changed")
    changed = plan_jobs(_settings(tmp_path, input=[str(tree)]))
    assert changed[0].id == first[0].id and changed[0].key != first[0].key
    assert changed[1].key == first[1].key

    other_converter = plan_jobs(_settings(tmp_path, input=[str(tree)], command="cat {input}"))
    assert other_converter[1].key != first[1].key
    more_workers = plan_jobs(_settings(tmp_path, input=[str(tree)], workers=7))
    assert more_workers[1].key == first[1].key
