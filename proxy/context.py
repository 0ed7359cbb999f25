"""The one typed object a request carries through the pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from proxy.headers import ClientHeaders
from proxy.identity import Identity

# Scope key under which the HTTP protocol passes the request-target exactly as it
# arrived: uvicorn's ``raw_path`` drops a ``#`` fragment and the authority of an
# absolute-form target, both of which the proxy must see to refuse or honour.
REQUEST_TARGET = "edgeward.request_target"


@dataclass(slots=True)
class Request:
    """Per-request state: what arrived, and what each stage decided.

    Created once per request by ``ProxyApp``; stages fill in the fields they
    own (route, identity, decision, upstream timing) and the access log reads
    them at the end.
    """

    scope: dict[str, Any]
    request_id: str
    method: str
    scheme: str
    headers: ClientHeaders
    peer: str | None
    client_ip: str | None = None
    trusted_peer: bool = False
    host: str = ""
    path: str = ""
    query: bytes = b""
    started: float = field(default_factory=time.perf_counter)
    route: str = "-"
    identity: Identity | None = None
    decision: str = ""
    reason: str = ""
    rule: str | None = None
    status: int = 0
    bytes_sent: int = 0
    upstream_ms: float | None = None
    cache: str | None = None
    response_started: bool = False

    @property
    def target(self) -> bytes:
        """The forwarded request target: the normalised path plus the raw query."""
        path = self.path.encode("ascii")
        return path + b"?" + self.query if self.query else path
