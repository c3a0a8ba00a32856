"""The python converter: ``package.module:function`` called once per input.

The function gets ``(source: Path, output: Path)``. It either writes ``output``
(a temporary path beside the final one) or returns the converted content as
``str`` or ``bytes``. It may raise ``JobError`` with its own category; any
other exception is filed under ``python.failed``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Callable

from policies.categories import JobError
from policies.retry import Failure
from tasks.command import check_readable
from tasks.errors import AttemptError
from tasks.outputs import Finalized, discard, finalize_output, reserve_temp
from tasks.spec import JobSpec

PYTHON_FAILED = "python.failed"


def load_callable(path: str) -> Callable[..., Any]:
    """Import ``module:function``; ImportError/AttributeError say what is missing."""
    module_name, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{path} is not callable")
    return target


class PythonConverter:
    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def convert(self, job: JobSpec, context: object = None) -> Finalized:
        check_readable(job.source)
        temp = reserve_temp(job.output)
        try:
            try:
                produced = self.function(Path(job.source), Path(temp))
            except JobError as exc:
                raise AttemptError(Failure(exc.category, exc.message, retryable=exc.retryable)) from None
            except Exception as exc:  # the user's code: any failure is a job failure
                raise AttemptError(Failure(PYTHON_FAILED, f"{type(exc).__name__}: {exc}")) from None
            if produced is not None and not os.path.exists(temp):
                data = produced.encode() if isinstance(produced, str) else bytes(produced)
                with open(temp, "wb") as handle:
                    handle.write(data)
            if not os.path.exists(temp):
                raise AttemptError(Failure(PYTHON_FAILED, "function returned nothing and wrote no output"))
            return finalize_output(temp, job.output, getattr(context, "intend", None))
        finally:
            discard(temp)
