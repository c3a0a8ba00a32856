"""Logging: convoy's levels, a rotating log file, terse stderr, and Prefect's run logs.

Levels: none, error, warning, information, debug, verbose (finer than debug).
The file gets everything at the chosen level, tracebacks included; stderr gets
warnings and errors as one line each, never a traceback below ``debug``; the
run's lines and every job problem also go to the Prefect run they belong to.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

VERBOSE = 5
logging.addLevelName(VERBOSE, "VERBOSE")

LEVELS = {
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "information": logging.INFO,
    "debug": logging.DEBUG,
    "verbose": VERBOSE,
}
LOG_FILE = "convoy.log"
JOB_LOGGER = "convoy.job"
_MARK = "_convoy_handler"


class LogSetupError(Exception):
    """The log folder or file cannot be created."""


class _OneLine(logging.Formatter):
    """Message only; the traceback stays in the log file."""

    def format(self, record: logging.LogRecord) -> str:
        return f"convoy: {record.getMessage()}"


class RotatingLog(logging.handlers.RotatingFileHandler):
    """The standard rotating file, formatting each record once (the stdlib formats it
    twice: once to measure it, once to write it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
            position = self.stream.tell()
            if self.maxBytes > 0 and position and position + len(text) >= self.maxBytes:
                self.doRollover()
            self.stream.write(text)
            self.flush()
        except Exception:
            self.handleError(record)


class RunLogForwarder(APILogHandler):
    """Sends convoy's records to the Prefect run they happen in; outside a run, drops them.

    A job's lines below warning stay in the file: its task run's state already
    says how it ended, and forwarding them would add an API log record to
    every job.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and record.name == JOB_LOGGER:
            return
        if TaskRunContext.get() is None and FlowRunContext.get() is None:
            return
        super().emit(record)


def configure_logging(level: str, log_dir: Path, max_bytes: int, backups: int,
                      to_stderr: bool = True) -> logging.Logger:
    logger = logging.getLogger("convoy")
    for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    if level == "none":
        logger.setLevel(logging.CRITICAL + 1)
        return logger
    threshold = LEVELS[level]
    logger.setLevel(threshold)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = RotatingLog(
            log_dir / LOG_FILE, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError as exc:
        raise LogSetupError(f"cannot write the log file in {log_dir}: {exc.strerror}") from None
    file_handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    handlers: list[logging.Handler] = [file_handler]
    if to_stderr:
        stderr = logging.StreamHandler()
        stderr.setLevel(max(threshold, logging.WARNING))
        stderr.setFormatter(logging.Formatter("convoy: %(levelname)s: %(message)s")
                            if threshold <= logging.DEBUG else _OneLine())
        handlers.append(stderr)
    forwarder = RunLogForwarder()
    forwarder.setLevel(max(threshold, logging.INFO))
    handlers.append(forwarder)
    for handler in handlers:
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    return logger
