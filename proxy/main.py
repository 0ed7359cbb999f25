"""Assembling the apps of one serving process from a validated config."""

from __future__ import annotations

from typing import Any

from proxy import logs, readiness
from proxy.admin import AdminApp
from proxy.app import ProxyApp
from proxy.config.schema import Config
from proxy.runtime import Services
from proxy.server.state import RuntimeState
from proxy.snapshot import Snapshot


def build(config: Config, state: RuntimeState) -> tuple[Any, Any]:
    """The server runtime's app factory: (proxy app, admin app) for one process."""
    from proxy.server.metrics_registry import registry  # after the multiprocess env is set

    logs.configure(config.log.level)
    services = Services.build(config)
    proxy_app = ProxyApp(
        services, Snapshot.build(config, services), state.config_path, state.worker
    )
    admin_app = AdminApp(state, registry, readiness.checks(proxy_app))
    return proxy_app, admin_app
