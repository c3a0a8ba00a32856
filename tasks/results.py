"""Where Prefect keeps a job's cached result: ``.convoy/results`` of the workspace.

Prefect's ``LocalFileSystem`` resolves the folder and the key through
``realpath`` on every read and write (five times per job). The folder is
resolved once here and keys are checked as strings, with the same rule:
nothing outside the folder (benchmarks/README.md, bookkeeping: result
storage).
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect.filesystems import LocalFileSystem
from pydantic import PrivateAttr


class ResultFolder(LocalFileSystem):
    """A ``LocalFileSystem`` whose folder is resolved once, and whose keys are not."""

    _block_type_name = "convoy result folder"
    _folder: Path | None = PrivateAttr(default=None)

    def _resolve_path(self, path: str | None) -> Path:  # type: ignore[override]
        if self._folder is None:
            self._folder = Path(self.basepath or ".").expanduser().resolve()
        if path is None:
            return self._folder
        folder = str(self._folder)
        resolved = os.path.normpath(os.path.join(folder, os.path.expanduser(path)))
        if resolved != folder and not resolved.startswith(folder + os.sep):
            raise ValueError(f"Provided path {resolved} is outside of the base path {folder}.")
        return Path(resolved)
