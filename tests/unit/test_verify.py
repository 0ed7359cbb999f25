"""proxy.verify against proxy.signing: round trips, and every kind of tampering refused."""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from proxy import wire
from proxy.identity import Identity
from proxy.sign import identity_fields
from proxy.signing import AssertionMinter, KeySet, RequestSigner, content_digest, generate_key
from proxy.signing.keys import SigningKey, load_key_file
from proxy.verify import VerificationError, Verifier

ISSUER = "https://proxy.test"
AUDIENCE = "http://backend.test:9000"
ALICE = Identity(
    subject="alice",
    auth="session",
    email="alice@example.com",
    groups=("admins",),
    name="Alice",
    issuer="https://idp.test",
)
BOB = Identity(subject="bob", auth="bearer", email="bob@example.com", groups=("staff",))
HMAC_KEY = b"a-shared-secret-of-at-least-32-bytes!"


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Req:
    method: str
    authority: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes | None = None

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k == name)

    def with_header(self, name: str, value: str) -> Req:
        headers = [(k, value if k == name else v) for k, v in self.headers]
        return dataclasses.replace(self, headers=headers)


@dataclass
class Proxy:
    """The signing half, as the proxy pipeline uses it."""

    keyset: KeySet
    signer: RequestSigner
    minter: AssertionMinter
    extra: dict[str, str] = field(default_factory=dict)

    def forward(
        self,
        identity: Identity | None = ALICE,
        *,
        method: str = "GET",
        path: str = "/orders/7",
        query: str = "?page=2",
        body: bytes | None = None,
        rid: str = "rid-1",
        body_covered: bool | None = None,
        identity_headers: bool = False,
    ) -> Req:
        fields = {wire.REQUEST_ID_HEADER: rid}
        if identity is not None:
            fields[wire.ASSERTION_HEADER] = self.minter.mint(identity, AUDIENCE, rid)
            if identity_headers:
                fields.update(identity_fields(identity))
        if body is not None and body_covered is None:
            body_covered = True
        if body_covered:
            assert body is not None
            fields[wire.CONTENT_DIGEST_HEADER] = content_digest(body)
        sig = self.signer.sign(
            method,
            "backend.test:9000",
            path,
            query,
            fields,
            public=identity is None,
            body_covered=body_covered,
        )
        headers = [("host", "backend.test:9000"), *fields.items()]
        headers += [(k.decode(), v.decode()) for k, v in sig]
        return Req(method, "backend.test:9000", path, query, headers, body)


def make_proxy(
    clock: Clock, alg: str = "EdDSA", *, hmac: bool = False, per_request: bool = False
) -> Proxy:
    keyset = KeySet.ephemeral("ES256" if alg == "ES256" else "EdDSA")
    signer = (
        RequestSigner(hmac_key=HMAC_KEY, hmac_key_id="shared-1", clock=clock)
        if hmac
        else RequestSigner(keyset.signing, clock=clock)
    )
    minter = AssertionMinter(keyset, ISSUER, clock=clock, per_request=per_request)
    return Proxy(keyset, signer, minter)


def make_verifier(tmp_path: Path, proxy: Proxy, clock: Clock, **kwargs: object) -> Verifier:
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(proxy.keyset.jwks_document())
    options: dict[str, object] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "key_file": str(jwks),
        "clock": clock,
    }
    options.update(kwargs)
    return Verifier(**options)  # type: ignore[arg-type]


async def check(verifier: Verifier, req: Req) -> Identity | None:
    return await verifier.verify(
        req.method, req.authority, req.path, req.query, req.headers, req.body
    )


async def refused(verifier: Verifier, req: Req) -> str:
    with pytest.raises(VerificationError) as caught:
        await check(verifier, req)
    return caught.value.code


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def proxy(clock: Clock) -> Proxy:
    return make_proxy(clock)


@pytest.fixture
def verifier(tmp_path: Path, proxy: Proxy, clock: Clock) -> Verifier:
    return make_verifier(tmp_path, proxy, clock)


# --- round trips --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "hmac", "sig_alg"),
    [
        ("EdDSA", False, "ed25519"),
        ("ES256", False, "ecdsa-p256-sha256"),
        ("EdDSA", True, "hmac-sha256"),
    ],
)
async def test_round_trip(tmp_path: Path, clock: Clock, alg: str, hmac: bool, sig_alg: str) -> None:
    proxy = make_proxy(clock, alg, hmac=hmac)
    kwargs = {"hmac_key": HMAC_KEY, "hmac_key_id": "shared-1"} if hmac else {}
    verifier = make_verifier(tmp_path, proxy, clock, **kwargs)
    req = proxy.forward(ALICE, method="POST", body=b'{"qty": 2}')
    assert f'alg="{sig_alg}"' in req.header("signature-input")
    identity = await check(verifier, req)
    assert identity is not None
    assert (identity.subject, identity.auth, identity.email, identity.groups, identity.name) == (
        "alice",
        "session",
        "alice@example.com",
        ("admins",),
        "Alice",
    )
    assert identity.issuer == "https://idp.test"  # the identity's issuer; iss is the proxy


