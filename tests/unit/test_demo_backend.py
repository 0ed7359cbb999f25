"""The demo backend over a real uvicorn server, and the deployment files it ships with."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from demo_backend.__main__ import parse_args, wrap_with_verifier
from demo_backend.app import create_app
from demo_backend.sockets import close_code
from demo_backend.stats import OVERFLOW_KEY, RequestCounters
from proxy.identity import Identity
from proxy.signing import AssertionMinter, KeySet, RequestSigner
from proxy.verify import Verifier
from tests.harness import free_port, serve_asgi

TIMEOUT = httpx.Timeout(5.0)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_asgi(create_app()) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=TIMEOUT) as c:
        yield c


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws"


# --- hello and identity ---------------------------------------------------------------


def test_hello_without_identity_is_anonymous(client: httpx.Client) -> None:
    r = client.get("/api/hello")
    assert r.status_code == 200
    assert r.json() == {"message": "hello, anonymous", "caller": None}


class _FakeVerify:
    """Stands where proxy.verify's middleware will: puts an Identity in scope state."""

    def __init__(self, app: Any, identity: Identity) -> None:
        self.app = app
        self.identity = identity

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["identity"] = self.identity
        await self.app(scope, receive, send)


def test_hello_and_echo_show_the_identity_from_scope_state() -> None:
    alice = Identity(subject="u-1", auth="bearer", email="a@example.com", groups=("admins",))
    with (
        serve_asgi(_FakeVerify(create_app(), alice)) as url,
        httpx.Client(base_url=url, timeout=TIMEOUT) as c,
    ):
        hello = c.get("/api/hello").json()
        echoed = c.get("/api/echo").json()
    assert hello["message"] == "hello, a@example.com"
    assert hello["caller"]["subject"] == "u-1"
    assert hello["caller"]["groups"] == ["admins"]
    assert echoed["caller"]["auth"] == "bearer"


# --- echo and upload --------------------------------------------------------------------


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A deterministic body produced piece by piece (sent chunked, never whole)."""
    for offset in range(0, total, size):
        n = min(size, total - offset)
        yield bytes((offset + i) % 251 for i in range(n))


def test_echo_reports_method_path_query_headers_and_body(client: httpx.Client) -> None:
    body = b"".join(chunks(300_000))
    r = client.request(
        "PATCH",
        "/api/echo?b=2&a=1&a=",
        content=chunks(300_000),
        headers=[("X-Dup", "one"), ("X-Dup", "two")],
    )
    got = r.json()
    assert r.status_code == 200
    assert (got["method"], got["path"], got["query"]) == ("PATCH", "/api/echo", "b=2&a=1&a=")
    assert [v for k, v in got["headers"] if k == "x-dup"] == ["one", "two"]
    assert ["transfer-encoding", "chunked"] in got["headers"]
    assert got["body_bytes"] == len(body)
    assert got["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_echo_keeps_the_raw_path(client: httpx.Client) -> None:
    got = client.get("/api/echo", params={"q": "a b"}).json()
    assert got["raw_path"] == "/api/echo"
    assert got["query"] == "q=a+b"


def test_upload_of_several_megabytes_streams_with_correct_digest(client: httpx.Client) -> None:
    total = 4 * 1024 * 1024 + 17
    expected = hashlib.sha256()
    for piece in chunks(total):
        expected.update(piece)
    r = client.post("/api/upload", content=chunks(total))
    assert r.status_code == 200
    assert r.json() == {"bytes": total, "sha256": expected.hexdigest()}


# --- server-sent events -----------------------------------------------------------------


def read_events(response: httpx.Response) -> list[tuple[float, dict[str, Any]]]:
    """Each event's payload with the local time its data line arrived."""
    events: list[tuple[float, dict[str, Any]]] = []
    ids: list[str] = []
    for line in response.iter_lines():
        if line.startswith("id: "):
            ids.append(line.removeprefix("id: "))
        elif line.startswith("data: "):
            events.append((time.time(), json.loads(line.removeprefix("data: "))))
    assert ids == [str(e["i"]) for _, e in events]
    return events


def test_stream_events_arrive_one_by_one(client: httpx.Client) -> None:
    with client.stream("GET", "/api/stream", params={"n": 5, "interval": 0.2}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_events(r)
    assert [e["i"] for _, e in events] == [0, 1, 2, 3, 4]
    # Unbuffered means each event was in the client's hands before the next was made.
    for (arrived, _), (_, following) in itertools.pairwise(events):
        assert arrived < following["t"]


def test_stream_defaults_and_bounds(client: httpx.Client) -> None:
    with client.stream("GET", "/api/stream", params={"interval": 0}) as r:
        assert len(read_events(r)) == 10
    r = client.get("/api/stream", params={"n": 10_001})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


# --- WebSocket --------------------------------------------------------------------------


def test_websocket_echoes_text_and_binary_with_subprotocol(base_url: str) -> None:
    with connect(ws_url(base_url), subprotocols=[Subprotocol("echo")], open_timeout=5) as ws:
        assert ws.subprotocol == "echo"
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv(timeout=5) == b"\x00\xff" * 1000


def test_websocket_without_offered_subprotocol_selects_none(base_url: str) -> None:
    with connect(ws_url(base_url), open_timeout=5) as ws:
        assert ws.subprotocol is None
        ws.send("close:not-a-code")
        assert ws.recv(timeout=5) == "close:not-a-code"


@pytest.mark.parametrize(("code", "reason"), [(4001, "bye"), (1000, ""), (1011, "")])
def test_websocket_closes_with_the_requested_code(base_url: str, code: int, reason: str) -> None:
    with connect(ws_url(base_url), open_timeout=5) as ws:
        ws.send(f"close:{code}:{reason}" if reason else f"close:{code}")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("close:4001", (4001, "")),
        ("close:3000:why", (3000, "why")),
        ("close:1005", None),  # RFC 6455 7.4.1: never sent in a frame
        ("close:2000", None),
        ("close:", None),
        ("hello", None),
    ],
)
def test_close_code_parsing(text: str, expected: tuple[int, str] | None) -> None:
    assert close_code(text) == expected


