"""Fuzz target: ``proxy.verify`` reading Signature-Input / Signature and the rest.

Drives ``parse_signature`` and the whole ``VerifyMiddleware`` (HTTP and WebSocket
scopes) in front of a trivial app, with a fixed Ed25519 key file and HMAC key.
Input: a mode line (``raw``, or ``sign hmac`` / ``sign ed``: the harness signs the
request exactly as its Signature-Input describes, so the checks behind the
signature run too), a request line ``METHOD TARGET [https|ws]``, header lines,
an empty line and the body. An ``edgeward-assertion`` value starting with ``{``
is the payload of an assertion the harness signs with the trusted key.

Checks: ``parse_signature`` raises only ``VerificationError``; the middleware
raises nothing, answers exactly once, with 401/413 problem+json carrying a known
code (or lets the app run); an unsigned request never reaches the app.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ed25519

from fuzz._support import instrumented, run_sync

with instrumented("proxy", "http_sfv", "jwt"):
    from proxy.identity import Identity
    from proxy.verify import Verifier, VerifyMiddleware
    from proxy.verify.errors import VerificationError, known_codes
    from proxy.verify.jwk import public_jwk, thumbprint
    from proxy.verify.middleware import Message, Receive, Scope, Send
    from proxy.verify.sigbase import combined_headers, parse_signature, signature_base

# Properties current code is known to break (none found): see fuzz/paths.py.
KNOWN_BUGS: dict[str, str] = {}
MAX_LEN = 4096
NOW = 1_700_000_000
ISSUER = "https://proxy.example"
AUDIENCE = "http://orders.internal:9000"
HMAC_KEY = b"fuzz-hmac-key-0123456789abcdef!!"
_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
_JWK = public_jwk(_KEY.public_key())
KID = thumbprint(_JWK)
DICTIONARY = (
    b"raw\n",
    b"sign hmac\n",
    b"sign ed\n",
    b"GET /api/x?a=1 https\n",
    b"WS /ws ws\n",
    b"\nhost: orders.internal:9000",
    b"\nsignature-input: ",
    b"\nsignature: edgeward=:",
    b"edgeward=(",
    b'"@method" "@authority" "@path" "@query" "edgeward-assertion" "x-request-id"',
    b'"content-digest"',
    b'"edgeward-user"',
    b";created=1700000000;expires=1700000030",
    b';nonce="n1";keyid="k";alg="hmac-sha256";tag="edgeward"',
    b';alg="ed25519"',
    b';tag="edgeward-body-unsigned"',
    KID.encode(),
    b"\nx-request-id: r1",
    b"\nedgeward-assertion: {",
    b'"iss":"https://proxy.example","aud":"http://orders.internal:9000"',
    b'"sub":"alice","auth":"bearer","iat":1700000000,"exp":1700000060,"jti":"j"',
    b'"rid":"r1"',
    b"\ncontent-digest: sha-256=:",
    b"\ncontent-length: 3",
    b"\ntransfer-encoding: chunked",
    b"\nedgeward-user: alice",
    b"\n\n",
)

_WORK = Path(tempfile.mkdtemp(prefix="edgeward-fuzz-"))
atexit.register(shutil.rmtree, _WORK, True)
(_WORK / "key.jwk").write_text(json.dumps({**_JWK, "kid": KID}))
VERIFIER = Verifier(
    issuer=ISSUER,
    audience=AUDIENCE,
    key_file=str(_WORK / "key.jwk"),
    hmac_key=HMAC_KEY,
    clock=lambda: float(NOW),
)
_CODES = known_codes()
# What the inputs led to, by kind: the seeded pass checks that both the accepting
# and the refusing side were reached (a harness that refuses everything tests little).
OUTCOMES: Counter[str] = Counter()
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


class _App:
    def __init__(self) -> None:
        self.identity: object = "not called"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.identity = scope["state"]["identity"]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _assertion(payload: str) -> str:
    header = _b64u(orjson.dumps({"alg": "EdDSA", "kid": KID, "typ": "JWT"}))
    signing_input = f"{header}.{_b64u(payload.encode('utf-8', 'surrogateescape'))}"
    return f"{signing_input}.{_b64u(_KEY.sign(signing_input.encode('ascii')))}"


def _authority(host: str, scheme: str) -> str:
    name, sep, port = host.strip().lower().rpartition(":")
    return name if sep and port == _DEFAULT_PORTS[scheme] else host.strip().lower()


def sign(headers: list[tuple[str, str]], method: str, target: str, scheme: str, how: str) -> None:
    """Replace the Signature with one over the base the Signature-Input describes."""
    fields = combined_headers(headers)
    fields.setdefault("signature", "edgeward=:AA==:")
    try:
        sig = parse_signature(fields)
        path, _, query = target.partition("?")
        derived = {
            "@method": method,
            "@authority": _authority(fields.get("host", ""), scheme),
            "@path": path or "/",
            "@query": "?" + query,
        }
        base = signature_base(sig, {**fields, **derived})
    except VerificationError:
        return
    raw = _KEY.sign(base) if how == "ed" else hmac.new(HMAC_KEY, base, hashlib.sha256).digest()
    headers[:] = [(n, v) for n, v in headers if n.lower() != "signature"]
    headers.append(("signature", f"edgeward=:{base64.b64encode(raw).decode()}:"))


def TestOneInput(data: bytes) -> None:
    head, _, body = data.partition(b"\n\n")
    mode, _, rest = head.partition(b"\n")
    request_line, *lines = rest.decode("latin-1").split("\n")
    method, _, rest_line = request_line.partition(" ")
    target, _, scheme = rest_line.partition(" ")
    scheme = scheme if scheme in _DEFAULT_PORTS else "http"
    # A WebSocket handshake is verified as the GET it is (the middleware says so).
    method = "GET" if scheme in ("ws", "wss") or not method else method
    headers = []
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            value = value.strip(" \t")
            if name.lower() == "edgeward-assertion" and value.startswith("{"):
                value = _assertion(value)
            headers.append((name.lower(), value))
    words = mode.split()
    signed = bool(words) and words[0] == b"sign"
    if signed:
        sign(headers, method, target, scheme, "ed" if words[1:] == [b"ed"] else "hmac")
    with contextlib.suppress(VerificationError):  # the parser alone, on any input
        parse_signature(combined_headers(headers))
    run_middleware(method, target, scheme, headers, body, signed)


def run_middleware(
    method: str,
    target: str,
    scheme: str,
    headers: list[tuple[str, str]],
    body: bytes,
    signed: bool,
) -> None:
    websocket = scheme in ("ws", "wss")
    raw_target = target.encode("latin-1")
    path, _, query = raw_target.partition(b"?")
    scope: dict[str, Any] = {
        "type": "websocket" if websocket else "http",
        "method": method,
        "scheme": scheme,
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        "extensions": {"websocket.http.response": {}} if len(body) % 2 else {},
    }
    incoming: list[Message] = [
        {"type": "websocket.connect"}
        if websocket
        else {"type": "http.request", "body": body, "more_body": False},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if len(incoming) > 1 else incoming[0]

    async def send(message: Message) -> None:
        sent.append(message)

    app = _App()
    run_sync(VerifyMiddleware(app, VERIFIER)(scope, receive, send))
    check(app, sent, signed)


def check(app: _App, sent: list[Message], signed: bool) -> None:
    if app.identity != "not called":
        OUTCOMES["app ran"] += 1
        assert signed, "an unsigned request reached the app"
        assert app.identity is None or isinstance(app.identity, Identity), app.identity
        return
    assert sent, "refused without an answer"
    start = sent[0]
    if start["type"] == "websocket.close":
        assert start["code"] == 1008 and len(sent) == 1, sent
        OUTCOMES["websocket closed"] += 1
        return
    assert start["type"].endswith("http.response.start") and len(sent) == 2, sent
    problem = json.loads(sent[1]["body"])
    assert start["status"] in (401, 413) and problem["status"] == start["status"], problem
    assert problem["code"] in _CODES, problem
    OUTCOMES[problem["code"]] += 1
