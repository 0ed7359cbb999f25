"""Two listeners, one server: which app answers where, SIGHUP, and start-up failures."""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator

import httpx
import pytest

from proxy.server.dispatch import ListenerDispatch
from proxy.server.listen import BindError, bind, parse_address
from tests.harness import Served, config_for, eventually, free_port, serving, start, wait_ready
from tests.harness import stop_server as stop


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with serving() as served:
        yield served


def test_both_listeners_answer(server: Served) -> None:
    assert httpx.get(server.url("/echo"), timeout=5).json()["path"] == "/echo"
    assert httpx.get(server.admin_url("/readyz"), timeout=5).json() == {"draining": False}


def test_admin_paths_are_not_on_the_proxy_port(server: Served) -> None:
    for path in ("/livez", "/readyz", "/metrics", "/pid"):
        response = httpx.get(server.url(path), timeout=5)
        assert response.status_code == 404, path


def test_proxy_paths_are_not_on_the_admin_port(server: Served) -> None:
    for path in ("/echo", "/count", "/hups"):
        assert httpx.get(server.admin_url(path), timeout=5).status_code == 404, path


def test_server_adds_date_but_no_server_header(server: Served) -> None:
    response = httpx.get(server.url("/echo"), timeout=5)
    assert "date" in response.headers
    assert "server" not in response.headers


def test_sighup_reaches_the_app_and_does_not_stop_the_server(server: Served) -> None:
    server.signal(signal.SIGHUP)
    with contextlib.suppress(AssertionError):  # the assertion below says what was wrong
        eventually(lambda: httpx.get(server.url("/hups"), timeout=5).json()["hups"] >= 1, 2.5)
    assert httpx.get(server.url("/hups"), timeout=5).json()["hups"] >= 1
    assert server.proc.poll() is None


def run_to_exit(config: dict[str, object], factory: str = "build") -> tuple[int, str]:
    proc = start(config, factory=factory)
    try:
        code = proc.wait(20)
        assert proc.stderr is not None
        return code, proc.stderr.read().decode()
    finally:
        stop(proc)


def test_port_in_use_exits_1_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, stderr = run_to_exit(config_for(port, free_port()))
    assert code == 1
    assert stderr.strip().splitlines() == [
        f"edgeward: cannot listen on 127.0.0.1:{port} (listen): Address already in use"
    ]


def test_unresolvable_admin_address_exits_1_with_one_line() -> None:
    code, stderr = run_to_exit(config_for(free_port(), 0, admin_listen="no-such-host.invalid:9090"))
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "edgeward: cannot listen on no-such-host.invalid:9090 (admin_listen)"
    )


def test_failing_app_factory_exits_1_without_traceback() -> None:
    code, stderr = run_to_exit(config_for(free_port(), free_port()), factory="build_failing")
    assert code == 1
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [
        "edgeward: cannot start: signing key file /nonexistent is missing"
    ]


def test_ipv6_listener() -> None:
    try:
        bind("[::1]:0", "probe").close()
    except BindError:
        pytest.skip("no IPv6 loopback here")
    port, admin_port = free_port(), free_port()
    config = config_for(port, admin_port, listen=f"[::1]:{port}")
    proc = start(config)
    try:
        wait_ready(Served(proc, port, admin_port))
        assert httpx.get(f"http://[::1]:{port}/echo", timeout=5).status_code == 200
    finally:
        stop(proc)


# Narrow unit tests of address parsing and dispatch.


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    assert parse_address("localhost:80") == ("localhost", 80)
    with pytest.raises(BindError):
        parse_address("8080")


async def test_dispatch_by_local_address() -> None:
    seen: list[str] = []

    async def proxy(scope: object, receive: object, send: object) -> None:
        seen.append("proxy")

    async def admin(scope: object, receive: object, send: object) -> None:
        seen.append("admin")

    async def nothing() -> dict[str, object]:
        return {}

    async def ignore(message: object) -> None:
        return None

    same_port = ListenerDispatch(proxy, admin, ("0.0.0.0", 8080), ("127.0.0.1", 8080))
    for scope in (
        {"type": "http", "server": ("127.0.0.1", 8080)},  # the admin's exact address
        {"type": "http", "server": ("::ffff:127.0.0.1", 8080)},  # the same, dual-stack
        {"type": "http", "server": ("10.0.0.5", 8080)},  # only the wildcard fits
        {"type": "http", "server": None},  # unknown: never the admin app
        {"type": "lifespan"},
    ):
        await same_port(scope, nothing, ignore)
    assert seen == ["admin", "admin", "proxy", "proxy", "proxy"]

    seen.clear()
    by_port = ListenerDispatch(proxy, admin, ("0.0.0.0", 8080), ("0.0.0.0", 9090))
    await by_port({"type": "websocket", "server": ("127.0.0.1", 9090)}, nothing, ignore)
    await by_port({"type": "http", "server": ("127.0.0.1", 8080)}, nothing, ignore)
    assert seen == ["admin", "proxy"]
