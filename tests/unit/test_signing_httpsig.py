"""RFC 9421 signing: the hand-written base checked against an independent implementation."""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_sfv.dictionary import Dictionary

from proxy import wire
from proxy.identity import Identity
from proxy.signing import AssertionMinter, KeySet, RequestSigner, SigningError, content_digest
from proxy.verify import Verifier

HMAC_KEY = b"0123456789abcdef0123456789abcdef"
ALICE = Identity(subject="alice", auth="session", email="alice@example.com")
AUTHORITY = "backend.test:9000"


@dataclass
class LibRequest:
    """The message shape the independent library reads (method, url, headers)."""

    method: str
    url: str
    headers: dict[str, str]


def signed(
    signer: RequestSigner,
    *,
    body: bytes | None = None,
    public: bool = False,
    query: str = "?a=1&b=2",
) -> LibRequest:
    fields = {wire.REQUEST_ID_HEADER: "rid-42"}
    if not public:
        fields[wire.ASSERTION_HEADER] = "header.payload.sig"
    if body is not None:
        fields[wire.CONTENT_DIGEST_HEADER] = content_digest(body)
    pairs = signer.sign(
        "POST",
        AUTHORITY,
        "/orders/7",
        query,
        fields,
        public=public,
        body_covered=None if body is None else True,
    )
    headers = {**fields, **{k.decode(): v.decode() for k, v in pairs}}
    return LibRequest("POST", f"http://{AUTHORITY}/orders/7{query}", headers)


def lib_verifier(
    alg: type[algorithms.HTTPSignatureAlgorithm], kid: str, key: object
) -> HTTPMessageVerifier:
    return HTTPMessageVerifier(
        signature_algorithm=alg,
        key_resolver=MappingKeyResolver(public_keys={kid: key}, private_keys={}),  # type: ignore[dict-item]
    )


def test_content_digest_matches_rfc_9530_example() -> None:
    # RFC 9530 Appendix B.1: {"hello": "world"} with a trailing newline.
    assert content_digest(b'{"hello": "world"}\n') == (
        "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
    )


def test_signature_input_shape() -> None:
    keyset = KeySet.ephemeral()
    pairs = RequestSigner(keyset.signing).sign(
        "GET",
        "Backend.TEST",
        "/",
        "?",
        {wire.REQUEST_ID_HEADER: "r", wire.ASSERTION_HEADER: "t"},
        public=False,
        body_covered=None,
    )
    assert [name for name, _ in pairs] == [b"signature-input", b"signature"]
    parsed = Dictionary()
    parsed.parse(pairs[0][1])
    member = parsed[wire.SIGNATURE_LABEL]
    assert tuple(item.value for item in member) == wire.COVERED_COMPONENTS
    params = dict(member.params)
    assert params["expires"] - params["created"] == wire.SIGNATURE_TTL
    assert params["keyid"] == keyset.signing.kid
    assert params["alg"] == "ed25519"
    assert params["tag"] == wire.BODY_SIGNED_TAG
    assert len(base64.urlsafe_b64decode(params["nonce"] + "==")) == 16


def test_nonces_differ_per_request() -> None:
    signer = RequestSigner(hmac_key=HMAC_KEY)
    fields = {wire.REQUEST_ID_HEADER: "r"}
    inputs = {
        signer.sign("GET", "a", "/", "?", fields, public=True, body_covered=None)[0][1]
        for _ in range(50)
    }
    assert len(inputs) == 50


def test_missing_covered_field_is_an_error() -> None:
    signer = RequestSigner(hmac_key=HMAC_KEY)
    with pytest.raises(SigningError):
        signer.sign("GET", "a", "/", "?", {}, public=True, body_covered=None)


@pytest.mark.parametrize("value", ["a\nb", "caf\u00e9"])
def test_value_that_would_break_the_base_is_an_error(value: str) -> None:
    signer = RequestSigner(hmac_key=HMAC_KEY)
    with pytest.raises(SigningError):
        signer.sign(
            "GET", "a", "/", "?", {wire.REQUEST_ID_HEADER: value}, public=True, body_covered=None
        )


