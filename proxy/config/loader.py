"""Loading a configuration file: read, resolve, validate, and report every problem at once.

The stages run in a line: YAML text -> plain data (``document``) -> references filled
in (``resolve``) -> the frozen ``Config`` (``schema``) -> cross-field errors
(``validate``) and warnings (``advice``). A later stage still runs when an earlier one
found problems, so a file with four mistakes yields four lines, not one per attempt.

This is the only module that reads ``os.environ``, and only when no ``env`` is passed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from proxy.config.advice import find_warnings
from proxy.config.document import read_document
from proxy.config.draft import Draft, draft_from_raw
from proxy.config.errors import ConfigError, Problem
from proxy.config.redact import redact
from proxy.config.resolve import resolve
from proxy.config.schema import Config
from proxy.config.schema_errors import problems_from
from proxy.config.validate import find_errors, shared_state_required

# The command line and the server import from here; the names they need are
# re-exported so they have one place to import from.
__all__ = [
    "ConfigError",
    "Problem",
    "Report",
    "check",
    "config_path",
    "dependencies",
    "evaluate",
    "inspect_config",
    "load_config",
    "load_reloaded",
    "parse_config",
    "redact",
    "shared_state_required",
]

CONFIG_ENV = "EDGEWARD_CONFIG"
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Report:
    """The outcome of loading: a ``Config`` exactly when there are no errors."""

    config: Config | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    secret_files: tuple[str, ...] = ()  # the ``X_file`` secrets the file names

    def config_or_raise(self) -> Config:
        if self.config is None:
            raise ConfigError(self.errors, self.warnings)
        return self.config


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read and validate the file at ``path``; raise ``ConfigError`` listing every problem."""
    return inspect_config(path, env).config_or_raise()


def load_reloaded(
    path: str | os.PathLike[str], data: bytes, env: Mapping[str, str] | None = None
) -> tuple[Config, tuple[str, ...]]:
    """Validate ``data``, a new version of the running file at ``path``, for a reload;
    return the config and the files it depends on (``X_file`` secrets, signing keys).

    Refuses, besides every load error, what is almost certainly a file caught
    mid-write: an empty document, or one without ``routes`` (``routes: []``
    still says "no routes" on purpose).
    """
    source = os.fspath(path)
    text = _decode(source, data)
    base_dir = Path(os.path.abspath(source)).parent
    environ: Mapping[str, str] = os.environ if env is None else env
    report = evaluate(text, source=source, env=environ, base_dir=base_dir, reload=True)
    config = report.config_or_raise()
    return config, dependencies(report)


def dependencies(report: Report) -> tuple[str, ...]:
    """The files besides the config file whose content a reload applies."""
    keys = report.config.signing.key_files if report.config is not None else ()
    return (*report.secret_files, *keys)


def parse_config(text: str, *, source: str, env: Mapping[str, str], base_dir: Path) -> Config:
    """Validate configuration ``text``; ``source`` names it in file-level problems and
    relative ``*_file`` paths are resolved against ``base_dir``."""
    return evaluate(text, source=source, env=env, base_dir=base_dir).config_or_raise()


def check(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> tuple[list[Problem], list[Problem]]:
    """``(errors, warnings)`` for the file at ``path``; for ``edgeward check``."""
    report = inspect_config(path, env)
    return report.errors, report.warnings


def config_path(given: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The file named on the command line, else by ``EDGEWARD_CONFIG``, else None."""
    if given:
        return given
    return (os.environ if env is None else env).get(CONFIG_ENV) or None


def inspect_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Report:
    """Load the file at ``path`` into a ``Report`` without raising."""
    source = os.fspath(path)
    try:
        text = _read_text(Path(source))
    except ConfigError as exc:
        return Report(None, exc.problems)
    base_dir = Path(os.path.abspath(source)).parent
    environ: Mapping[str, str] = os.environ if env is None else env
    return evaluate(text, source=source, env=environ, base_dir=base_dir)


def evaluate(
    text: str, *, source: str, env: Mapping[str, str], base_dir: Path, reload: bool = False
) -> Report:
    """Every stage on ``text``; a ``Report`` with all errors and warnings found.

    With ``reload``, an empty document and one without ``routes`` are errors too.
    """
    try:
        data = read_document(text, source=source)
    except ConfigError as exc:
        return Report(None, exc.problems)
    if data is None:
        if reload:
            return Report(None, [Problem(source, "the file is empty")])
        data = {}
    if not isinstance(data, dict):
        return Report(None, [Problem(source, "expected a mapping of settings at the top level")])
    if reload and "routes" not in data:
        missing = "missing: taken for a file cut short (write `routes: []` for no routes)"
        return Report(None, [Problem("routes", missing)])
    resolved = resolve(data, env=env, base_dir=base_dir)
    config, draft, schema_problems = _validate(resolved.data)
    later = [*schema_problems, *find_errors(draft)]
    errors = [*resolved.problems, *(p for p in later if not _under(p.path, resolved.spoiled))]
    return Report(None if errors else config, errors, find_warnings(draft), resolved.files)


def _validate(data: dict[object, object]) -> tuple[Config | None, Draft, list[Problem]]:
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        return None, draft_from_raw(data), problems_from(exc, data)
    return config, Draft.of(config), []


def _under(path: str, spoiled: frozenset[str]) -> bool:
    """True when ``path`` is a spoiled path or lies inside one."""
    return any(path == s or path.startswith((s + ".", s + "[")) for s in spoiled)


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read: {exc.strerror or exc}")]) from None
    return _decode(str(path), data)


def _decode(source: str, data: bytes) -> str:
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([Problem(source, f"larger than {MAX_CONFIG_BYTES} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(source, f"not UTF-8 text ({exc.reason})")]) from None
