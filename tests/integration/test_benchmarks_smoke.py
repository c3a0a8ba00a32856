"""Every benchmark scenario at a tiny size: correctness only, no timing assertions.

The benchmarks run against the session's Prefect server (no server of their
own); each measured run happens in a child process, as in the real command.
"""

import json
import shutil

import pytest

from benchmarks import (
    common,
    scenario_backoff,
    scenario_bookkeeping,
    scenario_overhead,
    scenario_resume,
    scenario_scale,
    scenario_threshold,
)

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture
def ctx(prefect_server, tmp_path):
    return common.Context(api_url=prefect_server, workdir=tmp_path, size="smoke", rounds=1)


def _only(runs):
    assert len(runs) == 1
    return runs[0]


def test_overhead_both_sides_convert_every_input(ctx):
    result = scenario_overhead.run(ctx)
    noop, program = result.figures["noop"], result.figures["program"]
    for side in ("convoy", "prefect"):
        assert _only(noop["runs"][side])["outputs"] == noop["jobs"]
        assert _only(program["runs"][side])["outputs"] == program["jobs"]
    # bare Prefect asked for what convoy asks of it: the no-op case only
    assert _only(noop["runs"]["prefect-as-convoy"])["outputs"] == noop["jobs"]
    assert _only(noop["runs"]["prefect-as-convoy"])["results"] == noop["jobs"]
    if shutil.which("parallel"):
        assert _only(program["runs"]["parallel"])["outputs"] == program["jobs"]
    walls = [row for row in result.rows if row.measure.endswith("wall per job")]
    assert {row.measure for row in walls} == {"no-op: wall per job", "program: wall per job"}
    assert all(row.convoy is not None and row.convoy > 0 for row in walls)


def test_backoff_retries_the_failing_jobs_once_and_all_succeed(ctx):
    result = scenario_backoff.run(ctx)
    figures = result.figures
    failing, clean = _only(figures["runs"]["failing"]), _only(figures["runs"]["clean"])
    assert failing["succeeded"] == clean["succeeded"] == figures["jobs"]
    assert clean["requests"] == figures["jobs"]
    assert failing["requests"] == figures["jobs"] + figures["failing_jobs"]
    assert figures["failing_jobs"] >= 1
    # what the failures cost, next to the one backoff wait nothing can overlap (the last one's)
    (added,) = [row for row in result.rows if row.measure == "time the failures added to the run"]
    assert added.baseline == figures["retry_delay"] and added.convoy is not None


def test_threshold_observes_the_trip_and_every_attempt(ctx):
    result = scenario_threshold.run(ctx)
    stopped = _only(result.figures["runs"])
    assert stopped["status"] == "aborted" and stopped["tripped"]
    assert stopped["failed_attempts"] >= result.figures["fail_after"]
    assert stopped["attempts_observed"] == stopped["attempts"]
    assert 0 <= stopped["attempts_checked_after_trip"] <= stopped["attempts"]
    assert stopped["requests"] == stopped["attempts"]
    assert stopped["trip_to_end_s"] >= 0


def test_scale_runs_both_sizes_and_records_memory(ctx):
    result = scenario_scale.run(ctx)
    runs = result.figures["runs"]
    assert sorted({r["jobs"] for r in runs}) == sorted(result.figures["sizes"])
    for one in runs:
        assert one["succeeded"] == one["jobs"]
        assert one["peak_rss_mb"] > 0


def test_resume_skips_every_finished_job_at_both_sizes(ctx):
    result = scenario_resume.run(ctx)
    small, large = result.figures["sizes"]
    assert len(result.figures["seconds"][small]) == len(result.figures["seconds"][large]) == 1
    per_job = [row for row in result.rows if row.measure == "cost per skipped job"]
    assert len(per_job) == 1 and per_job[0].budget


def test_the_table_and_the_json_file(tmp_path):
    row = common.Row("no-op: wall per job", convoy=12.0, baseline=10.0, baseline_name="bare Prefect",
                     unit="ms", budget="<= 1.2x", met=True)
    result = common.Result("overhead", rows=[row], figures={"noop": {"jobs": 3}})
    table = common.table([result])
    assert "overhead" in table and "1.20" in table and "bare Prefect" in table
    path = tmp_path / "out.json"
    common.write_json(path, [result], machine={"nproc": 2})
    document = json.loads(path.read_text())
    assert document["machine"] == {"nproc": 2}
    assert document["scenarios"][0]["rows"][0]["ratio"] == pytest.approx(1.2)


def test_bookkeeping_measures_every_piece_and_both_result_stores(ctx):
    result = scenario_bookkeeping.run(ctx)
    runs = result.figures["runs"]
    assert set(runs) == {"ledger", "finalize", "result folder", "prefect local file system"}
    assert all(len(r) == ctx.rounds and all(x["jobs"] == result.figures["jobs"] for x in r)
               for r in runs.values())
    assert all(row.convoy and row.convoy > 0 for row in result.rows)
