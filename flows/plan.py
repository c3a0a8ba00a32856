"""Turn the settings' inputs into a list of jobs: what to read, where to write, and its key.

The job id follows the input's name (stable across runs and edits); the key
follows its content and the converter settings that shape the output, so a
changed input or converter is never mistaken for finished work.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import os
from pathlib import Path

from flows.settings import RunSettings
from state.files import checksum_of
from tasks.spec import JobSpec

CONVERTER_VERSION = "1"  # bump when convoy changes what a converter writes


class PlanError(Exception):
    """The inputs cannot be planned (missing path, colliding outputs); one line."""


def converter_fingerprint(settings: RunSettings) -> str:
    """The settings that change what a job writes (not workers, retries or secrets)."""
    shaping = {
        "version": CONVERTER_VERSION,
        "kind": settings.converter,
        "argv": settings.command,
        "url": settings.url,
        "method": settings.method,
        "chunk_lines": settings.chunk_lines,
        "callable": settings.python_callable,
        "ext": settings.ext,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def job_id(relative_input: str) -> str:
    return hashlib.sha256(relative_input.encode()).hexdigest()[:16]


def _expand(pattern: str) -> list[tuple[str, str]]:
    """(absolute file, name relative to its root) for one input path, directory or glob."""
    if glob.has_magic(pattern):
        base = pattern
        while glob.has_magic(base):
            base = os.path.dirname(base)
        found = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not found:
            raise PlanError(f"input {pattern} matches no file")
        return [(p, os.path.relpath(p, base)) for p in found]
    if os.path.isdir(pattern):
        pairs = []
        for folder, dirs, files in os.walk(pattern):
            dirs.sort()
            for name in files:
                path = os.path.join(folder, name)
                pairs.append((path, os.path.relpath(path, pattern)))
        return pairs
    if os.path.exists(pattern):
        return [(pattern, os.path.basename(pattern))]
    raise PlanError(f"input {pattern} does not exist")


def _inside(path: str, folder: Path) -> bool:
    return os.path.commonpath([path, str(folder)]) == str(folder)


def plan_jobs(settings: RunSettings) -> list[JobSpec]:
    """All jobs of a run, sorted by input name; raises PlanError on unplannable inputs."""
    out_dir = settings.output.resolve()
    excluded = [out_dir, settings.convoy_dir.resolve()]
    converter = converter_fingerprint(settings)
    seen_sources: set[str] = set()
    by_output: dict[str, str] = {}
    jobs: list[JobSpec] = []
    for pattern in settings.input:
        for source, relative in _expand(pattern):
            real = os.path.realpath(source)
            if real in seen_sources or any(_inside(real, ex) for ex in excluded):
                continue
            name = os.path.basename(relative)
            if settings.include and not any(fnmatch.fnmatch(name, p) for p in settings.include):
                continue
            seen_sources.add(real)
            target = relative
            if settings.ext:
                target = os.path.splitext(relative)[0] + settings.ext
            output = os.path.normpath(os.path.join(out_dir, target))
            if not _inside(output, out_dir) or output == str(out_dir):
                raise PlanError(f"input {relative} would write outside the output folder")
            if output in by_output:
                raise PlanError(
                    f"inputs {by_output[output]} and {source} would both write {output}"
                )
            by_output[output] = source
            try:
                content, _ = checksum_of(source)
            except OSError as exc:
                content = f"unreadable:{exc.errno}"  # the job itself reports input.unreadable
            key = hashlib.sha256(f"{content}:{converter}".encode()).hexdigest()
            jobs.append(JobSpec(job_id(relative), relative, os.path.abspath(source), output, key))
    jobs.sort(key=lambda j: j.input)
    return jobs
