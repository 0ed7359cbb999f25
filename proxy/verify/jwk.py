"""JSON Web Keys for the two key types Edgeward uses: Ed25519 and P-256.

Converts between JWK objects (RFC 7517, RFC 8037 for OKP) and ``cryptography``
keys, computes RFC 7638 thumbprints, and verifies raw signatures. Only these two
key types exist on the wire, so everything else is refused here rather than
half-supported. The signer imports this module too, so both ends agree on the
algorithm a key implies (the algorithm comes from the key, never from a header).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

JoseAlg = Literal["EdDSA", "ES256"]
HttpSigAlg = Literal["ed25519", "ecdsa-p256-sha256"]
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey

_P256_SIZE = 32  # bytes per coordinate / per ECDSA integer (RFC 9421 §3.3.4)


class JwkError(ValueError):
    """A JWK is malformed or of a key type Edgeward does not use."""


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise JwkError("expected a base64url string")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as exc:
        raise JwkError("invalid base64url") from exc


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 over the required members, sorted, no whitespace."""
    kty = jwk.get("kty")
    members = ("crv", "kty", "x") if kty == "OKP" else ("crv", "kty", "x", "y")
    if kty not in ("OKP", "EC") or any(not isinstance(jwk.get(m), str) for m in members):
        raise JwkError("thumbprint needs an OKP or EC key with crv, x (and y)")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64u_encode(hashlib.sha256(canonical.encode()).digest())


def public_jwk(key: PublicKey) -> dict[str, str]:
    """The public members of ``key`` as a JWK (no kid)."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(raw)}
    _require_p256(key.curve)
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64u_encode(numbers.x.to_bytes(_P256_SIZE, "big")),
        "y": b64u_encode(numbers.y.to_bytes(_P256_SIZE, "big")),
    }


def private_jwk(key: PrivateKey) -> dict[str, str]:
    """The private key as a JWK (public members plus ``d``; no kid)."""
    jwk = public_jwk(key.public_key())
    if isinstance(key, Ed25519PrivateKey):
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    else:
        raw = key.private_numbers().private_value.to_bytes(_P256_SIZE, "big")
    return {**jwk, "d": b64u_encode(raw)}


def load_public(jwk: Mapping[str, Any]) -> PublicKey:
    """A public key from a JWK; private members are ignored."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "OKP" and crv == "Ed25519":
        try:
            return Ed25519PublicKey.from_public_bytes(b64u_decode(jwk.get("x", "")))
        except ValueError as exc:
            raise JwkError("invalid Ed25519 public key") from exc
    if kty == "EC" and crv == "P-256":
        x = int.from_bytes(_coordinate(jwk, "x"), "big")
        y = int.from_bytes(_coordinate(jwk, "y"), "big")
        try:
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        except ValueError as exc:
            raise JwkError("P-256 point is not on the curve") from exc
    raise JwkError(f"unsupported key type kty={kty!r} crv={crv!r} (want OKP/Ed25519 or EC/P-256)")


def load_private(jwk: Mapping[str, Any]) -> PrivateKey:
    """A private key from a JWK, checked against its public members."""
    public = load_public(jwk)
    d = b64u_decode(jwk.get("d", "")) if "d" in jwk else b""
    if not d:
        raise JwkError("not a private key (no 'd' member)")
    try:
        private: PrivateKey
        if isinstance(public, Ed25519PublicKey):
            private = Ed25519PrivateKey.from_private_bytes(d)
        else:
            private = ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())
    except ValueError as exc:
        raise JwkError("invalid private key value") from exc
    if public_jwk(private.public_key()) != public_jwk(public):
        raise JwkError("private 'd' does not match the public members")
    return private


def jose_alg(key: PublicKey | PrivateKey) -> JoseAlg:
    """The JWS algorithm a key implies (RFC 8037 §3.1, RFC 7518 §3.4)."""
    return "EdDSA" if isinstance(key, Ed25519PublicKey | Ed25519PrivateKey) else "ES256"


def http_sig_alg(key: PublicKey | PrivateKey) -> HttpSigAlg:
    """The RFC 9421 §3.3 algorithm a key implies."""
    return "ed25519" if jose_alg(key) == "EdDSA" else "ecdsa-p256-sha256"


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """One trusted public key with the algorithms it implies."""

    kid: str
    key: PublicKey

    @property
    def jose_alg(self) -> JoseAlg:
        return jose_alg(self.key)

    @property
    def http_sig_alg(self) -> HttpSigAlg:
        return http_sig_alg(self.key)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Check a raw RFC 9421 signature (ECDSA as r||s, §3.3.4)."""
        try:
            if isinstance(self.key, Ed25519PublicKey):
                self.key.verify(signature, data)
            else:
                if len(signature) != 2 * _P256_SIZE:
                    return False
                r = int.from_bytes(signature[:_P256_SIZE], "big")
                s = int.from_bytes(signature[_P256_SIZE:], "big")
                self.key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def verify_key(jwk: Mapping[str, Any]) -> VerifyKey:
    """A ``VerifyKey`` from a JWK; kid defaults to the RFC 7638 thumbprint."""
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise JwkError("kid must be a string")
    return VerifyKey(kid=kid or thumbprint(jwk), key=load_public(jwk))


def _coordinate(jwk: Mapping[str, Any], name: str) -> bytes:
    raw = b64u_decode(jwk.get(name, ""))
    if len(raw) != _P256_SIZE:
        raise JwkError(f"P-256 '{name}' must be {_P256_SIZE} bytes")
    return raw


def _require_p256(curve: ec.EllipticCurve) -> None:
    if not isinstance(curve, ec.SECP256R1):
        raise JwkError(f"unsupported curve {curve.name} (want P-256)")
