"""Which settings a running process takes from a reloaded file, and which need a restart.

Everything a request reads (routes, policies, bearer issuers and audiences,
service tokens, trusted proxies, body limits, signing, access logging) is
rebuilt from the new file on reload. What the process set up once before
serving cannot change under it: the listening sockets (bound before workers
start), the HTTP parser's head limits and keep-alive (uvicorn's settings), the
upstream connection pool and its TLS context, the shutdown timings, and the
store and browser-login state. A new value of those keeps the running one
until a restart, and the reload log names each of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from proxy.config.schema import Config

# Dotted paths; a section name stands for every key under it.
RESTART_ONLY: tuple[str, ...] = (
    "listen",
    "admin_listen",
    "store",
    "oidc",
    "session",
    "limits.max_header_bytes",
    "limits.header_timeout",
    "limits.keep_alive",
    "upstream",
    "shutdown",
)


def restart_needed(running: Config, new: Config) -> list[str]:
    """The keys of ``new`` that differ from ``running`` and apply only at start."""
    changed: list[str] = []
    for path in RESTART_ONLY:
        old_value, new_value = _get(running, path), _get(new, path)
        if old_value == new_value:
            continue
        if isinstance(old_value, BaseModel) and isinstance(new_value, BaseModel):
            changed += [
                f"{path}.{name}"
                for name in type(old_value).model_fields
                if getattr(old_value, name) != getattr(new_value, name)
            ]
        else:
            changed.append(path)
    return changed


def effective(running: Config, new: Config) -> Config:
    """``new`` as this process can apply it: restart-only keys keep their running values.

    An empty ``signing.key_files`` keeps the keys the process signs with: ``edgeward
    run`` made one key for the run and shared it with every worker, and a key made
    per reload would differ between workers.
    """
    merged = new
    for path in RESTART_ONLY:
        merged = _set(merged, path, _get(running, path))
    if not new.signing.key_files:
        merged = _set(merged, "signing.key_files", running.signing.key_files)
    return merged


def _get(model: BaseModel, path: str) -> Any:
    value: Any = model
    for name in path.split("."):
        value = getattr(value, name)
    return value


def _set(model: BaseModel, path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    if rest:
        value = _set(getattr(model, head), rest, value)
    return model.model_copy(update={head: value})
