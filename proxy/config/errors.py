"""Configuration problems: where in the file, and what is wrong there.

Exception tree (one class; callers never compare messages)::

    Exception
    └── ConfigError          .problems: list[Problem]  (every problem found, at once)

A ``Problem`` names its place as a YAML path such as ``routes[2].allow.groups``;
problems that concern the whole file (unreadable, bad YAML syntax) name the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Loc = Sequence[str | int]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or, as a warning, doubtful) in a configuration."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(eq=False)
class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason found."""

    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def format_path(loc: Iterable[str | int]) -> str:
    """``("routes", 2, "allow", "groups")`` -> ``routes[2].allow.groups``.

    Keys that are not plain identifiers (claim names such as URLs) are quoted so the
    path stays unambiguous: ``claims["https://example.com/roles"]``.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            quoted = part.replace("\\", "\\\\").replace('"', '\\"')
            out += f'["{quoted}"]'
    return out


def problem(loc: Iterable[str | int], message: str) -> Problem:
    """A problem at a key path given as parts."""
    return Problem(format_path(loc), message)
