"""One request target, end to end on a real proxy with raw sockets (RFC 9112 §3.2).

The backend verifies the proxy's signature (``proxy.verify``), so a 200 also proves
that the authority the proxy signed is the ``Host`` the backend received.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from tests.harness import Proxy, free_port, public_route, run_backend, run_proxy

DOWN = "http://127.0.0.1:1"  # a request routed here answers 502: the wrong route


@dataclass
class Answer:
    status: int
    head: bytes
    body: bytes

    def json(self) -> dict[str, object]:
        value = orjson.loads(self.body)
        assert isinstance(value, dict)
        return value

    def received(self) -> dict[str, list[str]]:
        """The headers the echoing backend received, grouped by name."""
        grouped: dict[str, list[str]] = {}
        headers = self.json()["headers"]
        assert isinstance(headers, list)
        for name, value in headers:
            grouped.setdefault(name, []).append(value)
        return grouped


def send(proxy: Proxy, request_line: bytes, *headers: bytes) -> Answer:
    data = request_line + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
    out = proxy.raw(data + b"Connection: close\r\n\r\n", until_close=True)
    head, _, body = out.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), head, body)


def on_host(name: str, host: str, path: str, to: str) -> dict[str, object]:
    return {**public_route(name, to, path), "match": {"host": host, "path": path}}


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    port, backend_port = free_port(), free_port()
    public_url, backend = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{backend_port}"
    verify = ["--jwks-url", f"{public_url}/.edgeward/jwks.json", "--issuer", public_url]
    config = {
        "routes": [
            on_host("a", "a.example", "/api/", backend),
            on_host("b", "b.example", "/api/", DOWN),
            public_route("any", backend, "/api/"),
            on_host("ws-a", "a.example", "/ws", backend),
            on_host("ws-b", "b.example", "/ws", DOWN),
        ]
    }
    with (
        run_backend(*verify, "--audience", backend, port=backend_port),
        run_proxy(tmp_path_factory.mktemp("target"), config, port=port) as p,
    ):
        yield p


def test_origin_form_routes_on_host(proxy: Proxy) -> None:
    assert send(proxy, b"GET /api/echo HTTP/1.1", b"Host: a.example").status == 200
    assert send(proxy, b"GET /api/echo HTTP/1.1", b"Host: b.example").status == 502


def test_absolute_form_authority_is_routed_signed_and_forwarded(proxy: Proxy) -> None:
    r = send(proxy, b"GET http://a.example/api/echo?x=1 HTTP/1.1", b"Host: b.example")
    assert r.status == 200, r.body  # route "a"; the verifying backend accepted @authority
    got = r.received()
    assert got["host"] == ["a.example"]
    assert got["x-forwarded-host"] == ["a.example"]
    assert r.json()["path"] == "/api/echo" and r.json()["query"] == "x=1"
    rid = dict(h.split(b": ", 1) for h in r.head.split(b"\r\n")[1:])[b"x-request-id"].decode()
    line = proxy.wait_for_line(lambda x: x.get("request_id") == rid and x.get("type") == "access")
    assert line["route"] == "a"


def test_absolute_form_never_falls_back_to_host(proxy: Proxy) -> None:
    # The target names b.example: routed there (502) although Host says a.example.
    assert send(proxy, b"GET http://b.example/api/echo HTTP/1.1", b"Host: a.example").status == 502
    # Scheme and host are case-insensitive (RFC 9110 §4.2.3): the target's host is the
    # one sent, in the lowercase form the signature's @authority covers.
    r = send(proxy, b"GET HTTP://A.Example:80/api/echo HTTP/1.1", b"Host: b.example")
    assert r.status == 200, r.body
    assert r.received()["host"] == ["a.example"]


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET https://a.example/api/echo HTTP/1.1",  # not this connection's scheme
        b"GET http://user@a.example/api/echo HTTP/1.1",  # userinfo
        b"GET http://a.example:99999/api/echo HTTP/1.1",
        b"GET http://a.example HTTP/1.1",  # no path: refused by the HTTP layer
        b"GET http://a.example/api/echo#x HTTP/1.1",
        b"GET ftp://a.example/api/echo HTTP/1.1",
        b"GET a.example:80 HTTP/1.1",  # authority-form is for CONNECT only
        b"GET * HTTP/1.1",  # asterisk-form is for OPTIONS only, and not proxied
    ],
)
def test_bad_absolute_form_is_400(proxy: Proxy, request_line: bytes) -> None:
    r = send(proxy, request_line, b"Host: a.example")
    assert r.status == 400
    assert b"Traceback" not in r.body


@pytest.mark.parametrize(
    "hosts",
    [
        (b"Host: a.example", b"Host: b.example"),
        (b"Host: b.example", b"Host: a.example"),
        (b"Host: a.example", b"Host: a.example"),  # even the same value twice
        (b"Host: a.example", b"hOsT: a.example"),
    ],
)
def test_two_host_headers_are_400(proxy: Proxy, hosts: tuple[bytes, bytes]) -> None:
    r = send(proxy, b"GET /api/echo HTTP/1.1", *hosts)
    assert r.status == 400
    assert r.json()["code"] == "bad_request_target"
    assert "Host" in str(r.json()["detail"])


def test_absolute_form_with_two_host_headers_is_400(proxy: Proxy) -> None:
    r = send(proxy, b"GET http://a.example/api/echo HTTP/1.1", b"Host: a.example", b"Host: x")
    assert r.status == 400


def test_missing_host_is_400_in_http_1_1(proxy: Proxy) -> None:
    r = send(proxy, b"GET http://a.example/api/echo HTTP/1.1")
    assert r.status == 400 and "Host" in str(r.json()["detail"])
    assert send(proxy, b"GET http://a.example/api/echo HTTP/1.0").status == 200


@pytest.mark.parametrize(
    "target",
    [
        b"/api/echo#frag",
        b"/api/echo?x=1#frag",
        b"/api/public#/../admin",
        b"/api/echo#",
    ],
)
def test_fragment_is_400(proxy: Proxy, target: bytes) -> None:
    r = send(proxy, b"GET " + target + b" HTTP/1.1", b"Host: a.example")
    assert r.status == 400
    assert r.json()["code"] == "bad_request_target"


@pytest.mark.parametrize(
    "encoded",
    [
        b"%c0%af",  # overlong "/"
        b"%e0%80%af",
        b"%f0%80%80%af",
        b"%c0%ae%c0%ae",  # overlong ".."
        b"%ed%a0%80",  # surrogate
        b"%80",  # lone continuation byte
        b"%e2%82",  # truncated
        b"%c3",
        b"%ff",
    ],
)
def test_encoded_bytes_that_are_not_utf8_are_400(proxy: Proxy, encoded: bytes) -> None:
    r = send(proxy, b"GET /api/" + encoded + b"admin HTTP/1.1", b"Host: a.example")
    assert r.status == 400, r.body  # never forwarded: a lax decoder would see a "/"
    assert r.json()["code"] == "bad_request_target"


def test_valid_utf8_escapes_are_forwarded_as_sent(proxy: Proxy) -> None:
    r = send(proxy, b"GET /api/echo/caf%c3%a9 HTTP/1.1", b"Host: a.example")
    assert r.status != 400  # the backend has no such path; it is the one answering


UPGRADE = (
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    b"Sec-WebSocket-Version: 13",
)


def handshake(proxy: Proxy, request_line: bytes, *headers: bytes) -> int:
    """The status of a WebSocket handshake (its own server, its own target parsing)."""
    data = request_line + b"\r\n" + b"".join(h + b"\r\n" for h in (*headers, *UPGRADE))
    return int(proxy.raw(data + b"\r\n").split(b" ", 2)[1])


def test_websocket_handshake_has_one_target_too(proxy: Proxy) -> None:
    assert handshake(proxy, b"GET /ws HTTP/1.1", b"Host: a.example") == 101
    # Absolute-form: the target's authority is routed (and signed: the backend verifies).
    assert handshake(proxy, b"GET http://a.example/ws HTTP/1.1", b"Host: b.example") == 101
    assert handshake(proxy, b"GET http://b.example/ws HTTP/1.1", b"Host: a.example") != 101
    assert handshake(proxy, b"GET /ws HTTP/1.1", b"Host: a.example", b"Host: b.example") == 400
    assert handshake(proxy, b"GET /ws?x=1#f HTTP/1.1", b"Host: a.example") == 400
    assert handshake(proxy, b"GET /ws/%c0%af HTTP/1.1", b"Host: a.example") == 400
