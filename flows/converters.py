"""From settings to the run's parts: the converter, the retry policy and the backoff."""

from __future__ import annotations

import os

from flows.secrets import resolve_headers
from flows.settings import RunSettings, SettingsError
from policies.backoff import Backoff
from policies.retry import RetryPolicy, retry_if_category, retry_if_exit_code
from tasks.command import CommandConverter
from tasks.http import HttpConverter
from tasks.job import Converter
from tasks.python_callable import PythonConverter, load_callable


def build_converter(settings: RunSettings) -> Converter:
    """The converter the settings ask for; SettingsError if it cannot be built."""
    if settings.converter == "command":
        jobdir = str(settings.job_file.parent) if settings.job_file else os.getcwd()
        return CommandConverter(settings.command, settings.timeout, jobdir=jobdir)
    if settings.converter == "python":
        assert settings.python_callable
        try:
            return PythonConverter(load_callable(settings.python_callable))
        except Exception as exc:
            raise SettingsError(
                f"invalid setting converter.callable: cannot load {settings.python_callable} "
                f"({type(exc).__name__}: {exc})") from None
    assert settings.url
    headers, redact = resolve_headers(settings.headers)
    return HttpConverter(settings.url, method=settings.method, headers=headers,
                         timeout=settings.timeout, chunk_lines=settings.chunk_lines, redact=redact)


def retry_policy(settings: RunSettings) -> RetryPolicy:
    condition = retry_if_category(*settings.retry_on) | retry_if_exit_code(*settings.retry_exit_codes)
    return RetryPolicy(max_retries=settings.retries, condition=condition)


def backoff(settings: RunSettings) -> Backoff:
    return Backoff(settings.retry_delay, settings.backoff_factor, settings.max_delay,
                   settings.jitter)
