"""Scenario 2, resume skip — PLACEHOLDER until `convoy resume` exists (``flows.resume``).

What it will measure (DESIGN.md → Performance: the skip costs at most 0.1 ms
per skipped job, about what GNU Parallel's ``--resume`` costs):

1. Two finished runs of the no-op converter (``common.identity``), one of
   10,000 jobs and one of 100, each in its own workspace, made before the
   clock starts.
2. Resume each one (``flows.resume``, through its Python API, in a child
   process like every other run); time the resume alone, several rounds,
   the two sizes in turns. Every job must come back ``skipped`` with its
   output intact, and no Prefect task run may be created for a skipped job.
3. Cost per skipped job = (median resume of 10,000 - median resume of 100)
   / 9,900: the fixed cost of a resume (the flow run, the ledger, the report)
   cancels out. Budget: <= 0.1 ms. A side figure: the same resume with GNU
   Parallel's ``--resume --joblog`` over the same inputs.

Until ``flows.resume`` can be imported the harness skips this scenario with
``UNAVAILABLE`` as the message.
"""

from __future__ import annotations

from importlib.util import find_spec

from benchmarks.common import Context, Result

UNAVAILABLE = "needs `convoy resume` (a module flows.resume), which is not built yet"


def available() -> bool:
    return find_spec("flows.resume") is not None


def run(ctx: Context) -> Result:
    raise NotImplementedError(UNAVAILABLE)
