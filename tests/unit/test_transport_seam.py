"""The forwarder behind the ``Transport`` seam: the real ProxyApp with an in-memory transport.

No sockets: the client side is httpx's ASGI transport, the upstream side a fake that
records what the forwarder hands it and answers with a scripted response.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from proxy.accesslog import JsonLog
from proxy.app import ProxyApp
from proxy.config.schema import Config
from proxy.runtime import Services
from proxy.snapshot import Snapshot
from proxy.upstream import (
    DEFAULT_TIMEOUTS,
    Origin,
    Timeouts,
    Transport,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from proxy.verify import Verifier

PUBLIC_URL = "https://proxy.test"
UPSTREAM = "http://backend.test:9000"
CONFIG = Config.model_validate(
    {
        "public_url": PUBLIC_URL,
        "routes": [
            {
                "name": "r",
                "to": UPSTREAM,
                "public": True,
                "timeouts": {"connect": 1.5, "read": 7},
            }
        ],
    }
)


@dataclass
class Sent:
    origin: Origin
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes | None
    content_length: int | None
    timeouts: Timeouts


@dataclass
class FakeResponse:
    status: int
    headers: Sequence[tuple[bytes, bytes]]
    parts: list[tuple[bytes, bool]]
    closed: int = 0

    async def _iterate(self) -> AsyncIterator[tuple[bytes, bool]]:
        for part in self.parts:
            yield part

    def body_parts(self) -> AsyncIterator[tuple[bytes, bool]]:
        return self._iterate()

    async def aclose(self) -> None:
        self.closed += 1


@dataclass
class FakeTransport:
    """Records each request; answers with ``response`` or raises ``error``."""

    response: FakeResponse
    error: UpstreamError | None = None
    sent: list[Sent] = field(default_factory=list)
    closed: bool = False

    async def request(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
        *,
        content_length: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> FakeResponse:
        data = b"".join([chunk async for chunk in body]) if body is not None else None
        self.sent.append(
            Sent(origin, method, target, list(headers), data, content_length, timeouts)
        )
        if self.error is not None:
            raise self.error
        return self.response

    async def aclose(self) -> None:
        self.closed = True


def build(fake: Transport) -> ProxyApp:
    services = Services.build(CONFIG, JsonLog(io.BytesIO()), transport=fake)
    return ProxyApp(services, Snapshot.build(CONFIG, services))


async def test_the_forwarder_hands_the_transport_the_signed_request(tmp_path: Path) -> None:
    answer = FakeResponse(
        201,
        [
            (b"content-type", b"text/plain"),
            (b"connection", b"x-hop"),
            (b"x-hop", b"1"),
            (b"content-length", b"5"),
        ],
        [(b"he", False), (b"llo", True)],
    )
    fake = FakeTransport(answer)
    app = build(fake)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy.test"
    ) as client:
        r = await client.post(
            "/items/7?x=1&y",
            content=b'{"a":1}',
            headers={
                "connection": "x-secret",
                "x-secret": "hop-by-hop",
                "signature": "forged",
                "x-request-id": "req-0123456789",
            },
        )
    assert (r.status_code, r.text) == (201, "hello"), r.text
    assert "x-hop" not in r.headers  # the upstream's hop-by-hop fields stop at the proxy
    assert r.headers["x-request-id"] == "req-0123456789"
    assert answer.closed >= 1  # the forwarder always releases the response

    [sent] = fake.sent
    assert sent.origin == Origin("http", "backend.test", 9000)
    assert (sent.method, sent.target) == ("POST", b"/items/7?x=1&y")
    assert (sent.body, sent.content_length) == (b'{"a":1}', 7)
    assert sent.timeouts == Timeouts(connect=1.5, read=7)
    names = [name for name, _ in sent.headers]
    assert len(names) == len(set(names))  # one line per field: nothing left ambiguous
    fields = {name.decode(): value.decode() for name, value in sent.headers}
    assert fields["host"] == "proxy.test"  # preserve_host (the default)
    assert fields["x-request-id"] == "req-0123456789"
    assert "x-secret" not in fields and "connection" not in fields
    assert fields["signature"] != "forged" and "signature-input" in fields
    assert "content-digest" in fields

    # What the transport got is what a backend verifies: signature, digest, coverage.
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(app.snapshot.keys.jwks_document())
    verifier = Verifier(issuer=PUBLIC_URL, audience=UPSTREAM, key_file=str(jwks))
    path, _, query = sent.target.decode().partition("?")
    identity = await verifier.verify(
        sent.method,
        fields["host"],
        path,
        "?" + query,
        list(fields.items()),
        sent.body,
    )
    assert identity is None  # a public route: signed, but nobody signed in
    await verifier.aclose()

    await app.services.aclose()
    assert fake.closed  # the services close the transport they were given


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (UpstreamConnectError("refused"), 502, "upstream_unavailable"),
        (UpstreamTimeout("slow"), 504, "upstream_timeout"),
    ],
)
async def test_a_transport_failure_is_a_problem_response(
    error: UpstreamError, status: int, code: str
) -> None:
    fake = FakeTransport(FakeResponse(200, [], [(b"", True)]), error=error)
    app = build(fake)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://proxy.test"
    ) as client:
        r = await client.get("/")
    await app.services.aclose()
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    [sent] = fake.sent
    assert (sent.method, sent.target, sent.body, sent.content_length) == ("GET", b"/", None, None)
