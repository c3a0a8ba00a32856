"""One settings model for a run, from the job file, CONVOY_* variables and the command line.

Precedence (CONTRACT §1): command line > environment > job file > defaults.
The job file is nested TOML; options and variables are flat, so the file is
flattened through ``JOB_FILE_KEYS`` before pydantic-settings merges the sources.
Any problem becomes one ``SettingsError`` line that names the field.
"""

from __future__ import annotations

import contextvars
import json
import os
import shlex
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_serializer, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from policies.categories import is_valid_category
from policies.redact import recordable_header
from policies.thresholds import parse_fail_after

LogLevel = Literal["none", "error", "warning", "information", "debug", "verbose"]

DEFAULT_RETRY_ON = [
    "remote.timeout",
    "remote.connect",
    "remote.unavailable",
    "remote.rate_limited",
    "command.timeout",
]

# job file "section.key" -> flat field name
JOB_FILE_KEYS = {
    "workspace": "workspace",
    "inputs.paths": "input",
    "inputs.include": "include",
    "output.dir": "output",
    "output.extension": "ext",
    "converter.kind": "converter",
    "converter.argv": "command",
    "converter.retry_exit_codes": "retry_exit_codes",
    "converter.url": "url",
    "converter.method": "method",
    "converter.headers": "headers",
    "converter.chunk_lines": "chunk_lines",
    "converter.callable": "python_callable",
    "converter.timeout": "timeout",
    "run.workers": "workers",
    "run.timeout": "timeout",
    "run.grace_period": "grace_period",
    "retry.max_retries": "retries",
    "retry.initial_delay": "retry_delay",
    "retry.backoff_factor": "backoff_factor",
    "retry.max_delay": "max_delay",
    "retry.jitter": "jitter",
    "retry.retry_on": "retry_on",
    "thresholds.on_threshold": "on_threshold",
    "thresholds.fail_after": "fail_after",
    "logging.level": "log_level",
    "logging.dir": "log_dir",
    "logging.max_bytes": "log_max_bytes",
    "logging.backups": "log_backups",
}
_TABLE_KEYS = {"converter.headers", "thresholds.fail_after"}  # tables that are values
_PATH_FIELDS = {"output", "log_dir", "workspace"}


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming the field and the problem."""


_job_file_values: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "convoy_job_file_values", default=None
)


class _JobFileSource(PydanticBaseSettingsSource):
    """Values from the job file being loaded (already flattened and resolved)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns everything at once

    def __call__(self) -> dict[str, Any]:
        return dict(_job_file_values.get() or {})


def _one_or_many(value: Any) -> Any:
    """A list from the environment: a JSON list, or a single value."""
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text.startswith("[") else [value]
    return value


