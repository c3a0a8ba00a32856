"""After a crash: runs left `running` by a process that no longer exists become `interrupted`.

Called only while nobody holds the workspace lock (or we hold it), so any run
still marked running belongs to a process that is gone.
"""

from __future__ import annotations

from state.ledger import Ledger


def reconcile(ledger: Ledger) -> list[str]:
    """Mark dead runs and their unfinished jobs interrupted; return the run ids repaired."""
    repaired = []
    for run in ledger.runs():
        if run.status != "running":
            continue
        ledger.set_unfinished(run.id, "interrupted")
        owner = f"pid {run.pid} on {run.host}" if run.pid else "its process"
        ledger.finish_run(run.id, "interrupted",
                          abort_reason=f"process ended unexpectedly ({owner})")
        repaired.append(run.id)
    return repaired
