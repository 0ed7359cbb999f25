"""Errors of the proxy's own making, rendered in one place (narrow unit tests)."""

from __future__ import annotations

import dataclasses
import io

import httpx

from proxy.accesslog import JsonLog
from proxy.app import ProxyApp
from proxy.config.schema import Config
from proxy.context import Request
from proxy.forward import upstream_failure
from proxy.runtime import RouteTable, RouteTarget, Services
from proxy.snapshot import Snapshot
from proxy.upstream import UpstreamConnectError, UpstreamRequestError, UpstreamTimeout

CONFIG = Config.model_validate(
    {"routes": [{"name": "r", "to": "http://127.0.0.1:1", "public": True}]}
)


class BrokenTable(RouteTable):
    def match(self, req: Request) -> RouteTarget:
        raise RuntimeError("a bug")


async def test_a_bug_is_a_clean_500_problem() -> None:
    log = io.BytesIO()
    services = Services.build(CONFIG, JsonLog(log))
    snapshot = dataclasses.replace(Snapshot.build(CONFIG, services), table=BrokenTable(CONFIG))
    app = ProxyApp(services, snapshot)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        r = await client.get("/x")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "internal_error" and "a bug" not in r.text
    assert r.json()["request_id"] == r.headers["x-request-id"]
    await app.services.aclose()
    assert b'"status":500' in log.getvalue()  # the access line is still written


def test_upstream_failures_translate_to_statuses() -> None:
    assert upstream_failure("r", UpstreamRequestError("bad framing")).status == 400
    assert upstream_failure("r", UpstreamTimeout("slow")).status == 504
    assert upstream_failure("r", UpstreamConnectError("refused")).status == 502
