"""Policy reload: re-read the config file on change or SIGHUP and swap the route table.

Only ``routes`` (matches, upstreams, policies) change while running. Other
sections (listeners, keys, issuers, store) are fixed for the life of the
process; a changed value there is reported and needs a restart. A new file
that does not load or compile keeps the running table, is logged with its
YAML paths and is counted in ``edgeward_config_reload_errors_total``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from proxy.config.loader import ConfigError, load_config
from proxy.config.schema import Config
from proxy.metrics import CONFIG_RELOAD_ERRORS, CONFIG_RELOADS
from proxy.policy import Reloader
from proxy.policy.compile import RuleError
from proxy.runtime import RouteTable

log = logging.getLogger("edgeward.reload")


class Reloadable(Protocol):
    table: RouteTable


def _load(path: Path) -> tuple[Config, RouteTable]:
    config = load_config(path)
    return config, RouteTable(config)  # compiles every policy: errors surface here


def _restart_needed(running: Config, new: Config) -> bool:
    """True when a section other than ``routes`` changed (those apply at start only)."""
    if not new.signing.key_files:  # `edgeward run` made a key for the run: not a change
        new = new.model_copy(
            update={
                "signing": new.signing.model_copy(update={"key_files": running.signing.key_files})
            }
        )
    return running.model_copy(update={"routes": ()}) != new.model_copy(update={"routes": ()})


def start(app: Reloadable, running: Config, path: str) -> asyncio.Task[None]:
    """Watch ``path`` (and SIGHUP) for the lifetime of the returned task."""

    def apply(loaded: tuple[Config, RouteTable]) -> None:
        config, table = loaded
        app.table = table
        CONFIG_RELOADS.labels("ok").inc()
        if _restart_needed(running, config):
            log.warning("config reloaded: routes applied; other changed sections need a restart")
        else:
            log.info("config reloaded: %d routes", len(config.routes))

    def failed(exc: Exception) -> None:
        CONFIG_RELOADS.labels("error").inc()
        CONFIG_RELOAD_ERRORS.inc()
        if isinstance(exc, ConfigError):
            detail = "; ".join(str(p) for p in exc.problems)
        elif isinstance(exc, RuleError):
            detail = f"{exc.path}: {exc.message}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        log.error("config reload refused, the running policy stays: %s", detail)

    reloader = Reloader(Path(path), _load, apply, failed)
    reloader.install_sighup(asyncio.get_running_loop())
    return asyncio.create_task(reloader.run(), name="edgeward-config-reload")
