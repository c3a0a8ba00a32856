"""Scenario 5, scale: one run of 10,000 and one of 50,000 no-op jobs, 4 workers.

Each run is a child process timing ``run_batch`` (plan, ledger, flow, report);
its peak resident memory comes from ``getrusage``. Budgets: the wall time per
job of the large run within 1.3x that of the small one (convoy's cost grows no
faster than the number of jobs), and peak memory under 1 GiB. The small run
goes before and after the large one (its median is taken), so that a drift of
the machine shows; the large run goes once (it takes many minutes on 2 cores).
"""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks.common import Context, Result, Row, make_inputs, median

SIZES = {"full": [10_000, 50_000], "quick": [2_000, 6_000], "smoke": [4, 8]}
WORKERS = 4
GROWTH_BUDGET = 1.3
MEMORY_BUDGET_MB = 1024.0


def run(ctx: Context) -> Result:
    small, large = SIZES[ctx.size]
    inputs = {size: ctx.scratch(f"scale-{size}-inputs") for size in (small, large)}
    for size, folder in inputs.items():
        make_inputs(folder, size)
    runs: list[dict[str, Any]] = []
    for size in (small, large) if ctx.size == "smoke" else (small, large, small):
        run_dir = ctx.scratch(f"scale-{size}")
        figures = ctx.child("benchmarks.scenario_overhead:convoy_side", inputs=str(inputs[size]),
                            out=str(run_dir / "out"), workspace=str(run_dir), workers=WORKERS,
                            converter={"python_callable": "benchmarks.common:identity"})
        shutil.rmtree(run_dir, ignore_errors=True)
        figures.update(jobs=size, per_job_ms=figures["seconds"] / size * 1000)
        print(f"  scale: {size} jobs {figures['seconds']:.1f} s, "
              f"{figures['per_job_ms']:.2f} ms/job, {figures['peak_rss_mb']:.0f} MB", flush=True)
        runs.append(figures)
    for folder in inputs.values():
        shutil.rmtree(folder, ignore_errors=True)

    def per_job(size: int) -> float:
        return median([r["per_job_ms"] for r in runs if r["jobs"] == size])

    peak = max(r["peak_rss_mb"] for r in runs)
    rows = [
        Row(f"wall per job, {small:,} jobs", per_job(small), unit="ms"),
        Row(f"wall per job, {large:,} jobs", per_job(large), per_job(small), f"{small:,} jobs",
            "ms", f"<= {GROWTH_BUDGET}x", per_job(large) <= GROWTH_BUDGET * per_job(small)),
        Row("peak RSS of the convoy process", peak, unit="MB",
            budget=f"< {MEMORY_BUDGET_MB:,.0f} MB", met=peak < MEMORY_BUDGET_MB),
    ]
    return Result("scale", rows, {"sizes": [small, large], "workers": WORKERS, "runs": runs})
