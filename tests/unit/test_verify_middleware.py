"""VerifyMiddleware in front of a real app under uvicorn: nothing unsigned reaches a handler."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from proxy import wire
from proxy.identity import Identity
from proxy.signing import AssertionMinter, KeySet, RequestSigner, content_digest
from proxy.verify import Verifier, VerifyMiddleware
from proxy.verify.fastapi import require_identity
from tests.harness import serve_asgi

ISSUER = "https://proxy.test"
AUDIENCE = "http://backend.test"
User = Annotated[Identity, Depends(require_identity)]
ALICE = Identity(subject="alice", auth="session", email="alice@example.com", groups=("admins",))


@dataclass
class Backend:
    url: str
    authority: str
    keyset: KeySet
    calls: list[str] = field(default_factory=list)

    def signed_headers(
        self,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        public: bool = False,
        rid: str = "r",
    ) -> dict[str, str]:
        fields = {wire.REQUEST_ID_HEADER: rid}
        if not public:
            fields[wire.ASSERTION_HEADER] = AssertionMinter(self.keyset, ISSUER).mint(
                ALICE, AUDIENCE, rid
            )
        if body is not None:
            fields[wire.CONTENT_DIGEST_HEADER] = content_digest(body)
        path, _, query = path.partition("?")
        sig = RequestSigner(self.keyset.signing).sign(
            method,
            self.authority,
            path,
            "?" + query,
            fields,
            public=public,
            body_covered=True if body is not None else None,
        )
        return {**fields, **{k.decode(): v.decode() for k, v in sig}}


def build_app(calls: list[str]) -> FastAPI:
    api = FastAPI()

    @api.get("/whoami")
    async def whoami(identity: User) -> dict[str, object]:
        calls.append("whoami")
        return {"sub": identity.subject, "groups": list(identity.groups)}

    @api.post("/echo")
    async def echo(request: Request, identity: User) -> dict[str, object]:
        calls.append("echo")
        return {"sub": identity.subject, "body": (await request.body()).decode()}

    @api.get("/public")
    async def public(request: Request) -> dict[str, object]:
        calls.append("public")
        return {"anonymous": request.state.identity is None}

    @api.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        calls.append("ws")
        await websocket.accept()
        await websocket.send_text(websocket.state.identity.subject)
        await websocket.close()

    return api


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    keyset = KeySet.ephemeral()
    jwks = Path(tmp_path_factory.mktemp("keys")) / "jwks.json"
    jwks.write_bytes(keyset.jwks_document())
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, key_file=str(jwks))
    calls: list[str] = []
    app = VerifyMiddleware(build_app(calls), verifier, max_body=1024)
    with serve_asgi(app) as url:
        yield Backend(url, url.removeprefix("http://"), keyset, calls)


@pytest.fixture(autouse=True)
def _reset_calls(backend: Backend) -> None:
    backend.calls.clear()


async def test_direct_request_is_refused_before_the_handler(backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/whoami", headers={"edgeward-user": "alice"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "code"}
    assert problem["status"] == 401 and problem["code"] == "missing_signature"
    assert backend.calls == []


async def test_signed_request_reaches_the_handler_with_identity(backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/whoami", headers=backend.signed_headers("/whoami"))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "alice", "groups": ["admins"]}
    assert backend.calls == ["whoami"]


async def test_signed_request_for_another_path_is_refused(backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.get("/whoami?admin=1", headers=backend.signed_headers("/whoami"))
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert backend.calls == []


async def test_body_is_verified_then_replayed_to_the_app(backend: Backend) -> None:
    body = b'{"qty": 2}'
    headers = backend.signed_headers("/echo", method="POST", body=body)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        good = await client.post("/echo", content=body, headers=headers)
        tampered = await client.post(
            "/echo",
            content=b'{"qty": 9}',
            headers=backend.signed_headers("/echo", method="POST", body=body),
        )
    assert good.status_code == 200 and good.json() == {"sub": "alice", "body": body.decode()}
    assert tampered.status_code == 401 and tampered.json()["code"] == "digest_mismatch"
    assert backend.calls == ["echo"]


async def test_body_over_the_buffer_limit_is_refused(backend: Backend) -> None:
    body = b"x" * 2048
    headers = backend.signed_headers("/echo", method="POST", body=body)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.post("/echo", content=body, headers=headers)
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert backend.calls == []


async def test_public_route_request_is_anonymous(backend: Backend) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        public = await client.get("/public", headers=backend.signed_headers("/public", public=True))
        needs_user = await client.get(
            "/whoami", headers=backend.signed_headers("/whoami", public=True)
        )
    assert public.status_code == 200 and public.json() == {"anonymous": True}
    assert needs_user.status_code == 401  # require_identity refuses the anonymous request
    assert backend.calls == ["public"]


async def test_websocket_handshake_is_verified(backend: Backend) -> None:
    ws_url = backend.url.replace("http://", "ws://") + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws_url, open_timeout=5):
            pass
    assert refused.value.response.status_code in (401, 403)
    assert backend.calls == []
    async with connect(
        ws_url, additional_headers=backend.signed_headers("/ws"), open_timeout=5
    ) as ws:
        assert await ws.recv() == "alice"
    assert backend.calls == ["ws"]


async def test_require_identity_without_middleware_refuses() -> None:
    calls: list[str] = []
    transport = httpx.ASGITransport(app=build_app(calls))
    async with httpx.AsyncClient(transport=transport, base_url="http://backend.test") as client:
        response = await client.get("/whoami")
    assert response.status_code == 401 and calls == []
