"""The plain request/response endpoints: hello, echo, upload, slow and status.

These are what proxy tests aim at: ``echo`` shows exactly what arrived (so
header stripping and path normalisation can be checked from the far side),
``slow`` and ``status`` produce timeouts and bodiless answers on demand.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from demo_backend.bodies import digest
from demo_backend.caller import Caller, caller_of

router = APIRouter(prefix="/api")
# The example config's public route (/public/) lands here, signed but without identity.
public_router = APIRouter(prefix="/public")

ECHO_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MAX_DELAY = 30.0
# RFC 9110 section 6.4.1 and 15.3.5 / 15.4.5: these answers never carry content.
BODYLESS_STATUSES = frozenset({204, 304})


class Hello(BaseModel):
    message: str
    caller: Caller | None


class Echo(BaseModel):
    method: str
    path: str
    raw_path: str
    query: str
    headers: list[tuple[str, str]]
    body_bytes: int
    body_sha256: str
    caller: Caller | None


class Upload(BaseModel):
    bytes: int
    sha256: str


class Slept(BaseModel):
    slept: float


class Status(BaseModel):
    status: int


@router.get("/hello")
async def hello(request: Request) -> Hello:
    caller = caller_of(request)
    who = (caller.name or caller.email or caller.subject) if caller else "anonymous"
    return Hello(message=f"hello, {who}", caller=caller)


@public_router.get("/hello")
async def public_hello(request: Request) -> Hello:
    return await hello(request)


@router.api_route("/echo", methods=ECHO_METHODS)
async def echo(request: Request) -> Echo:
    body = await digest(request.stream())
    # Header bytes are latin-1 on the wire (RFC 9110 section 5.5); decode losslessly.
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    return Echo(
        method=request.method,
        path=request.scope["path"],
        raw_path=raw_path.decode("latin-1"),
        query=request.scope["query_string"].decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        body_bytes=body.length,
        body_sha256=body.sha256,
        caller=caller_of(request),
    )


@router.post("/upload")
async def upload(request: Request) -> Upload:
    body = await digest(request.stream())
    return Upload(bytes=body.length, sha256=body.sha256)


@router.get("/slow")
async def slow(delay: Annotated[float, Query(ge=0, le=MAX_DELAY)] = 1.0) -> Slept:
    await asyncio.sleep(delay)
    return Slept(slept=delay)


@router.get("/status/{code}")
async def status(code: Annotated[int, Path(ge=200, le=599)]) -> Response:
    if code in BODYLESS_STATUSES:
        return Response(status_code=code)
    return Response(
        content=Status(status=code).model_dump_json(),
        status_code=code,
        media_type="application/json",
    )
