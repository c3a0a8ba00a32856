"""The benchmark command: every scenario, a table on stdout, the figures as JSON.

    python benchmarks/run.py [--quick] [--only NAME ...] [--rounds N]
                             [--json PATH] [--readme] [--api-url URL]

One Prefect server is started for the whole command (unless ``--api-url``
names one), and convoy and its baselines run against it, in turns. Exit code
0 when every budget is met, 1 when one is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import nullcontext
from importlib import import_module
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Context, Result, machine, prefect_server, table, write_json

SCENARIOS = ["overhead", "resume", "backoff", "threshold", "scale", "bookkeeping"]
HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def run_scenarios(ctx: Context, names: list[str]) -> list[Result]:
    results = []
    for name in names:
        module = import_module(f"benchmarks.scenario_{name}")
        available = getattr(module, "available", lambda: True)
        if not available():
            print(f"{name}: skipped — {module.UNAVAILABLE}", flush=True)
            continue
        print(f"{name}: running", flush=True)
        results.append(module.run(ctx))
    return results


def _machine_text(info: dict[str, object]) -> str:
    return (f"Measured on {info['platform']}, `nproc` = {info['nproc']}, Python {info['python']}, "
            f"Prefect {info['prefect']}.\n\n```\n$ free -h\n{info['free -h']}\n```")


def update_readme(results: list[Result], info: dict[str, object], command: str) -> None:
    """Put the latest table, and the machine it ran on, between the README's markers."""
    text = README.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    section = f"{START}\n`{command}`\n\n{_machine_text(info)}\n\n{table(results)}\n{END}"
    README.write_text(head + section + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a first look")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=SCENARIOS)
    parser.add_argument("--rounds", type=int, default=None,
                        help="measured runs per side (default 5, or 3 with --quick)")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    parser.add_argument("--readme", action="store_true",
                        help="also write the table into benchmarks/README.md")
    parser.add_argument("--api-url", help="use this Prefect server instead of starting one")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="convoy-bench-") as scratch:
        work = Path(scratch)
        (work / "prefect-home").mkdir()
        server = (nullcontext((args.api_url, None)) if args.api_url
                  else prefect_server(work / "prefect-home"))
        with server as (api_url, server_pid):
            ctx = Context(api_url=api_url, workdir=work, size="quick" if args.quick else "full",
                          rounds=rounds, server_pid=server_pid)
            results = run_scenarios(ctx, args.only)
    print()
    print(table(results))
    write_json(args.json, results, info)
    print(f"\nfigures written to {args.json}")
    if args.readme:
        command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
        update_readme(results, info, command.strip())
    missed = [row for r in results for row in r.rows if row.met is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
