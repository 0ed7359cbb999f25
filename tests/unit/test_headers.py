"""The header trust boundary, as a unit (the end-to-end twin is in test_proxy_headers)."""

import ipaddress

from proxy.headers import (
    ClientHeaders,
    client_address,
    client_scheme,
    downstream_headers,
    strip_session_cookie,
    upstream_headers,
)

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"),)


def forward(
    raw: list[tuple[bytes, bytes]], peer: str = "192.0.2.1", trusted: bool = False
) -> dict[bytes, list[bytes]]:
    h = ClientHeaders.read(raw)
    out = upstream_headers(
        raw,
        h,
        host=b"app",
        peer=peer,
        scheme=client_scheme("http", h, trusted),  # as the app decides it
        request_id=h.request_id_or_new(),
        trusted=trusted,
    )
    grouped: dict[bytes, list[bytes]] = {}
    for name, value in out:
        grouped.setdefault(name, []).append(value)
    return grouped


def test_identity_spellings_removed() -> None:
    out = forward(
        [
            (b"edgeward-user", b"admin"),
            (b"edgeward_user", b"admin"),
            (b"edgeward-assertion", b"forged"),
            (b"edgeward_assertion", b"forged"),
            (b"signature", b"x"),
            (b"signature_input", b"x"),
            (b"x_forwarded_for", b"1.2.3.4"),
            (b"x-real-ip", b"1.2.3.4"),
            (b"forwarded", b"for=1.2.3.4"),
            (b"accept", b"*/*"),
        ]
    )
    assert not [n for n in out if n.replace(b"_", b"-").startswith((b"edgeward", b"signature"))]
    assert out[b"x-forwarded-for"] == [b"192.0.2.1"]
    assert b"x-real-ip" not in out and b"forwarded" not in out and b"x_forwarded_for" not in out
    assert out[b"accept"] == [b"*/*"]


def test_connection_cannot_remove_proxy_headers() -> None:
    out = forward(
        [
            (b"connection", b"close, X-Request-Id, X-Forwarded-For, x-custom"),
            (b"x-request-id", b"client-chosen-id-1"),
            (b"x-custom", b"1"),
            (b"keep-alive", b"timeout=5"),
            (b"te", b"trailers"),
        ]
    )
    assert len(out[b"x-request-id"]) == 1 and out[b"x-request-id"] != [b"client-chosen-id-1"]
    assert out[b"x-forwarded-for"] == [b"192.0.2.1"]
    assert b"x-custom" not in out and b"keep-alive" not in out and b"te" not in out
    assert b"connection" not in out


def test_request_id_kept_when_well_formed_else_new() -> None:
    assert (
        ClientHeaders.read([(b"x-request-id", b"abc-123_XYZ.9")]).request_id_or_new()
        == "abc-123_XYZ.9"
    )
    for bad in (b"short", b"has space in it", b"x" * 200, b"new\nline-header"):
        rid = ClientHeaders.read([(b"x-request-id", bad)]).request_id_or_new()
        assert rid != bad.decode("latin-1") and len(rid) == 32


def test_forwarded_headers_only_from_trusted_peers() -> None:
    raw = [
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"evil"),
    ]
    untrusted = forward(raw, peer="192.0.2.1", trusted=False)
    assert untrusted[b"x-forwarded-for"] == [b"192.0.2.1"]
    assert untrusted[b"x-forwarded-proto"] == [b"http"]
    assert b"evil" not in untrusted.get(b"x-forwarded-host", [])
    trusted = forward(raw, peer="10.1.2.3", trusted=True)
    assert trusted[b"x-forwarded-for"] == [b"203.0.113.9, 10.1.2.3"]
    assert trusted[b"x-forwarded-proto"] == [b"https"]


def test_client_address_walks_trusted_hops() -> None:
    h = ClientHeaders.read([(b"x-forwarded-for", b"198.51.100.7, 203.0.113.9, 10.0.0.5")])
    assert client_address("10.0.0.1", h, TRUSTED) == "203.0.113.9"
    assert client_address("192.0.2.1", h, TRUSTED) == "192.0.2.1"


