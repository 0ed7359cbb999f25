"""Canonical request targets: one normalised path and host, or a refusal.

The proxy authorises exactly what it forwards, so the path is normalised once
here, routes match on that form, and that same form goes upstream. Encodings
whose meaning differs between servers are refused instead of guessed at
(RFC 3986 §6.2.2; every refusal here was a route-bypass bug in some proxy).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import unquote_to_bytes

__all__ = ["BadTarget", "canonical_host", "normalize_path", "split_target"]


class BadTarget(ValueError):
    """The request target or host is ambiguous or malformed (answered with 400)."""


# Raw bytes allowed in a path: RFC 3986 pchar plus "/" and "%", minus ";" which
# some servers treat as a path-parameter separator (…/admin;x=1/ bypasses).
_PATH_OK = re.compile(rb"^/[A-Za-z0-9\-._~!$&'()*+,=:@/%]*\Z")
_PCT = re.compile(rb"%(?P<hex>[0-9A-Fa-f]{2})|%")
# Encoded bytes refused outright: "." (%2e), "/" (%2f), "\" (%5c), "%" (%25:
# double encoding), ";" (%3b) and every control character.
_REFUSED_ENCODED = frozenset([0x2E, 0x2F, 0x5C, 0x25, 0x3B, 0x7F, *range(0x20)])
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~")
# An encoded byte of 0x80 or above, after _decode_unreserved upper-cased the escapes.
_ENCODED_HIGH = re.compile(rb"%[89A-F][0-9A-F]")
# RFC 9112 §3.2.2 absolute-form: scheme "://" authority path-abempty [ "?" query ].
_ABSOLUTE = re.compile(
    rb"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?]*)(?P<rest>.*)\Z", re.S
)


def split_target(target: bytes, scheme: str) -> tuple[bytes | None, bytes, bytes]:
    """``(authority, raw path, query)`` of a request-target; authority only in absolute-form.

    A fragment is never sent (RFC 9112 §3.2): servers disagree on whether ``#``
    ends the path, so ``/public#/../admin`` is refused, not guessed at. In
    absolute-form the target's authority is the request's (RFC 9112 §3.2.2: the
    Host header is then ignored); its scheme must be the connection's, and it may
    carry no userinfo (RFC 9110 §4.2.4).
    """
    if b"#" in target:
        raise BadTarget("request target must not contain a fragment ('#')")
    authority = None
    if target[:1] != b"/" and (m := _ABSOLUTE.match(target)) is not None:
        if m["scheme"].lower() != scheme.encode():
            raise BadTarget(f"absolute-form target must use the connection's scheme ({scheme})")
        authority = m["authority"]
        if not authority or b"@" in authority:
            raise BadTarget("absolute-form target needs a host and no userinfo")
        target = m["rest"]
        if target[:1] != b"/":  # an empty path is "/" (RFC 9110 §4.2.3)
            target = b"/" + target
    path, _, query = target.partition(b"?")
    return authority, path, query


def _decode_unreserved(raw: bytes) -> bytes:
    """Decode %XX for unreserved characters, upper-case the rest (RFC 3986 §6.2.2.1-2).

    Without this, ``/%61dmin/`` would skip a rule written for ``/admin/`` while
    the backend decodes it to the same resource.
    """

    def repl(m: re.Match[bytes]) -> bytes:
        hexdigits = m.group("hex")
        if hexdigits is None:
            raise BadTarget("malformed percent-encoding in path")
        value = int(hexdigits, 16)
        if value in _REFUSED_ENCODED:
            raise BadTarget("ambiguous percent-encoded character in path")
        if value in _UNRESERVED:
            return bytes((value,))
        return b"%" + hexdigits.upper()

    out = _PCT.sub(repl, raw)
    if _ENCODED_HIGH.search(out):
        _check_utf8(out)
    return out


def _check_utf8(path: bytes) -> None:
    """Encoded bytes must spell valid UTF-8 (RFC 3629 §3).

    Overlong forms (``%c0%af`` is "/" to a lax decoder), surrogates, stray
    continuation bytes and truncated sequences are refused: the router compared
    them as opaque bytes, and a backend that decodes them leniently would see a
    path, even a "/", the policy never judged.
    """
    try:
        unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise BadTarget("percent-encoded bytes in path are not valid UTF-8") from None


def _remove_dot_segments(path: str) -> str:
    """Collapse duplicate slashes and resolve "." / ".." (RFC 3986 §5.2.4)."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for seg in segments:
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    trailing = segments[-1] in ("", ".", "..") and bool(out)
    return "/" + "/".join(out) + ("/" if trailing else "")


def normalize_path(raw_path: bytes) -> str:
    """Return the one canonical form of a raw request path, or raise BadTarget.

    ``raw_path`` excludes the query string: matching never looks at the query.
    """
    if not _PATH_OK.match(raw_path):
        if not raw_path.startswith(b"/"):
            raise BadTarget("request target must be an absolute path")
        raise BadTarget("path contains a character that is not allowed")
    if b"%" in raw_path:
        raw_path = _decode_unreserved(raw_path)
    path = raw_path.decode("ascii")
    if "//" in path or "/." in path:
        path = _remove_dot_segments(path)
    return path


_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9\-_]*[a-z0-9])?\.)*[a-z0-9\-_]*[a-z0-9]\.?\Z|\[[0-9a-f:.]+\]\Z"
)
# RFC 1035 §2.3.4: a name is at most 255 octets. Checked before the regex, so a 30 KB
# Host costs no regex time and never fills the caches keyed by host.
MAX_HOST_BYTES = 255
_DEFAULT_PORT = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# RFC 3986 §3.2.3: port = *DIGIT, ASCII digits only (str.isdigit() also takes "²", "٣").
_PORT = re.compile(r"[0-9]{1,5}\Z")


@functools.lru_cache(maxsize=4096)  # few distinct hosts; refusals are not cached
def canonical_host(host: str, scheme: str) -> str:
    """Lower-case, strip one trailing dot and the scheme's default port.

    ``Host: Admin.Example.com.:443`` on https becomes ``admin.example.com``.
    """
    if len(host) > MAX_HOST_BYTES + 7:  # room for ":65535" and surrounding spaces
        raise BadTarget("host name too long")
    host = host.strip().lower()
    name, port = host, ""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise BadTarget("malformed host")
        name, rest = host[: end + 1], host[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise BadTarget("malformed host")
            port = rest[1:]
    elif ":" in host:
        name, _, port = host.rpartition(":")
    number = None
    if port:
        if not _PORT.match(port) or int(port) > 65535:
            raise BadTarget("malformed port in host")
        number = int(port)  # "080" is port 80: compared and written as a number
    if not name or not _HOST.match(name):
        raise BadTarget("malformed host")
    name = name.rstrip(".")
    if number is not None and number != _DEFAULT_PORT.get(scheme):
        return f"{name}:{number}"
    return name
