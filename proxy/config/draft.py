"""A configuration as far as it validated: what the cross-field checks look at.

When the file has schema problems there is no ``Config`` yet, but the operator still
wants every problem at once. A ``Draft`` holds each top-level section and each route
that validated on its own, remembers the sections that did not, and keeps every
route's index in the file so problems name the right ``routes[i]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from proxy.config.schema import Config, Route


@dataclass(frozen=True)
class Draft:
    config: Config  # sections that failed validation hold their defaults
    routes: tuple[tuple[int, Route], ...]  # (index in the file, route) of the valid ones
    broken: frozenset[str] = frozenset()  # top-level keys whose values failed
    declared_routes: int = 0  # routes in the file, valid or not
    # (index, name) of every route whose name is a string, valid route or not, so a
    # duplicate name is found even beside a route that has other problems.
    route_names: tuple[tuple[int, str], ...] = ()

    @classmethod
    def of(cls, config: Config) -> Draft:
        """The draft of a configuration that validated completely."""
        routes = tuple(enumerate(config.routes))
        names = tuple((i, r.name) for i, r in routes)
        return cls(config, routes, declared_routes=len(routes), route_names=names)

    def usable(self, *sections: str) -> bool:
        """True when every named section validated, so a check may rely on it."""
        return not self.broken.intersection(sections)


def draft_from_raw(raw: Mapping[object, object]) -> Draft:
    """Validate each top-level section and each route alone; keep what passes."""
    sections: dict[str, Any] = {}
    broken: set[str] = set()
    for key, value in raw.items():
        if not isinstance(key, str) or key == "routes" or key not in Config.model_fields:
            continue
        try:
            sections[key] = getattr(Config.model_validate({key: value}), key)
        except ValidationError:
            broken.add(key)
    raw_routes = raw.get("routes")
    routes = _routes(raw_routes)
    if routes is None:
        broken.add("routes")
        routes = ()
    config = Config.model_construct(**sections, routes=tuple(r for _, r in routes))
    items = raw_routes if isinstance(raw_routes, list) else []
    names = tuple(
        (i, r["name"])
        for i, r in enumerate(items)
        if isinstance(r, dict) and isinstance(r.get("name"), str)
    )
    return Draft(config, routes, frozenset(broken), len(items), names)


def _routes(raw: object) -> tuple[tuple[int, Route], ...] | None:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        return None
    valid: list[tuple[int, Route]] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, Route.model_validate(item)))
        except ValidationError:
            continue
    return tuple(valid)
