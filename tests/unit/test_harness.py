"""The harness itself: ports never handed out twice, bounded polling, port-0 servers."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import eventually, free_port, serve_asgi
from tests.harness.ports import PortTaken, lost_port_race, retrying


def test_free_port_never_hands_out_a_port_twice() -> None:
    # The kernel gives a just-closed ephemeral port back now and then (about 3 in 100
    # over 1000 binds here): listen and admin_listen once got the same one.
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)


def test_eventually_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter) >= 3 and "done", timeout=5) == "done"


def test_eventually_gives_up_at_the_deadline() -> None:
    with pytest.raises(AssertionError, match=r"not true within 0\.05s: never"):
        eventually(lambda: False, timeout=0.05, what="never")


async def hello(scope: dict[str, object], receive: object, send: object) -> None:
    assert callable(send)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hi"})


def test_in_process_servers_bind_port_0_and_report_the_port() -> None:
    with serve_asgi(hello, interface="asgi3") as one, serve_asgi(hello, interface="asgi3") as two:
        assert one != two
        assert httpx.get(one, timeout=5).text == httpx.get(two, timeout=5).text == "hi"


def test_a_child_that_lost_its_port_is_started_again() -> None:
    attempts: list[int] = []

    @contextlib.contextmanager
    def start() -> Iterator[int]:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise PortTaken("cannot listen on 127.0.0.1:1 (listen): Address already in use")
        yield len(attempts)

    with contextlib.contextmanager(retrying)(start) as value:
        assert value == 2
    assert attempts == [0, 1]
    assert lost_port_race(
        "ERROR: [Errno 98] error while attempting to bind: address already in use"
    )
