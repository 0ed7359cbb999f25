"""Public verification keys: JWK parsing and which algorithm each key may verify.

The algorithm a token may use is decided here from the *key* (kty, crv, alg,
use, key_ops) and from configuration, never from the token header alone
(RFC 8725 §3.1). Symmetric (``oct``) keys are never accepted for bearer tokens,
which rules out HS256-with-a-public-key confusion by construction.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWTError

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

# RFC 7518 §3.3: RSA keys of 2048 bits or larger MUST be used.
MIN_RSA_BITS: Final = 2048

_CURVES: Final[Mapping[str, ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


@dataclass(frozen=True, slots=True)
class KeyKind:
    """What an algorithm needs from a key (RFC 7518 §3.1, RFC 8037 §3.1)."""

    kty: str
    curves: frozenset[str] = frozenset()  # empty: the kty has no curve


_RSA: Final = KeyKind("RSA")
# The key kind each supported JWS algorithm requires. HS* and "none" are absent
# on purpose: bearer tokens are only ever verified with public keys.
ALGORITHMS: Final[Mapping[str, KeyKind]] = {
    "RS256": _RSA,
    "RS384": _RSA,
    "RS512": _RSA,
    "PS256": _RSA,
    "PS384": _RSA,
    "PS512": _RSA,
    "ES256": KeyKind("EC", frozenset({"P-256"})),
    "ES384": KeyKind("EC", frozenset({"P-384"})),
    "ES512": KeyKind("EC", frozenset({"P-521"})),
    "EdDSA": KeyKind("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": KeyKind("OKP", frozenset({"Ed25519"})),  # RFC 9864 fully specified name
}


class UnusableKey(ValueError):
    """A JWK this proxy cannot or will not use; the key set skips it (RFC 7517 §5)."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key from a JWKS, with the constraints its JWK declared.

    Two keys are equal when kid, type, constraints and key material agree, so
    the same JWK fetched twice is the same key (a cached token stays valid) and
    a kid reused for other material is not.
    """

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: PublicKey = field(compare=False)
    # DER SubjectPublicKeyInfo: one canonical encoding of the key material.
    material: bytes = field(default=b"", repr=False)
    # One PyJWK per algorithm this key allows: PyJWT verifies a token only with
    # the algorithm its PyJWK was built for, so the key, not the token, names it.
    verifiers: Mapping[str, PyJWK] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.material:
            der = self.key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            object.__setattr__(self, "material", der)

    def allows(self, alg: str) -> bool:
        """True when this key may verify a signature made with ``alg``."""
        kind = ALGORITHMS.get(alg)
        if kind is None or kind.kty != self.kty:
            return False
        if kind.curves and self.crv not in kind.curves:
            return False
        # RFC 7517 §4.4: a key that names its algorithm is used with that one only.
        return self.alg is None or self.alg == alg


def parse_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """Turn one JWK into a ``VerificationKey``; raise ``UnusableKey`` otherwise."""
    _check_purpose(jwk)
    kid = _optional_str(jwk, "kid")
    alg = _optional_str(jwk, "alg")
    kty = jwk.get("kty")
    if kty == "RSA":
        key = VerificationKey(kid, "RSA", None, alg, _rsa(jwk))
    elif kty == "EC":
        crv = _str(jwk, "crv")
        key = VerificationKey(kid, "EC", crv, alg, _ec(jwk, crv))
    elif kty == "OKP":
        crv = _str(jwk, "crv")
        key = VerificationKey(kid, "OKP", crv, alg, _okp(jwk, crv))
    else:
        raise UnusableKey(f"unsupported kty {kty!r}")
    object.__setattr__(key, "verifiers", _verifiers(key, jwk))
    return key


# The public members of each key type (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2): a
# PyJWK is built from these only, so private members a JWKS should never carry
# ("d", "p", ...) cannot turn a verification key into a signing one.
_PUBLIC_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "RSA": ("kty", "n", "e"),
    "EC": ("kty", "crv", "x", "y"),
    "OKP": ("kty", "crv", "x"),
}
# RFC 9864 "Ed25519" is EdDSA restricted to one curve; PyJWT knows it as EdDSA.
_PYJWT_NAMES: Final[Mapping[str, str]] = {"Ed25519": "EdDSA"}


def _verifiers(key: VerificationKey, jwk: Mapping[str, Any]) -> dict[str, PyJWK]:
    public = {name: jwk[name] for name in _PUBLIC_MEMBERS[key.kty]}
    verifiers = {}
    for alg in ALGORITHMS:
        if not key.allows(alg):
            continue
        try:
            verifier = PyJWK(public, _PYJWT_NAMES.get(alg, alg))
        except PyJWTError as exc:  # InvalidKeyError or PyJWKError
            raise UnusableKey(f"PyJWT cannot use this key for {alg}: {exc}") from exc
        # PyJWT compares the header's alg with this name before verifying.
        verifier.algorithm_name = alg
        verifiers[alg] = verifier
    return verifiers


def _check_purpose(jwk: Mapping[str, Any]) -> None:
    # RFC 7517 §4.2 / §4.3: a key published for encryption must not verify.
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise UnusableKey(f"key use is {use!r}, not 'sig'")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise UnusableKey("key_ops does not include 'verify'")


def _rsa(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64(jwk, "n"), "big")
    e = int.from_bytes(_b64(jwk, "e"), "big")
    if n.bit_length() < MIN_RSA_BITS:
        raise UnusableKey(f"RSA key of {n.bit_length()} bits is too short")
    try:
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:
        raise UnusableKey(f"invalid RSA key: {exc}") from exc


def _ec(jwk: Mapping[str, Any], crv: str) -> ec.EllipticCurvePublicKey:
    curve = _CURVES.get(crv)
    if curve is None:
        raise UnusableKey(f"unsupported EC curve {crv!r}")
    size = (curve.key_size + 7) // 8
    x, y = _b64(jwk, "x"), _b64(jwk, "y")
    # RFC 7518 §6.2.1.2: coordinates are exactly the curve's octet length.
    if len(x) != size or len(y) != size:
        raise UnusableKey("EC coordinates have the wrong length")
    try:  # cryptography checks the point is on the curve
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve
        ).public_key()
    except ValueError as exc:
        raise UnusableKey(f"invalid EC key: {exc}") from exc


def _okp(jwk: Mapping[str, Any], crv: str) -> ed25519.Ed25519PublicKey | ed448.Ed448PublicKey:
    x = _b64(jwk, "x")
    try:
        if crv == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
        if crv == "Ed448":
            return ed448.Ed448PublicKey.from_public_bytes(x)
    except ValueError as exc:
        raise UnusableKey(f"invalid {crv} key: {exc}") from exc
    raise UnusableKey(f"unsupported OKP curve {crv!r}")


def _str(jwk: Mapping[str, Any], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise UnusableKey(f"JWK member {name!r} is missing or not a string")
    return value


def _optional_str(jwk: Mapping[str, Any], name: str) -> str | None:
    return None if jwk.get(name) is None else _str(jwk, name)


def _b64(jwk: Mapping[str, Any], name: str) -> bytes:
    try:
        return b64url_decode(_str(jwk, name))
    except ValueError as exc:
        raise UnusableKey(f"JWK member {name!r} is not base64url") from exc


def b64url_decode(value: str) -> bytes:
    """Strict unpadded base64url (RFC 7515 §2): other characters are an error."""
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ValueError("not base64url") from exc
    if len(raw) % 4 == 1 or raw.translate(None, _B64URL_ALPHABET):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


_B64URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
