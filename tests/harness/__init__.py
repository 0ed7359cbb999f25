"""The one test harness: every helper a test imports comes from ``tests.harness``.

- ``poll``: ``eventually()`` and ``wait_for_port()`` (bounded waits, never a bare sleep);
- ``ports``: ``free_port()`` for child processes, retried when a port was taken;
- ``asgi``: ``serve_asgi()``, an ASGI app under uvicorn in a thread, bound to port 0;
- ``proxy``: Edgeward and the demo backend as processes, the ``edgeward`` command;
- ``runtime``: ``proxy.server.run`` serving ``tests.apps.factory`` as a process;
- ``rawserver``: scripted asyncio HTTP/1.1 servers, raw client sockets, a TLS CA.
"""

from tests.harness.asgi import serve_asgi
from tests.harness.poll import eventually, wait_for_port
from tests.harness.ports import free_port
from tests.harness.proxy import (
    ROOT,
    Proxy,
    edgeward,
    public_route,
    run_backend,
    run_process,
    run_proxy,
    stop,
    stop_process,
    write_config,
)
from tests.harness.rawserver import (
    Authority,
    Peer,
    RawResult,
    RawServer,
    Request,
    exchange,
    keep_alive_handler,
    make_authority,
    raw_server,
    read_all,
    read_body,
    read_until_closed,
    response,
    wait_until,
)
from tests.harness.runtime import Served, config_for, serving, start, stop_server, wait_ready

__all__ = [
    "ROOT",
    "Authority",
    "Peer",
    "Proxy",
    "RawResult",
    "RawServer",
    "Request",
    "Served",
    "config_for",
    "edgeward",
    "eventually",
    "exchange",
    "free_port",
    "keep_alive_handler",
    "make_authority",
    "public_route",
    "raw_server",
    "read_all",
    "read_body",
    "read_until_closed",
    "response",
    "run_backend",
    "run_process",
    "run_proxy",
    "serve_asgi",
    "serving",
    "start",
    "stop",
    "stop_process",
    "stop_server",
    "wait_for_port",
    "wait_ready",
    "wait_until",
    "write_config",
]
