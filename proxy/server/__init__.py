"""The HTTP server runtime: how the proxy and admin apps are served.

``run(config, factory)`` binds ``listen`` and ``admin_listen``, builds the apps in
each serving process with ``factory(config, state)``, serves both listeners from
one uvicorn server per process (llhttp parser, uvloop), drains on SIGTERM, and
returns the exit code. With ``workers > 1`` a supervisor runs that many processes.
"""

from proxy.server.launcher import run
from proxy.server.metrics_registry import registry
from proxy.server.state import AppFactory, ASGIApp, RuntimeState

__all__ = ["ASGIApp", "AppFactory", "RuntimeState", "registry", "run"]