async def test_public_route_is_signed_but_anonymous(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(None)
    assert wire.ASSERTION_HEADER not in dict(req.headers)
    assert await check(verifier, req) is None


async def test_identity_headers_are_covered(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE, identity_headers=True)
    assert '"edgeward-user"' in req.header("signature-input")
    assert await check(verifier, req) is not None
    assert (
        await refused(
            verifier,
            proxy.forward(ALICE, identity_headers=True).with_header(wire.USER_HEADER, "mallory"),
        )
        == "bad_signature"
    )


async def test_uncovered_identity_header_refused(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE)
    req.headers.append((wire.USER_HEADER, "alice"))
    assert await refused(verifier, req) == "uncovered_header"


async def test_uncovered_assertion_on_public_signature_refused(
    proxy: Proxy, verifier: Verifier
) -> None:
    req = proxy.forward(None)
    req.headers.append((wire.ASSERTION_HEADER, proxy.minter.mint(ALICE, AUDIENCE, "rid-1")))
    assert await refused(verifier, req) == "uncovered_header"


# --- tampering ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"method": "DELETE"},
        {"path": "/orders/8"},
        {"query": "?page=3"},
        {"query": "?"},
        {"authority": "evil.test"},
    ],
)
async def test_tampered_request_refused(
    proxy: Proxy, verifier: Verifier, change: dict[str, str]
) -> None:
    req = dataclasses.replace(proxy.forward(ALICE), **change)  # type: ignore[arg-type]
    assert await refused(verifier, req) == "bad_signature"


async def test_tampered_body_refused(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE, method="POST", body=b'{"qty": 2}')
    assert await refused(verifier, dataclasses.replace(req, body=b'{"qty": 200}')) == (
        "digest_mismatch"
    )


async def test_body_digest_needs_the_body(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE, method="POST", body=b"x")
    assert await refused(verifier, dataclasses.replace(req, body=None)) == "body_unsigned"


async def test_unsigned_body_without_tag_refused(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE, method="POST")  # signed as bodiless
    assert await refused(verifier, dataclasses.replace(req, body=b"smuggled")) == "body_unsigned"
    req = proxy.forward(ALICE, method="POST")
    req.headers.append(("content-length", "8"))
    assert await refused(verifier, req) == "body_unsigned"


async def test_streamed_body_with_unsigned_tag_accepted(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE, method="POST", body=b"large", body_covered=False)
    assert f'tag="{wire.BODY_UNSIGNED_TAG}"' in req.header("signature-input")
    req.headers.append(("content-length", "5"))
    assert await check(verifier, dataclasses.replace(req, body=None)) is not None


async def test_assertion_swapped_between_users_refused(proxy: Proxy, verifier: Verifier) -> None:
    alice, bob = proxy.forward(ALICE, rid="r-a"), proxy.forward(BOB, rid="r-b")
    assert (await check(verifier, proxy.forward(BOB, rid="r-c"))) is not None  # bob alone is fine
    swapped = bob.with_header(wire.ASSERTION_HEADER, alice.header(wire.ASSERTION_HEADER))
    assert await refused(verifier, swapped) == "bad_signature"


async def test_request_id_swapped_refused(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE, rid="r-1")
    assert await refused(verifier, req.with_header(wire.REQUEST_ID_HEADER, "r-2")) == (
        "bad_signature"
    )


async def test_per_request_assertion_bound_to_request_id(tmp_path: Path, clock: Clock) -> None:
    proxy = make_proxy(clock, per_request=True)
    verifier = make_verifier(tmp_path, proxy, clock)
    assert await check(verifier, proxy.forward(ALICE, rid="r-1")) is not None
    # A validly signed request whose assertion names another request id.
    token = proxy.minter.mint(ALICE, AUDIENCE, "r-other")
    fields = {wire.REQUEST_ID_HEADER: "r-2", wire.ASSERTION_HEADER: token}
    sig = proxy.signer.sign(
        "GET", "backend.test:9000", "/", "?", fields, public=False, body_covered=None
    )
    headers = [*fields.items(), *[(k.decode(), v.decode()) for k, v in sig]]
    req = Req("GET", "backend.test:9000", "/", "?", headers)
    assert await refused(verifier, req) == "request_id_mismatch"


async def test_replayed_nonce_refused(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE)
    assert await check(verifier, req) is not None
    assert await refused(verifier, req) == "replayed"


async def test_refused_request_does_not_use_up_its_nonce(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE)
    assert await refused(verifier, dataclasses.replace(req, path="/x")) == "bad_signature"
    assert await check(verifier, req) is not None