class RunSettings(BaseSettings):
    """Everything one run needs to know, validated before any job starts."""

    model_config = SettingsConfigDict(env_prefix="CONVOY_", extra="forbid", validate_default=True)

    job_file: Path | None = None
    workspace: Path = Path(".")
    input: Annotated[list[str], NoDecode] = Field(default_factory=list)
    include: Annotated[list[str], NoDecode] = Field(default_factory=list)
    output: Path = Path("out")
    ext: str | None = None

    converter: Literal["command", "http", "python"] | None = None
    command: Annotated[list[str], NoDecode] = Field(default_factory=list)
    retry_exit_codes: Annotated[list[int], NoDecode] = Field(default_factory=list)
    url: str | None = None
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    chunk_lines: int | None = Field(default=None, ge=1)
    python_callable: str | None = None

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    timeout: float = Field(default=300.0, gt=0)
    retries: int = Field(default=3, ge=0)
    retry_delay: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_delay: float = Field(default=60.0, ge=0)
    jitter: float = Field(default=0.1, ge=0, le=1)
    retry_on: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_RETRY_ON))

    fail_after: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    on_threshold: Literal["abort", "drain"] = "abort"

    log_level: LogLevel = "information"
    log_dir: Path | None = None
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    log_backups: int = Field(default=5, ge=0)

    grace_period: float = Field(default=10.0, ge=0)

    format: Literal["table", "json"] = "table"
    force: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _JobFileSource(settings_cls))

    @field_validator("input", "include", "retry_on", "retry_exit_codes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("command", mode="before")
    @classmethod
    def _argv(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("fail_after", mode="before")
    @classmethod
    def _fail_after(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, (list, tuple)):
            return dict(parse_fail_after(str(item)) for item in value)
        if isinstance(value, dict):
            return dict(parse_fail_after(f"{k}={v}") for k, v in value.items())
        return value

    @field_validator("retry_on")
    @classmethod
    def _categories(cls, value: list[str]) -> list[str]:
        for name in value:
            if not is_valid_category(name):
                raise ValueError(f"not a category name: {name!r}")
        return value

    @field_validator("ext")
    @classmethod
    def _dot(cls, value: str | None) -> str | None:
        if value and not value.startswith("."):
            return "." + value
        return value

    @model_validator(mode="after")
    def _converter(self) -> RunSettings:
        if self.converter is None:
            if self.command:
                self.converter = "command"
            elif self.url:
                self.converter = "http"
            elif self.python_callable:
                self.converter = "python"
            else:
                raise ValueError("no converter: give --command, --url or a [converter] section")
        if self.converter == "command" and not self.command:
            raise ValueError("the command converter needs --command or converter.argv")
        if self.converter == "http" and not self.url:
            raise ValueError("the http converter needs --url or converter.url")
        if self.converter == "python" and ":" not in (self.python_callable or ""):
            raise ValueError("the python converter needs converter.callable = 'module:function'")
        if not self.input:
            raise ValueError("no input: give -i/--input or inputs.paths")
        return self

    @property
    def convoy_dir(self) -> Path:
        return self.workspace / ".convoy"

    @property
    def effective_log_dir(self) -> Path:
        return self.log_dir if self.log_dir is not None else self.convoy_dir / "logs"

    @field_serializer("headers", when_used="json")
    def _recordable_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """In JSON (the ledger, run files, Prefect's flow parameters): literal secrets masked."""
        return {name: recordable_header(name, value) for name, value in headers.items()}

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready settings to record: header references kept, literal secrets masked."""
        return self.model_dump(mode="json")


def _read_job_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"job file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"job file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"job file {path} is not valid TOML: {exc}") from None
    return _flatten(document, path)


def _flatten(document: dict[str, Any], path: Path) -> dict[str, Any]:
    """Nested job-file tables to flat fields; relative paths resolved against the file."""
    base = path.parent.absolute()
    flat: dict[str, Any] = {}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and dotted not in _TABLE_KEYS:
                walk(value, dotted + ".")
            elif dotted in JOB_FILE_KEYS:
                flat[JOB_FILE_KEYS[dotted]] = value
            else:
                raise SettingsError(f"job file {path}: unknown key '{dotted}'")

    walk(document, "")
    if isinstance(flat.get("input"), list):
        flat["input"] = [str(base / p) for p in flat["input"] if isinstance(p, str)]
    for name in _PATH_FIELDS & flat.keys():
        if isinstance(flat[name], str):
            flat[name] = base / flat[name]
    return flat


def _absolute(values: dict[str, Any]) -> dict[str, Any]:
    """Relative paths given on the command line are taken from the current folder."""
    out = dict(values)
    if isinstance(out.get("input"), list):
        out["input"] = [os.path.abspath(p) for p in out["input"]]
    for name in _PATH_FIELDS & out.keys():
        if out[name] is not None:
            out[name] = Path(out[name]).absolute()
    return out


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    message = first["msg"].removeprefix("Value error, ")
    shown = first.get("input")
    if first["loc"] and not isinstance(shown, (dict, list)):
        return f"invalid setting {field}: {message} (got {shown!r})"
    if first["loc"]:
        return f"invalid setting {field}: {message}"
    return f"invalid settings: {message}"


def load_settings(job_file: Path | str | None, cli: dict[str, Any]) -> RunSettings:
    """Merge the sources and validate; raise SettingsError with one line on any problem."""
    file_values: dict[str, Any] = {}
    if job_file is not None:
        job_file = Path(job_file).absolute()
        file_values = _read_job_file(job_file)
        file_values["job_file"] = job_file
    given = _absolute({k: v for k, v in cli.items() if v is not None})
    token = _job_file_values.set(file_values)
    try:
        settings = RunSettings(**given)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except _SourceError as exc:
        raise SettingsError(f"invalid environment setting: {exc}".replace("\n", " ")) from None
    finally:
        _job_file_values.reset(token)
    for name in ("workspace", "output", "log_dir"):  # env values may be relative
        value = getattr(settings, name)
        if value is not None and not value.is_absolute():
            setattr(settings, name, value.absolute())
    settings.input = [os.path.abspath(p) for p in settings.input]
    return settings
