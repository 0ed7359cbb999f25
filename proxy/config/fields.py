"""What the schema declares: every key name, which keys hold paths, which hold secrets.

Derived from ``proxy.config.schema`` itself so that a new field cannot drift out of
the typo suggestions or the ``*_file`` rule.
"""

from __future__ import annotations

import functools
import typing

from pydantic import BaseModel

from proxy.config.schema import Config

# Values never written to logs or echoed in error messages.
SECRET_KEYS = frozenset({"client_secret", "hmac_key", "secret_sha256"})


def _models_in(annotation: object) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


@functools.cache
def models() -> tuple[type[BaseModel], ...]:
    """Every model reachable from ``Config``, each once."""
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [Config]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            todo.extend(_models_in(info.annotation))
    return tuple(seen)


@functools.cache
def key_names() -> frozenset[str]:
    """Every key the file may use somewhere (aliases such as ``not`` included)."""
    names: set[str] = set()
    for model in models():
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
    return frozenset(names)


@functools.cache
def path_keys() -> frozenset[str]:
    """Keys whose values are file paths the schema reads itself (``key_files``,
    ``ca_file``): they are resolved against the config's directory, not replaced
    by file contents like a secret's ``X_file``."""
    return frozenset(n for n in key_names() if n.endswith(("_file", "_files")))
