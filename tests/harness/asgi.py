"""ASGI apps under a real uvicorn server in a thread of the test process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn polls ``should_exit`` every 0.1 s; a test server stops as soon as it is told."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_now = threading.Event()

    async def main_loop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop_now.wait)


@contextlib.contextmanager
def serve_asgi(app: Any, port: int | None = None, **kwargs: Any) -> Iterator[str]:
    """Run an ASGI app under a real uvicorn server in a thread; yield its base URL.

    Without ``port`` the socket binds port 0 here and the kernel's choice is read back,
    so no other process can take it in between.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port or 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **kwargs
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.stop_now.set()
        thread.join(10)
        sock.close()
