"""What the server runtime shares with the apps it serves: the state and the factory type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from proxy.config.schema import Config

# Plain ASGI 3 callables, spelled out so this package does not depend on a framework.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class RuntimeState:
    """Mutable facts about this server process that the apps read.

    ``draining`` turns True on the first SIGTERM/SIGINT: the admin app answers
    ``/readyz`` with 503 from then on while both listeners keep serving, so load
    balancers stop sending before the listeners close.
    """

    draining: bool = False
    config_path: str | None = None  # the file to re-read on SIGHUP, when there is one
    worker: int = 0  # 0 in a single-process server, else 1..N


# Builds (proxy_app, admin_app) in each serving process. It must be a module-level
# function: worker processes are spawned and receive it by pickling (by reference).
AppFactory = Callable[[Config, RuntimeState], tuple[ASGIApp, ASGIApp]]
