"""Identity providers for tests: the real OpenID provider process, and a key server.

``oidc_provider()`` starts ``oidc-provider-mock`` (a real OpenID provider: discovery,
JWKS, authorization-code flow) as a subprocess on a free loopback port and yields
an ``OidcProvider`` that can approve logins and fetch real ID tokens.

``KeyServer`` is a tiny discovery + JWKS server (uvicorn in a thread) whose
signing keys the test controls: it signs arbitrary (also forged) tokens, rotates
its published keys and can be stopped and restarted on the same port to play an
IdP that is down.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.harness import free_port, run_process, serve_asgi

DEFAULT_USERS: tuple[Mapping[str, Any], ...] = (
    {
        "sub": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "groups": ["admins", "staff"],
        "name": "Alice",
    },
    {
        "sub": "bob",
        "email": "bob@example.org",
        "email_verified": True,
        "groups": ["staff"],
        "name": "Bob",
    },
)


# --- the real OpenID provider process ------------------------------------------------


@dataclass(frozen=True)
class TokenResponse:
    id_token: str
    access_token: str
    refresh_token: str | None


@dataclass(frozen=True)
class OidcProvider:
    """A running provider. ``issuer`` is exactly what its tokens carry in ``iss``."""

    issuer: str
    port: int
    # The provider's last log lines, for diagnosing a failing test.
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200), compare=False)

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def approve(self, authorize_url: str, sub: str) -> str:
        """Sign ``sub`` in at an authorization URL (as a browser would after the
        proxy's redirect); return the redirect Location carrying code and state."""
        with httpx.Client(timeout=10) as client:
            r = client.post(authorize_url, data={"sub": sub})
        if r.status_code != 302:
            raise RuntimeError(
                f"provider refused the authorization: {r.status_code} {r.text[:200]}"
            )
        return r.headers["location"]

    def tokens(
        self,
        sub: str = "alice",
        *,
        client_id: str = "edgeward",
        scope: str = "openid email profile",
    ) -> TokenResponse:
        """Run a whole authorization-code flow for ``sub``; the ID token's aud is client_id."""
        redirect_uri = "http://127.0.0.1:1/callback"
        query = urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": scope,
                "state": "test-state",
                "nonce": "test-nonce",
            }
        )
        location = self.approve(f"{self.issuer}/oauth2/authorize?{query}", sub)
        code = parse_qs(urlsplit(location).query)["code"][0]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        with httpx.Client(timeout=10) as client:
            r = client.post(f"{self.issuer}/oauth2/token", data=form, auth=(client_id, "secret"))
        r.raise_for_status()
        body = r.json()
        return TokenResponse(body["id_token"], body["access_token"], body.get("refresh_token"))

    def id_token(self, sub: str = "alice", *, client_id: str = "edgeward") -> str:
        """A real RS256 ID token for ``sub`` signed by the provider's published key."""
        return self.tokens(sub, client_id=client_id).id_token


@contextlib.contextmanager
def oidc_provider(
    users: Sequence[Mapping[str, Any]] = DEFAULT_USERS, *, token_max_age: int = 3600
) -> Iterator[OidcProvider]:
    """Start the provider process on a free port; stop it when the block ends."""
    port = free_port()
    args = ["-m", "oidc_provider_mock", "--port", str(port), "--token-max-age", str(token_max_age)]
    for user in users:
        args += ["--user-claims", json.dumps(dict(user))]
    provider = OidcProvider(issuer=f"http://127.0.0.1:{port}", port=port)
    with run_process(args, port, timeout=30) as proc:
        # Drain its log so a chatty provider never blocks on a full pipe.
        drain = threading.Thread(target=_drain, args=(proc, provider.log), daemon=True)
        drain.start()
        try:
            yield provider
        finally:
            proc.terminate()
            drain.join(10)


def _drain(proc: subprocess.Popen[bytes], sink: deque[str]) -> None:
    assert proc.stdout is not None
    with proc.stdout:  # closed here once the process has gone
        for line in proc.stdout:
            sink.append(line.decode(errors="replace").rstrip())


# --- a key server the test controls --------------------------------------------------

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class SigningKey:
    """A private key with the alg and kid it signs with."""

    alg: str
    kid: str
    private: PrivateKey

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", **extra}


def new_key(alg: str, kid: str | None = None) -> SigningKey:
    """A fresh key for RS256, PS256, ES256 or EdDSA."""
    private: PrivateKey
    if alg in ("RS256", "PS256"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"no test key for {alg}")
    return SigningKey(alg, kid or f"{alg.lower()}-{time.monotonic_ns()}", private)


@dataclass
class KeyServer:
    """Discovery + JWKS under ``issuer``; ``stop()``/``start()`` take it down and back."""

    keys: list[SigningKey]
    port: int = field(default_factory=free_port)
    jwks_fetches: int = 0
    discovery_fetches: int = 0
    extra_jwks: list[dict[str, Any]] = field(default_factory=list)
    discovery_issuer: str | None = None  # override to publish a mismatching issuer
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: contextlib.ExitStack | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def publish(self, keys: Sequence[SigningKey]) -> None:
        """Replace the published keys (key rotation)."""
        with self._lock:
            self.keys = list(keys)

    def start(self) -> None:
        stack = contextlib.ExitStack()
        stack.enter_context(serve_asgi(self._app, port=self.port, interface="asgi3"))
        self._server = stack

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> KeyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sign(
        self,
        claims: Mapping[str, Any],
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A token signed by ``key`` (default: the first published key)."""
        key = key or self.keys[0]
        hdr = {"kid": key.kid, **(headers or {})}
        return jwt.encode(dict(claims), key.private, algorithm=key.alg, headers=hdr)

    def claims(self, now: float, **overrides: Any) -> dict[str, Any]:
        """Valid claims for this issuer at ``now``; None in overrides drops a claim."""
        base: dict[str, Any] = {
            "iss": self.issuer,
            "aud": "api://orders",
            "sub": "client-1",
            "email": "ci@example.com",
            "email_verified": True,
            "groups": ["deployers"],
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + 300,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body: dict[str, Any]
        if scope["path"] == "/.well-known/openid-configuration":
            self.discovery_fetches += 1
            body = {"issuer": self.discovery_issuer or self.issuer, "jwks_uri": self.jwks_uri}
        elif scope["path"] == "/jwks":
            with self._lock:
                self.jwks_fetches += 1
                body = {"keys": [k.public_jwk() for k in self.keys] + self.extra_jwks}
        else:
            await _respond(send, 404, {"error": "not found"})
            return
        await _respond(send, 200, body)


async def _respond(send: Any, status: int, body: Mapping[str, Any]) -> None:
    data = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
