"""`convoy run --url` end to end: exit 3 on a tripped threshold, one line, no traceback."""

import json


def test_a_dead_service_trips_the_threshold_and_exits_3(tmp_path, convoy, fault_server):
    fault_server.default_status = 503
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(12):
        (docs / f"{i}.txt").write_text(f"job {i}")
    result = convoy("run", "-i", "docs", "--url", fault_server.url, "--workers", "2",
                    "--retry-delay", "0.05", "--fail-after", "remote=3", "--format", "json",
                    "--log-level", "none")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["run"]["status"] == "aborted"
    assert report["run"]["abort_reason"].startswith("failure threshold reached: remote")
    assert len(fault_server.requests) <= 3 + 1
