"""The proxy's signing keys: load, generate, write, and publish them as a JWKS.

Key files hold one private key each, as a JWK (JSON, RFC 7517 / RFC 8037) or a
PKCS#8 PEM; Ed25519 signs with EdDSA, P-256 with ES256. A key's kid is the JWK's
``kid`` or else its RFC 7638 thumbprint, so the same key always has the same id.
The first key of a ``KeySet`` signs; all of them are published, which is how a
key is rotated: add the new one behind the old, then move it first.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from proxy.verify.jwk import (
    HttpSigAlg,
    JoseAlg,
    JwkError,
    PrivateKey,
    http_sig_alg,
    jose_alg,
    load_private,
    private_jwk,
    public_jwk,
    thumbprint,
)

log = logging.getLogger(__name__)

_ALGORITHMS = ("EdDSA", "ES256")
_ECDSA = ec.ECDSA(hashes.SHA256())


class KeyFileError(Exception):
    """A key file cannot be read, parsed, or written; the message names the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One private key with its kid and the algorithms it implies."""

    kid: str
    private: PrivateKey

    @property
    def jose_alg(self) -> JoseAlg:
        return jose_alg(self.private)

    @property
    def http_sig_alg(self) -> HttpSigAlg:
        return http_sig_alg(self.private)

    def public_jwk(self) -> dict[str, str]:
        return {
            **public_jwk(self.private.public_key()),
            "kid": self.kid,
            "alg": self.jose_alg,
            "use": "sig",
        }

    def sign(self, data: bytes) -> bytes:
        """A raw signature: Ed25519 bytes, or ECDSA as r||s (RFC 9421 §3.3.4)."""
        if isinstance(self.private, Ed25519PrivateKey):
            return self.private.sign(data)
        r, s = decode_dss_signature(self.private.sign(data, _ECDSA))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class KeySet:
    """The configured keys; ``signing`` is the first, all are published.

    ``signing.key_files`` in order: the first signs assertions (and Ed25519 request
    signatures), every one is listed in ``jwks.json`` so a key can be published
    before it signs and kept after it stopped (see docs/key-rotation.md).
    """

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("a KeySet needs at least one key")
        kids = [k.kid for k in keys]
        if len(set(kids)) != len(kids):
            raise ValueError(f"duplicate key ids in key set: {kids}")
        self.keys = tuple(keys)
        self.signing = keys[0]
        self._jwks = json.dumps({"keys": [k.public_jwk() for k in keys]}).encode()

    @classmethod
    def from_files(cls, paths: Sequence[str]) -> KeySet:
        return cls([load_key_file(p) for p in paths])

    @classmethod
    def ephemeral(cls, alg: JoseAlg = "EdDSA") -> KeySet:
        """A fresh in-memory key: backends must refetch the JWKS after every restart."""
        log.warning(
            "no signing.key_files configured: using an ephemeral %s key; "
            "signatures will not verify across restarts or replicas",
            alg,
        )
        return cls([_from_jwk(generate_key(alg))])

    def jwks_document(self) -> bytes:
        """The public JWKS (RFC 7517 §5) for ``/.edgeward/jwks.json``."""
        return self._jwks


def generate_key(alg: Literal["EdDSA", "ES256"]) -> dict[str, str]:
    """A new private JWK with ``kid`` (its thumbprint), ``alg`` and ``use``."""
    if alg not in _ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg!r}; use EdDSA or ES256")
    private: PrivateKey = (
        Ed25519PrivateKey.generate() if alg == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    )
    jwk = private_jwk(private)
    return {**jwk, "kid": thumbprint(jwk), "alg": alg, "use": "sig"}


def write_key(path: str, jwk: dict[str, str]) -> None:
    """Create ``path`` with mode 0600 holding ``jwk``; never overwrite a file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(path, "already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise KeyFileError(path, f"cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(jwk, indent=2) + "\n")


def keys_generate(out: str, alg: str) -> str:
    """``edgeward keys generate --out FILE --alg ALG``: write a key, return its kid."""
    if alg not in _ALGORITHMS:
        raise ValueError(f"unsupported algorithm {alg!r}; use EdDSA or ES256")
    jwk = generate_key("EdDSA" if alg == "EdDSA" else "ES256")
    write_key(out, jwk)
    return jwk["kid"]


def load_key_file(path: str) -> SigningKey:
    """A signing key from a private JWK or PKCS#8 PEM file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(path, f"cannot read: {exc.strerror}") from None
    try:
        if raw.lstrip().startswith(b"{"):
            return _from_jwk(json.loads(raw))
        if raw.lstrip().startswith(b"-----BEGIN"):
            return _from_pem(raw)
    except (JwkError, ValueError, TypeError) as exc:
        raise KeyFileError(path, f"invalid key: {exc}") from None
    raise KeyFileError(path, "not a JWK (JSON) or PEM private key")


def _from_jwk(jwk: Any) -> SigningKey:
    if not isinstance(jwk, dict):
        raise JwkError("a JWK must be a JSON object")
    private = load_private(jwk)
    declared = jwk.get("alg")
    if declared is not None and declared != jose_alg(private):
        raise JwkError(f"alg {declared!r} does not fit the key type ({jose_alg(private)})")
    kid = jwk.get("kid") or thumbprint(jwk)
    if not isinstance(kid, str):
        raise JwkError("kid must be a string")
    return SigningKey(kid=kid, private=private)


def _from_pem(raw: bytes) -> SigningKey:
    key = serialization.load_pem_private_key(raw, password=None)
    if not isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise JwkError("PEM key must be Ed25519 or EC P-256")
    jwk = private_jwk(key)  # raises JwkError for curves other than P-256
    return SigningKey(kid=thumbprint(jwk), private=key)
