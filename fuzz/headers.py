"""Fuzz target: reading the client's headers and building the forwarded ones.

Input: a first line of options (``trusted``, ``https``, ``peer=ADDRESS``), then
header lines ``name: value``. Names are lower-cased and non-token names dropped,
as the server (llhttp via uvicorn) hands them to the app. Drives what
``proxy.app`` does with them: ``ClientHeaders.read``, the request id, the client
address, the declared length, credential extraction, ``upstream_headers``,
``downstream_headers`` and error rendering. Checks:

- nothing raises but ``ProxyError`` / ``AuthError`` with a 4xx status;
- no client spelling of a header the proxy owns, no hop-by-hop header and no
  header named in ``Connection`` survives into the forwarded list; the proxy's own
  ``host``, ``x-forwarded-*`` and ``x-request-id`` appear exactly once each;
- the session cookie never survives; the request id is well-formed;
- the response side drops hop-by-hop headers and echoes exactly one request id.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable

from fuzz._support import instrumented

with instrumented("proxy"):
    from proxy.authn.bearer import extract_bearer
    from proxy.authn.errors import AuthError
    from proxy.authn.service_tokens import extract_client_credentials
    from proxy.body import declared_length
    from proxy.errors import ProxyError, render
    from proxy.headers import (
        SESSION_COOKIES,
        ClientHeaders,
        client_address,
        downstream_headers,
        is_trusted,
        upstream_headers,
    )

# Properties current code is known to break (none found): see fuzz/paths.py.
KNOWN_BUGS: dict[str, str] = {}
MAX_LEN = 2048
DICTIONARY = (
    b"trusted https peer=10.0.0.1\n",
    b"peer=::1\n",
    b"\nhost: ",
    b"\nconnection: ",
    b"\nx-forwarded-for: ",
    b"\nx_forwarded_for: ",
    b"\nx-forwarded-proto: ",
    b"\nx-forwarded-host: ",
    b"\nx-request-id: ",
    b"\nedgeward-user: ",
    b"\nEdgeward_Client_Id: ",
    b"\nedgeward-client-secret: ",
    b"\nsignature-input: ",
    b"\ncontent-digest: ",
    b"\ncookie: ",
    b"edgeward_session=",
    b"__Host-edgeward_session=",
    b"\nauthorization: Bearer ",
    b"\ncontent-length: ",
    b"\ntransfer-encoding: chunked",
    b"\nkeep-alive: ",
    b"\nupgrade: websocket",
    b"\naccept: text/html",
    b"\nforwarded: for=1.2.3.4",
    b", ",
    b"; ",
)

# What the inputs led to, by kind: the seeded pass checks that both the accepting
# and the refusing side were reached (a harness that refuses everything tests little).
OUTCOMES: Counter[str] = Counter()
TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+\Z")  # RFC 9110 §5.6.2, lower-cased
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{8,128}\Z")
_HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-connection proxy-authenticate proxy-authorization te "
    b"trailer transfer-encoding upgrade content-length host expect".split()
)
_OWNED = frozenset(
    b"signature signature-input content-digest x-request-id x-forwarded-for "
    b"x-forwarded-proto x-forwarded-host x-forwarded-port x-forwarded-uri "
    b"x-forwarded-method x-real-ip forwarded".split()
)
_ADDED = (b"x-forwarded-for", b"x-forwarded-proto", b"x-request-id")
_RESPONSE_HOP_BY_HOP = frozenset(
    b"date connection keep-alive proxy-connection proxy-authenticate te trailer "
    b"transfer-encoding upgrade".split()
)


def parse_input(data: bytes) -> tuple[set[bytes], str | None, list[tuple[bytes, bytes]]]:
    first, *lines = data.split(b"\n")
    options = set(first.split())
    peer: str | None = "10.0.0.1" if b"trusted" in options else "203.0.113.7"
    for option in options:
        if option.startswith(b"peer="):
            peer = option[5:].decode("latin-1") or None
    raw = []
    for line in lines:
        name, sep, value = line.rstrip(b"\r").partition(b":")
        name = name.lower()
        if sep and _TOKEN.match(name):
            raw.append((name, value.strip(b" \t")))
    return options, peer, raw


def TestOneInput(data: bytes) -> None:
    options, peer, raw = parse_input(data)
    scheme = "https" if b"https" in options else "http"
    h = ClientHeaders.read(raw)
    trusted = is_trusted(peer, TRUSTED)
    request_id = h.request_id_or_new()
    assert _REQUEST_ID.match(request_id), request_id
    client = client_address(peer, h, TRUSTED) if trusted else peer
    assert client == peer or (client and client in h.forwarded_for.decode("latin-1")), client
    _four_xx(lambda: declared_length(h))
    _four_xx(lambda: extract_bearer([(b"authorization", v) for v in h.authorization]))
    _four_xx(lambda: extract_client_credentials(raw))
    out = upstream_headers(
        raw, h, host=h.host, peer=peer, scheme=scheme, request_id=request_id, trusted=trusted
    )
    check_forwarded(out, h, request_id, peer, scheme, trusted)
    OUTCOMES["trusted" if trusted else "untrusted"] += 1
    check_response(raw, downstream_headers(raw, request_id), request_id)
    headers, body = render(ProxyError(400, "bad_request", "x"), request_id, h.accept)
    assert body and all(b"\r" not in v and b"\n" not in v for _, v in headers)


def _four_xx(call: Callable[[], object]) -> None:
    try:
        call()
    except ProxyError as exc:
        assert 400 <= exc.status < 500, exc
        OUTCOMES[exc.code] += 1
    except AuthError as exc:
        assert exc.status in (400, 401), exc
        OUTCOMES[exc.code] += 1


def check_forwarded(
    out: list[tuple[bytes, bytes]],
    h: ClientHeaders,
    request_id: str,
    peer: str | None,
    scheme: str,
    trusted: bool,
) -> None:
    assert out[0] == (b"host", h.host), out[0]
    names = [name for name, _ in out]
    assert names.count(b"host") == 1, names
    for name in _ADDED:
        assert names.count(name) == 1, (name, names)
    assert names.count(b"x-forwarded-host") <= 1, names
    values = dict(out)
    assert values[b"x-request-id"] == request_id.encode()
    if not trusted:
        assert values[b"x-forwarded-for"] == (peer or "").encode(), values[b"x-forwarded-for"]
        assert values[b"x-forwarded-proto"] == scheme.encode()
    for name, value in out[1:]:
        if name in _ADDED or name == b"x-forwarded-host":
            continue
        dashed = name.replace(b"_", b"-")
        assert name not in _HOP_BY_HOP, f"hop-by-hop header forwarded: {name!r}"
        assert name not in h.connection_tokens, f"Connection-named header forwarded: {name!r}"
        assert dashed not in _OWNED, f"owned header forwarded: {name!r}"
        assert not dashed.startswith(b"edgeward-"), f"reserved header forwarded: {name!r}"
        if name == b"cookie":
            kept = {pair.partition(b"=")[0].strip() for pair in value.split(b";")}
            assert not kept.intersection(SESSION_COOKIES), f"session cookie forwarded: {value!r}"


def check_response(
    raw: list[tuple[bytes, bytes]], out: list[tuple[bytes, bytes]], request_id: str
) -> None:
    assert out[-1] == (b"x-request-id", request_id.encode())
    assert [name for name, _ in out].count(b"x-request-id") == 1
    named: set[bytes] = set()
    for name, value in raw:
        if name == b"connection":
            named.update(t.strip().lower() for t in value.split(b","))
    for name, _ in out[:-1]:
        assert name not in _RESPONSE_HOP_BY_HOP, f"hop-by-hop response header kept: {name!r}"
        assert name not in named, f"Connection-named response header kept: {name!r}"