@pytest.mark.parametrize("public", [False, True])
def test_library_verifies_our_ed25519_signature(public: bool) -> None:
    keyset = KeySet.ephemeral()
    message = signed(RequestSigner(keyset.signing), body=b'{"qty": 1}', public=public)
    verifier = lib_verifier(
        algorithms.ED25519, keyset.signing.kid, keyset.signing.private.public_key()
    )
    [result] = verifier.verify(
        message,
        body=b'{"qty": 1}',
        expect_tag=wire.BODY_SIGNED_TAG,
        expect_label=wire.SIGNATURE_LABEL,
    )
    assert result.parameters["keyid"] == keyset.signing.kid
    with pytest.raises(InvalidSignature):
        verifier.verify(message, body=b'{"qty": 9}')
    message.url = message.url.replace("/orders/7", "/orders/8")
    with pytest.raises(InvalidSignature):
        verifier.verify(message)


def test_library_verifies_our_es256_signature() -> None:
    keyset = KeySet.ephemeral("ES256")
    message = signed(RequestSigner(keyset.signing), query="?")
    key = keyset.signing.private.public_key()
    lib_verifier(algorithms.ECDSA_P256_SHA256, keyset.signing.kid, key).verify(message)


def test_library_verifies_our_hmac_signature() -> None:
    message = signed(RequestSigner(hmac_key=HMAC_KEY, hmac_key_id="k1"), body=b"")
    lib_verifier(algorithms.HMAC_SHA256, "k1", HMAC_KEY).verify(message, body=b"")
    with pytest.raises(InvalidSignature):
        lib_verifier(algorithms.HMAC_SHA256, "k1", b"x" * 32).verify(message)


@pytest.mark.parametrize("alg", ["ed25519", "hmac-sha256"])
async def test_our_verifier_accepts_library_signatures(tmp_path: Path, alg: str) -> None:
    keyset = KeySet.ephemeral()
    minter = AssertionMinter(keyset, "https://proxy.test")
    body = b'{"qty": 3}'
    headers = {
        wire.REQUEST_ID_HEADER: "rid-9",
        wire.ASSERTION_HEADER: minter.mint(ALICE, "http://backend.test:9000", "rid-9"),
    }
    message = LibRequest("PUT", f"http://{AUTHORITY}/orders/7?x=%20y", headers)
    assert isinstance(keyset.signing.private, Ed25519PrivateKey)
    algorithm, kid, key = (
        (algorithms.ED25519, keyset.signing.kid, keyset.signing.private)
        if alg == "ed25519"
        else (algorithms.HMAC_SHA256, "k1", HMAC_KEY)
    )
    now = datetime.datetime.fromtimestamp(int(time.time()), tz=datetime.UTC)
    HTTPMessageSigner(
        signature_algorithm=algorithm,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={kid: key}),
    ).sign(
        message,
        key_id=kid,
        created=now,
        expires=now + datetime.timedelta(seconds=wire.SIGNATURE_TTL),
        nonce=base64.urlsafe_b64encode(hashlib.sha256(alg.encode()).digest()[:16])
        .decode()
        .rstrip("="),
        label=wire.SIGNATURE_LABEL,
        tag=wire.BODY_SIGNED_TAG,
        covered_component_ids=(*wire.COVERED_COMPONENTS, wire.CONTENT_DIGEST_HEADER),
        body=body,
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(keyset.jwks_document())
    verifier = Verifier(
        issuer="https://proxy.test",
        audience="http://backend.test:9000",
        key_file=str(jwks),
        hmac_key=HMAC_KEY,
    )
    identity = await verifier.verify(
        "PUT", AUTHORITY, "/orders/7", "?x=%20y", list(message.headers.items()), body
    )
    assert identity is not None and identity.subject == "alice"
