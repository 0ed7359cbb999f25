"""Config reload: re-read the config file on change or SIGHUP and swap in a new snapshot.

Everything a request reads is rebuilt from the new file into one ``Snapshot``
(routes, policies, bearer issuers and audiences, service tokens, trusted
proxies, body limits, signing, access logging, log level) and swapped in with
one assignment. Settings the process set up before serving (``listen``, upstream
pool, head limits, shutdown timings; see ``proxy.config.live``) keep their
running values; the reload log names each one that changed and needs a
restart. The file is loaded only once it has settled (``Reloader``); a change
of a secret or key file it names (``X_file``, ``signing.key_files``) reloads it
too. A new file
that does not load or compile, is empty, or has no ``routes`` keeps the running
snapshot, is logged with its YAML paths and is counted in
``edgeward_config_reload_errors_total``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from proxy import logs
from proxy.config.live import effective, restart_needed
from proxy.config.loader import ConfigError, dependencies, inspect_config, load_reloaded
from proxy.metrics import CONFIG_RELOAD_ERRORS, CONFIG_RELOADS
from proxy.policy import Reloader
from proxy.policy.compile import RuleError
from proxy.policy.reload import SETTLE
from proxy.runtime import Services
from proxy.snapshot import Snapshot

log = logging.getLogger("edgeward.reload")


class Reloadable(Protocol):
    services: Services
    snapshot: Snapshot


@dataclass(frozen=True)
class Loaded:
    snapshot: Snapshot
    restart: list[str]  # changed keys that need a restart
    files: tuple[Path, ...]  # secrets and keys the snapshot was built from


def load(app: Reloadable, path: Path, data: bytes) -> Loaded:
    """The snapshot for the file content ``data``."""
    started = app.services.config
    config, files = load_reloaded(path, data)
    snapshot = Snapshot.build(effective(started, config), app.services, app.snapshot)
    return Loaded(snapshot, restart_needed(started, config), tuple(Path(f) for f in files))


def start(app: Reloadable, path: str, settle: float = SETTLE) -> asyncio.Task[None]:
    """Watch ``path`` (and SIGHUP) for the lifetime of the returned task."""

    def apply(loaded: Loaded) -> None:
        snapshot, restart = loaded.snapshot, loaded.restart
        app.snapshot = snapshot
        if snapshot.admission.bearer is not None:
            snapshot.admission.bearer.take_over_key_caches()
        logs.set_level(snapshot.config.log.level)
        CONFIG_RELOADS.labels("ok").inc()
        routes = len(snapshot.config.routes)
        if restart:
            log.warning(
                "config reloaded: %d routes; changed keys that need a restart "
                "(their running values stay): %s",
                routes,
                ", ".join(restart),
            )
        else:
            log.info("config reloaded: %d routes", routes)

    def failed(exc: Exception) -> None:
        CONFIG_RELOADS.labels("error").inc()
        CONFIG_RELOAD_ERRORS.inc()
        if isinstance(exc, ConfigError):
            detail = "; ".join(str(p) for p in exc.problems)
        elif isinstance(exc, RuleError):
            detail = f"{exc.path}: {exc.message}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        log.error("config reload refused, the running config stays: %s", detail)

    reloader = Reloader(
        Path(path),
        lambda p, data: load(app, p, data),
        apply,
        failed,
        settle=settle,
        depends=lambda loaded: loaded.files,
    )
    # The files the running config was built from (read again: start-up kept no list).
    reloader.watch(Path(f) for f in dependencies(inspect_config(path)))
    reloader.install_sighup(asyncio.get_running_loop())
    return asyncio.create_task(reloader.run(), name="edgeward-config-reload")