# --- items, status, slow ----------------------------------------------------------------


def test_items_are_deterministic_and_cacheable(client: httpx.Client) -> None:
    first, second = client.get("/api/items/42"), client.get("/api/items/42")
    assert first.status_code == 200
    assert first.content == second.content
    assert first.json()["id"] == 42
    assert first.headers["cache-control"] == "public, max-age=30"
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["etag"] != client.get("/api/items/43").headers["etag"]


def test_items_answer_304_to_a_matching_if_none_match(client: httpx.Client) -> None:
    etag = client.get("/api/items/7").headers["etag"]
    r = client.get("/api/items/7", headers={"If-None-Match": f'"other", W/{etag}'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == etag


@pytest.mark.parametrize("item_id", [0, 1001, -1])
def test_items_outside_the_range_are_404_problems(client: httpx.Client, item_id: int) -> None:
    r = client.get(f"/api/items/{item_id}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 404


@pytest.mark.parametrize("code", [204, 304])
def test_status_without_body(client: httpx.Client, code: int) -> None:
    r = client.get(f"/api/status/{code}")
    assert (r.status_code, r.content) == (code, b"")


def test_status_with_body_and_bounds(client: httpx.Client) -> None:
    r = client.get("/api/status/500")
    assert (r.status_code, r.json()) == (500, {"status": 500})
    assert client.get("/api/status/99").status_code == 422


def test_slow_waits_and_is_bounded(client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/slow", params={"delay": 2}, timeout=httpx.Timeout(5.0, read=0.3))
    assert client.get("/api/slow", params={"delay": 0}).json() == {"slept": 0.0}
    assert client.get("/api/slow", params={"delay": 31}).status_code == 422


def test_unknown_path_is_a_problem_not_a_trace(client: httpx.Client) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


# --- stats ------------------------------------------------------------------------------


def test_stats_count_requests_per_path() -> None:
    with serve_asgi(create_app()) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as c:
        c.get("/api/hello")
        c.get("/api/hello")
        c.get("/api/items/3")
        stats = c.get("/admin/stats").json()
    assert stats["paths"] == {"/api/hello": 2, "/api/items/3": 1, "/admin/stats": 1}
    assert stats["total"] == 4


def test_stats_cap_distinct_paths() -> None:
    counters = RequestCounters(max_paths=2)
    for path in ("/a", "/b", "/c", "/a", "/d"):
        counters.record(path)
    assert counters.snapshot().paths == {"/a": 2, "/b": 1, OVERFLOW_KEY: 2}


# --- command line -----------------------------------------------------------------------


def test_jwks_url_needs_issuer_and_audience() -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(["--port", "1", "--jwks-url", "http://127.0.0.1:1/jwks.json"])
    assert exited.value.code == 2


def test_create_app_refuses_something_that_is_not_a_verifier() -> None:
    with pytest.raises(TypeError):
        create_app(verifier=object())


# --- verified by proxy.verify ------------------------------------------------------------

ISSUER = "http://127.0.0.1:8080"


def signed(
    signer: RequestSigner, url: str, path: str, assertion: str | None = None
) -> dict[str, str]:
    """Headers the proxy would add to a body-less GET of ``path`` on ``url``."""
    fields = {"x-request-id": "rid-1"}
    if assertion is not None:
        fields["edgeward-assertion"] = assertion
    authority = url.removeprefix("http://")
    pairs = signer.sign(
        "GET", authority, path, "?", fields, public=assertion is None, body_covered=None
    )
    return {**fields, **{k.decode(): v.decode() for k, v in pairs}}


def test_verified_backend_answers_only_signed_requests(tmp_path: Path) -> None:
    keys = KeySet.ephemeral()
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(keys.jwks_document())
    alice = Identity(subject="alice", auth="session", email="a@example.com", groups=("admins",))
    port = free_port()
    audience = f"http://127.0.0.1:{port}"
    verifier = Verifier(issuer=ISSUER, audience=audience, key_file=str(jwks))
    with serve_asgi(create_app(verifier), port=port) as url, httpx.Client(timeout=TIMEOUT) as c:
        unsigned = c.get(f"{url}/api/hello")
        token = AssertionMinter(keys, ISSUER).mint(alice, audience, "rid-1")
        headers = signed(RequestSigner(keys.signing), url, "/api/hello", token)
        first = c.get(f"{url}/api/hello", headers=headers)
        replayed = c.get(f"{url}/api/hello", headers=headers)
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"].startswith("application/problem+json")
    assert first.status_code == 200
    assert first.json()["caller"]["subject"] == "alice"
    assert replayed.status_code == 401  # the nonce was used: proxy.verify sits in front


def test_without_key_flags_the_app_is_left_unwrapped() -> None:
    app = create_app()
    before = list(app.user_middleware)
    assert wrap_with_verifier(app, parse_args(["--port", "1"])) is app
    assert app.user_middleware == before
