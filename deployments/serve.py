"""Serve the `convert-batch` flow for one job file: on a schedule, and on demand.

usage: python deployments/serve.py JOBFILE [--cron "0 2 * * *"] [--name NAME]

``flow.serve`` registers a deployment `convert-batch/NAME` with the Prefect
server that PREFECT_API_URL names, then runs its flow runs (scheduled, or
started from the UI or `prefect deployment run`) until stopped with Ctrl-C.
No work pool or worker is needed. The job file, the cron string and the server
are checked first, so that a mistake is refused now, in one line with exit
code 2, and not at two in the morning.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _refuse(message)


def _refuse(message: str) -> NoReturn:
    print(f"serve: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="serve.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("jobfile", type=Path, help="TOML job file (the flow's `settings`)")
    parser.add_argument("--cron", help="when to run, as a cron string (UTC); none: on demand only")
    parser.add_argument("--name", help="deployment name [the job file's stem]")
    return parser.parse_args(argv)


def _check_cron(cron: str) -> None:
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError

    try:
        CronSchedule(cron=cron)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        _refuse(f"invalid cron {cron!r}: {reason}")


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    from flows.server import ServerUnreachable, require_reachable_server
    from flows.settings import SettingsError, load_settings

    job_file = args.jobfile.absolute()
    try:
        load_settings(job_file, {})
        if args.cron:
            _check_cron(args.cron)
        require_reachable_server()
    except (SettingsError, ServerUnreachable) as exc:
        _refuse(str(exc))

    from prefect.deployments.runner import EntrypointType

    from flows.batch import convert_batch

    try:
        convert_batch.serve(name=args.name or job_file.stem, cron=args.cron,
                            parameters={"settings": str(job_file)},
                            entrypoint_type=EntrypointType.MODULE_PATH)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
