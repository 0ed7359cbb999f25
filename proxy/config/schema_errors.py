"""Translate pydantic's validation errors into ``Problem`` lines an operator can act on.

This is the one place that knows pydantic's error format: locations become YAML
paths, union-member tags (``str``, ``function-after[...]``) are dropped because
they are not keys in the file, and messages lose pydantic's prefixes and links.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from proxy.config.errors import Problem, format_path
from proxy.config.fields import SECRET_KEYS, key_names

_PREFIXES = ("Value error, ", "Assertion failed, ")
# Only pydantic's own documentation links; URLs in our messages are examples.
_URL = re.compile(r"\s*\(?(For further information visit )?https://errors\.pydantic\.dev\S*\)?")
_MISSING = "required key is missing"
_UNKNOWN = "unknown key"
_ECHO_MAX = 60
_ABSENT = 1 << 30  # a missing key sorts after the keys present beside it


def problems_from(error: ValidationError, data: object) -> list[Problem]:
    """Every error of ``error`` as a problem; ``data`` is the input that was validated."""
    found: dict[str, _Found] = {}
    for detail in error.errors(include_url=False):
        where = _locate(detail["loc"], data, detail["type"])
        entry = found.setdefault(
            format_path(where.loc), _Found(where.order, _echo(detail.get("input"), where.loc))
        )
        entry.union = entry.union or where.tagged
        message = _message(detail, where.loc)
        if message not in entry.messages:
            entry.messages.append(message)
    # In the order the keys appear in the file, as an operator reads it top to bottom.
    ordered = sorted(found.items(), key=lambda item: item[1].order)
    return [p for path, entry in ordered for p in entry.problems(path)]


@dataclass
class _Found:
    """What pydantic said about one path of the file."""

    order: tuple[int, ...]
    echo: str
    messages: list[str] = field(default_factory=list)
    union: bool = False

    def problems(self, path: str) -> list[Problem]:
        # A value that fits none of a union's members fails once per member; one line
        # saying so reads better than one line per member the operator never wrote.
        if self.union and len(self.messages) > 1:
            joined = "; ".join(self.messages)
            return [Problem(path, f"does not match any accepted form: {joined}{self.echo}")]
        return [Problem(path, m + self.echo if _echoes(m) else m) for m in self.messages]


@dataclass
class _Where:
    loc: list[str | int] = field(default_factory=list)  # keys and indexes in the file
    order: tuple[int, ...] = ()  # position of each of them, for sorting
    tagged: bool = False  # parts were dropped: they named union members, not keys


def _locate(loc: Sequence[str | int], data: object, kind: str) -> _Where:
    """Keep the parts of ``loc`` that are keys or indexes of the input."""
    where = _Where()
    node = data
    for i, part in enumerate(loc):
        if _indexes(node, part):
            position = list(node).index(part) if isinstance(node, Mapping) else int(part)
            node = node[part]  # type: ignore[index]
        elif kind == "missing" and i == len(loc) - 1:
            position = _ABSENT
        else:
            where.tagged = True
            continue
        where.loc.append(part)
        where.order += (position,)
    return where


def _indexes(node: object, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _message(detail: ErrorDetails, loc: Sequence[str | int]) -> str:
    key = loc[-1] if loc else None
    if detail["type"] == "missing":
        return _MISSING
    if detail["type"] == "extra_forbidden":
        return _UNKNOWN + _suggestion(key)
    message = detail["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return _URL.sub("", message)


def _suggestion(key: object) -> str:
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, sorted(key_names()), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _echoes(message: str) -> bool:
    return message != _MISSING and not message.startswith(_UNKNOWN)


def _echo(value: Any, loc: Sequence[str | int]) -> str:
    """The offending value, when short and not a secret, so the line stands alone."""
    if (
        any(part in SECRET_KEYS for part in loc)
        or isinstance(value, bool)
        or not isinstance(value, str | int | float)
    ):
        return ""
    shown = repr(value)
    return f" (got {shown})" if len(shown) <= _ECHO_MAX else ""
