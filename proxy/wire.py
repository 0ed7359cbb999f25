"""The wire contract between the proxy and backends, defined once.

Both the signer (``proxy.signing``, ``proxy.sign``) and the backend verifier
(``proxy.verify``) import these names and value formats, so the two cannot
drift apart: header and claim names, covered components, the ``@authority``
normalisation and the encoding of identity header values. This module imports
nothing from the rest of the proxy (``proxy.verify`` must stay importable alone).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final

# Headers the proxy adds (lowercase, as they travel in ASGI and HTTP/2).
ASSERTION_HEADER: Final = "edgeward-assertion"
REQUEST_ID_HEADER: Final = "x-request-id"
SIGNATURE_HEADER: Final = "signature"
SIGNATURE_INPUT_HEADER: Final = "signature-input"
CONTENT_DIGEST_HEADER: Final = "content-digest"
USER_HEADER: Final = "edgeward-user"
EMAIL_HEADER: Final = "edgeward-email"
GROUPS_HEADER: Final = "edgeward-groups"
AUTH_HEADER: Final = "edgeward-auth"
ISSUER_HEADER: Final = "edgeward-issuer"
CACHE_HEADER: Final = "edgeward-cache"
CLIENT_ID_HEADER: Final = "edgeward-client-id"
CLIENT_SECRET_HEADER: Final = "edgeward-client-secret"  # noqa: S105 - a header name

# Every client-sent header with this prefix is removed before forwarding.
RESERVED_HEADER_PREFIX: Final = "edgeward-"

# RFC 9421 signature label used by the proxy.
SIGNATURE_LABEL: Final = "edgeward"

# The identity headers a route with ``identity_headers: true`` sends, in the
# order the signature covers them (after the components below).
IDENTITY_HEADERS: Final = (USER_HEADER, EMAIL_HEADER, GROUPS_HEADER, AUTH_HEADER, ISSUER_HEADER)

# Covered components, in order. ``content-digest`` is appended when the body is
# covered; identity headers are appended when the route sends them.
COVERED_COMPONENTS: Final = (
    "@method",
    "@authority",
    "@path",
    "@query",
    ASSERTION_HEADER,
    REQUEST_ID_HEADER,
)
# Public routes carry no assertion, so it is not covered there.
COVERED_COMPONENTS_PUBLIC: Final = tuple(c for c in COVERED_COMPONENTS if c != ASSERTION_HEADER)

# Signature-Input parameter that says the body is deliberately not covered
# (it was larger than the digest limit and was streamed).
BODY_UNSIGNED_TAG: Final = "edgeward-body-unsigned"
BODY_SIGNED_TAG: Final = "edgeward"

# Claims of the Edgeward-Assertion JWT.
CLAIM_ISSUER: Final = "iss"
CLAIM_AUDIENCE: Final = "aud"
CLAIM_SUBJECT: Final = "sub"
CLAIM_EMAIL: Final = "email"
CLAIM_GROUPS: Final = "groups"
CLAIM_NAME: Final = "name"
CLAIM_AUTH: Final = "auth"
# Who issued the identity (the bearer token's ``iss``; the proxy's public_url
# for service tokens). ``iss`` itself is the proxy, which issued the assertion.
CLAIM_IDENTITY_ISSUER: Final = "idp"
CLAIM_ISSUED_AT: Final = "iat"
CLAIM_EXPIRES: Final = "exp"
CLAIM_JWT_ID: Final = "jti"
CLAIM_REQUEST_ID: Final = "rid"

AUTH_METHODS: Final = ("session", "bearer", "service_token")

# Assertion lifetime ceiling and the signature window (seconds).
ASSERTION_MAX_TTL: Final = 60
SIGNATURE_TTL: Final = 30


# --- @authority (RFC 9421 §2.2.3) ------------------------------------------------

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@functools.lru_cache(maxsize=1024)  # few distinct hosts per deployment
def normalize_authority(authority: str, scheme: str) -> str:
    """The ``@authority`` value: lowercase, without the scheme's default port.

    RFC 9421 §2.2.3 normalises as RFC 9110 §4.2.3 does: the host is
    case-insensitive and a default (or empty) port is the same as none.
    ``scheme`` is that of the connection the BACKEND receives, the only one a
    verifier can know: the proxy signs with its upstream's scheme (the route's
    ``to``), not the client's, so ``example.test:443`` sent over an http hop
    keeps its ``:443``. IPv6 literals keep their brackets: ``[::1]:80`` -> ``[::1]``.
    """
    value = authority.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value
        host, port = value[: end + 1], value[end + 1 :]
    else:
        host, sep, rest = value.partition(":")
        port = sep + rest
    if port == ":":
        return host
    number = port[1:]
    if number.isascii() and number.isdigit() and int(number) == _DEFAULT_PORTS.get(scheme):
        return host
    return value


# --- identity header values -----------------------------------------------------
#
# Every identity value (user, email, each group, issuer) is percent-encoded as
# UTF-8, encoding every byte that is not printable, non-space ASCII AND "%" itself
# (so "a%41" -> "a%2541" never collides with "aA"), with uppercase hex. Space
# is encoded too: HTTP strips leading and trailing whitespace from field values
# (RFC 9110 §5.5), which would make " alice" arrive as "alice". The result is
# printable ASCII, so Edgeward-Groups can be an RFC 8941 §3.1 List of Strings
# of those values: a comma inside a group stays inside its quoted string.

_SAFE: Final = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"%"}
_PCT_TRIPLET = re.compile(r"%[0-9A-F]{2}")
# RFC 8941 §3.3.3 sf-string: printable ASCII, '"' and "\" escaped with "\".
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")  # §4.2.1: OWS around the comma


def encode_text(value: str) -> str:
    """The header-safe, unambiguous form of one identity value."""
    if value.isascii() and value.isprintable() and " " not in value and "%" not in value:
        return value  # the common case: no copy, no per-character loop
    return "".join(
        c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in value
    )


def decode_text(value: str) -> str:
    """Inverse of ``encode_text``; ``ValueError`` for anything it would not produce."""
    if "%" in value:
        pieces = _PCT_TRIPLET.split(value)
        codes = [bytes([int(t[1:], 16)]) for t in _PCT_TRIPLET.findall(value)]
        raw = pieces[0].encode("ascii", "strict")
        for code, piece in zip(codes, pieces[1:], strict=True):
            raw += code + piece.encode("ascii", "strict")
        decoded = raw.decode("utf-8")
    else:
        decoded = value
    if encode_text(decoded) != value:  # a stray "%", a raw space, "%41" for "A", ...
        raise ValueError("not an Edgeward identity value")
    return decoded


def encode_list(values: Iterable[str]) -> str:
    """An RFC 8941 §4.1.1 List of sf-strings, each member ``encode_text``-ed."""
    members = []
    for value in values:
        text = encode_text(value)
        if '"' in text or "\\" in text:
            text = text.replace("\\", "\\\\").replace('"', '\\"')
        members.append(f'"{text}"')
    return ", ".join(members)


def decode_list(value: str) -> tuple[str, ...]:
    """Inverse of ``encode_list`` (any RFC 8941 spacing; no parameters, no other types)."""
    out: list[str] = []
    pos, end = len(value) - len(value.lstrip(" ")), len(value.rstrip(" "))
    while pos < end:
        if out:
            sep = _SF_SEPARATOR.match(value, pos)
            if sep is None or sep.end() == end:
                raise ValueError("not a List of Strings")
            pos = sep.end()
        member = _SF_STRING.match(value, pos)
        if member is None:
            raise ValueError("not a List of Strings")
        out.append(decode_text(re.sub(r"\\(.)", r"\1", member[1])))
        pos = member.end()
    return tuple(out)


def identity_header_values(
    subject: str, auth: str, email: str | None, groups: Iterable[str], issuer: str | None
) -> dict[str, str]:
    """The identity headers for one identity, in ``IDENTITY_HEADERS`` order.

    Email, groups and issuer are omitted when the identity has none; user and
    auth are always sent.
    """
    values = {USER_HEADER: encode_text(subject)}
    if email:
        values[EMAIL_HEADER] = encode_text(email)
    groups = tuple(groups)
    if groups:
        values[GROUPS_HEADER] = encode_list(groups)
    values[AUTH_HEADER] = auth
    if issuer:
        values[ISSUER_HEADER] = encode_text(issuer)
    return values