def test_session_cookie_never_forwarded() -> None:
    assert strip_session_cookie(b"a=1; edgeward_session=s; b=2") == b"a=1; b=2"
    assert strip_session_cookie(b"__Host-edgeward_session=s") == b""
    out = forward([(b"cookie", b"edgeward_session=secret; theme=dark")])
    assert out[b"cookie"] == [b"theme=dark"]
    assert b"cookie" not in forward([(b"cookie", b"edgeward_session=secret")])


def test_response_hop_by_hop_removed_and_request_id_echoed() -> None:
    out = downstream_headers(
        [
            (b"connection", b"x-secret"),
            (b"x-secret", b"1"),
            (b"transfer-encoding", b"chunked"),
            (b"x-request-id", b"upstream"),
            (b"content-type", b"text/plain"),
        ],
        "rid-1234567890",
    )
    assert out == [(b"content-type", b"text/plain"), (b"x-request-id", b"rid-1234567890")]


# Every spelling of "where did this come from" and of "serve another path or method".
FORWARDING = [
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-prefix",
    b"x-forwarded-scheme",
    b"x-forwarded-ssl",
    b"x-forwarded-server",
    b"x-forwarded-port",
    b"x-forwarded-uri",
    b"x-forwarded-method",
    b"x-forwarded-path",
    b"x-forwarded-anything-at-all",
    b"x-forwarded",
    b"forwarded",
    b"forwarded-for",
    b"x-real-ip",
    b"x-client-ip",
    b"client-ip",
    b"true-client-ip",
    b"x-cluster-client-ip",
    b"cf-connecting-ip",
    b"fastly-client-ip",
]
OVERRIDES = [
    b"x-original-url",
    b"x-rewrite-url",
    b"x-original-uri",
    b"x-original-host",
    b"x-host",
    b"x-http-method-override",
    b"x-http-method",
    b"x-method-override",
]
PROXY_WRITES = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}


def spellings(name: bytes) -> list[bytes]:
    return [name, name.replace(b"-", b"_")]


def test_every_forwarding_and_override_spelling_is_dropped_from_untrusted_peers() -> None:
    raw = [(s, b"6.6.6.6") for name in FORWARDING + OVERRIDES for s in spellings(name)]
    out = forward([*raw, (b"host", b"app.example")], peer="192.0.2.1", trusted=False)
    leaked = [n for n in out if n.replace(b"_", b"-") in {*FORWARDING, *OVERRIDES} - PROXY_WRITES]
    assert leaked == []
    assert out[b"x-forwarded-for"] == [b"192.0.2.1"]
    assert out[b"x-forwarded-proto"] == [b"http"]
    assert out[b"x-forwarded-host"] == [b"app.example"]
    assert b"6.6.6.6" not in [v for values in out.values() for v in values]


def test_trusted_peer_contributes_only_for_proto_host_and_never_overrides() -> None:
    raw = [(s, b"203.0.113.9") for name in FORWARDING + OVERRIDES for s in spellings(name)]
    raw = [(n, v) for n, v in raw if n not in PROXY_WRITES]  # the dash spellings, below
    raw += [
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"front.example"),
        (b"host", b"app.example"),
    ]
    out = forward(raw, peer="10.1.2.3", trusted=True)
    # The three the proxy writes, from the trusted hop's values; nothing else of the family.
    assert out[b"x-forwarded-for"] == [b"203.0.113.9, 10.1.2.3"]
    assert out[b"x-forwarded-proto"] == [b"https"]
    assert out[b"x-forwarded-host"] == [b"front.example"]
    names = {n.replace(b"_", b"-") for n in out}
    assert names & {*FORWARDING, *OVERRIDES} == PROXY_WRITES
    assert not [n for n in out if b"_" in n]  # no "_" spelling, not even of the three