async def test_expired_signature_refused(proxy: Proxy, verifier: Verifier, clock: Clock) -> None:
    req = proxy.forward(ALICE)
    clock.now += wire.SIGNATURE_TTL + 6  # past expires + leeway (5 s)
    assert await refused(verifier, req) == "expired"


async def test_future_created_refused(tmp_path: Path, clock: Clock) -> None:
    ahead = Clock(clock.now + 60)
    proxy = make_proxy(ahead)
    verifier = make_verifier(tmp_path, proxy, clock)
    assert await refused(verifier, proxy.forward(None)) == "not_yet_valid"


async def test_expired_assertion_refused(tmp_path: Path, clock: Clock) -> None:
    proxy = make_proxy(clock)
    proxy.minter = AssertionMinter(proxy.keyset, ISSUER, clock=Clock(clock.now - 120))
    verifier = make_verifier(tmp_path, proxy, clock)
    assert await refused(verifier, proxy.forward(ALICE)) == "expired"


@pytest.mark.parametrize(
    ("issuer", "audience"), [("https://other.test", AUDIENCE), (ISSUER, "http://other:1")]
)
async def test_wrong_issuer_or_audience_refused(
    tmp_path: Path, proxy: Proxy, clock: Clock, issuer: str, audience: str
) -> None:
    verifier = make_verifier(tmp_path, proxy, clock, issuer=issuer, audience=audience)
    assert await refused(verifier, proxy.forward(ALICE)) == "bad_assertion"


async def test_wrong_label_refused(proxy: Proxy, verifier: Verifier) -> None:
    req = proxy.forward(ALICE)
    req = req.with_header(
        "signature-input", req.header("signature-input").replace("edgeward=", "other=", 1)
    )
    req = req.with_header("signature", req.header("signature").replace("edgeward=", "other=", 1))
    assert await refused(verifier, req) == "missing_signature"


async def test_unsigned_request_refused(verifier: Verifier) -> None:
    req = Req("GET", "backend.test:9000", "/", "?", [("host", "backend.test:9000")])
    assert await refused(verifier, req) == "missing_signature"


async def test_unknown_key_refused(tmp_path: Path, proxy: Proxy, clock: Clock) -> None:
    other = make_proxy(clock)
    verifier = make_verifier(tmp_path, other, clock)  # trusts only the other key
    assert await refused(verifier, proxy.forward(ALICE)) == "unknown_key"


async def test_hmac_signature_with_wrong_key_refused(tmp_path: Path, clock: Clock) -> None:
    proxy = make_proxy(clock, hmac=True)
    verifier = make_verifier(tmp_path, proxy, clock, hmac_key=b"another-secret-another-secret!!")
    assert await refused(verifier, proxy.forward(ALICE)) == "bad_signature"


async def test_signature_omitting_path_refused(proxy: Proxy, verifier: Verifier) -> None:
    """A valid signature (made by an independent RFC 9421 signer) without @path."""
    key = proxy.keyset.signing
    token = proxy.minter.mint(ALICE, AUDIENCE, "rid-1")
    message = _LibRequest(
        "GET",
        "http://backend.test:9000/orders/7?page=2",
        {"x-request-id": "rid-1", wire.ASSERTION_HEADER: token},
    )
    _lib_sign(
        message,
        key,
        components=("@method", "@authority", "@query", wire.ASSERTION_HEADER, "x-request-id"),
    )
    req = Req(
        "GET", "backend.test:9000", "/anything/else", "?page=2", list(message.headers.items())
    )
    assert await refused(verifier, req) == "missing_component"


async def test_private_key_file_serves_the_verifier_too(tmp_path: Path) -> None:
    path = tmp_path / "key.jwk"
    path.write_text(json.dumps(generate_key("ES256")))
    signing = load_key_file(str(path))
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, key_file=str(path))
    assert (await verifier.keys.get(signing.kid)).http_sig_alg == "ecdsa-p256-sha256"


# --- helpers for the independent implementation ----------------------------------


@dataclass
class _LibRequest:
    method: str
    url: str
    headers: dict[str, str]


def _lib_sign(message: _LibRequest, key: SigningKey, *, components: tuple[str, ...]) -> None:
    assert isinstance(key.private, Ed25519PrivateKey)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key.kid: key.private}),
    )
    created = datetime.datetime.fromtimestamp(1_700_000_000, tz=datetime.UTC)
    signer.sign(
        message,
        key_id=key.kid,
        created=created,
        expires=created + datetime.timedelta(seconds=wire.SIGNATURE_TTL),
        nonce="n-" + "x" * 20,
        label=wire.SIGNATURE_LABEL,
        tag=wire.BODY_SIGNED_TAG,
        covered_component_ids=components,
    )
