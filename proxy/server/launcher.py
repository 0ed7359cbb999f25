"""``run()``: bind the listeners, then serve in this process or supervise workers.

Start-up failures (an address in use or unresolvable, an app that cannot start)
end with one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys

from proxy.config.schema import Config
from proxy.server.listen import BindError, Sockets, bind_all
from proxy.server.serve import STARTUP_FAILURE, serve
from proxy.server.state import AppFactory, RuntimeState
from proxy.server.workers import Supervisor


def run(
    config: Config, factory: AppFactory, *, workers: int = 1, config_path: str | None = None
) -> int:
    """Serve ``config`` with apps from ``factory`` until stopped; return the exit code."""
    if workers < 1:
        return _fail(f"workers must be at least 1, not {workers}")
    try:
        sockets = bind_all(config)
    except BindError as exc:
        return _fail(str(exc))
    try:
        if workers > 1:
            return _supervise(Supervisor(config, factory, sockets, workers, config_path))
        return _serve_here(config, factory, sockets, config_path)
    finally:
        sockets.close()


def _serve_here(
    config: Config, factory: AppFactory, sockets: Sockets, config_path: str | None
) -> int:
    state = RuntimeState(config_path=config_path)
    try:
        code = serve(config, factory, sockets, state)
    except Exception as exc:  # the factory failed; its message is the operator's clue
        return _fail(f"cannot start: {exc}")
    if code == STARTUP_FAILURE:
        return _fail("cannot start: the application failed during start-up (see the log)")
    return code


def _supervise(supervisor: Supervisor) -> int:
    code = supervisor.run()
    if supervisor.failed:
        return _fail("cannot start: a worker failed during start-up (see the log)")
    return code


def _fail(message: str) -> int:
    print(f"edgeward: {message}", file=sys.stderr)
    return 1
