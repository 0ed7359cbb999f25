"""Fuzz target: request path normalisation and Host canonicalisation (``proxy.paths``).

Input: ``<raw path>\\n<Host value>\\n<scheme>`` (later parts optional). The raw path is
also read as a whole request-target (``split_target``, as ``ProxyApp.parse_target``
does), so absolute-form targets (``http://host/...``) are fuzzed too. Checks:

- ``split_target``, ``normalize_path`` and ``canonical_host`` raise nothing but
  ``BadTarget`` (the app turns exactly that into a 400; anything else would be a 500);
- an accepted target has no ``#``; its path is what ``normalize_path`` gets, its
  authority (absolute-form only) what ``canonical_host`` gets, as in the app;
- an accepted path is canonical: ASCII, starts with ``/``, no ``//``, no ``.`` or
  ``..`` segment, no encoded ``/ . \\ % ;`` or control byte, no encoded unreserved
  character, upper-case hex, and normalising it again changes nothing;
- an accepted host is canonical: lower-case, no trailing dot, no default port,
  no space or control character, and canonicalising it again changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter

from fuzz._support import instrumented

with instrumented("proxy"):
    from proxy.paths import BadTarget, canonical_host, normalize_path, split_target

MAX_LEN = 512
DICTIONARY = (
    b"/",
    b"//",
    b"/./",
    b"/../",
    b"%2e",
    b"%2E",
    b"%2f",
    b"%2F",
    b"%5c",
    b"%25",
    b"%3b",
    b"%00",
    b"%61",
    b"%7e",
    b"%c0%af",
    b"%e0%80%af",
    b";",
    b"\\",
    b"#",
    b"?",
    b"[::1]",
    b":80",
    b":443",
    b":0080",
    b":65536",
    b"\nhttps",
    b"\nws",
    b"Admin.Example.COM.",
    b"http://",
    b"HTTPS://",
    b"user@",
)

KNOWN_BUGS: dict[str, str] = {}

# What the inputs led to, by kind: the seeded pass checks that both the accepting
# and the refusing side were reached (a harness that refuses everything tests little).
OUTCOMES: Counter[str] = Counter()
_SCHEMES = {b"http": "http", b"https": "https", b"ws": "ws", b"wss": "wss"}
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_CANONICAL_PATH = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,=:@/]|%[0-9A-F]{2})*\Z")
_PCT = re.compile(r"%([0-9A-F]{2})")
_NEVER_ENCODED = frozenset(b"./\\%;\x7f" + bytes(range(0x20)))
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
_OVERLONG = re.compile(rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f]|\xf0[\x80-\x8f]")


def TestOneInput(data: bytes) -> None:
    raw_path, _, rest = data.partition(b"\n")
    raw_host, _, raw_scheme = rest.partition(b"\n")
    scheme = _SCHEMES.get(raw_scheme.strip(), "http")
    check_path(raw_path)
    check_host(raw_host.decode("latin-1"), scheme)  # as the app decodes Host
    check_target(raw_path, "https" if scheme in ("https", "wss") else "http")


def check_target(raw: bytes, scheme: str) -> None:
    try:
        authority, path, _query = split_target(raw, scheme)
    except BadTarget:
        OUTCOMES["target refused"] += 1
        return
    OUTCOMES["absolute-form" if authority is not None else "origin-form"] += 1
    assert b"#" not in raw, f"a fragment was accepted: {raw!r}"
    assert b"?" not in path, (raw, path)
    if authority is not None:
        assert path[:1] == b"/" and b"@" not in authority, (raw, authority, path)
        check_host(authority.decode("latin-1"), scheme)
    check_path(path)


def check_path(raw: bytes) -> None:
    try:
        path = normalize_path(raw)
    except BadTarget:
        OUTCOMES["path refused"] += 1
        return
    OUTCOMES["path accepted"] += 1
    assert _CANONICAL_PATH.match(path), f"accepted path is not canonical: {path!r}"
    assert "//" not in path, path
    segments = path.split("/")
    assert "." not in segments and ".." not in segments, path
    decoded = bytes(int(h, 16) for h in _PCT.findall(path))
    assert not _NEVER_ENCODED.intersection(decoded), f"encoded separator kept: {path!r}"
    assert not _UNRESERVED.intersection(decoded), f"encoded unreserved kept: {path!r}"
    assert not _OVERLONG.search(_percent_decode(path)), f"overlong UTF-8 kept: {path!r}"
    assert normalize_path(path.encode("ascii")) == path, f"not idempotent: {path!r}"


def _percent_decode(path: str) -> bytes:
    return _PCT.sub(lambda m: chr(int(m.group(1), 16)), path).encode("latin-1")


def check_host(raw: str, scheme: str) -> None:
    try:
        host = canonical_host(raw, scheme)
    except BadTarget:
        OUTCOMES["host refused"] += 1
        return
    OUTCOMES["host accepted"] += 1
    assert host and host == host.lower() and host.isascii(), f"not canonical: {host!r}"
    assert not any(c.isspace() or ord(c) < 0x20 for c in host), repr(host)
    name, port = (host, "") if host.endswith("]") or ":" not in host else host.rsplit(":", 1)
    assert not name.endswith("."), f"trailing dot kept: {host!r}"
    assert port != _DEFAULT_PORTS[scheme], f"default port kept: {raw!r} -> {host!r}"
    assert canonical_host(host, scheme) == host, f"not idempotent: {raw!r} -> {host!r}"


def _port(raw: str) -> str:
    host = raw.strip()
    return host.rpartition(":")[2] if ":" in host.rpartition("]")[2] else ""
