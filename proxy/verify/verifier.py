"""The backend's check of one forwarded request, as a linear list of steps.

``Verifier.verify`` takes the request as it arrived and either returns the
caller's ``Identity`` (``None`` for a validly signed request to a public route,
which carries no assertion) or raises ``VerificationError``. Order matters:
cheap structural checks, then the RFC 9421 signature over the rebuilt base,
then the body digest (RFC 9530), then the assertion (and the identity headers,
which must say exactly what it says), and only then the nonce, so a refused
request never uses up a nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
from http_sfv.dictionary import Dictionary

from proxy import wire
from proxy.identity import Identity
from proxy.verify.assertion import AssertionChecker
from proxy.verify.errors import VerificationError
from proxy.verify.keysource import KeySource, load_key_file
from proxy.verify.nonces import MemoryNonceStore, NonceStore
from proxy.verify.sigbase import ParsedSignature, combined_headers, parse_signature, signature_base

_DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
_HMAC = "hmac-sha256"


class Verifier:
    """Checks Edgeward signatures and assertions for one backend.

    ``issuer`` is the proxy's ``public_url``, ``audience`` the route's audience. Keys
    come from the proxy's JWKS (``jwks_url``), a file (``key_file``), or, for the
    request signature only, a shared ``hmac_key``. Replays are refused with a
    ``NonceStore`` (memory by default; share one across replicas). Use it through
    ``VerifyMiddleware`` or the FastAPI dependency rather than calling ``verify``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        key_file: str | None = None,
        hmac_key: bytes | None = None,
        hmac_key_id: str | None = None,
        nonce_store: NonceStore | None = None,
        leeway: float = 5,
        clock: Callable[[], float] = time.time,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if jwks_url is not None and key_file is not None:
            raise ValueError("give jwks_url or key_file, not both")
        if jwks_url is None and key_file is None and hmac_key is None:
            raise ValueError("give jwks_url or key_file (assertions need a public key)")
        keys = load_key_file(key_file) if key_file is not None else None
        if key_file is not None and not keys:
            raise ValueError(f"{Path(key_file).name}: no Ed25519 or P-256 public key found")
        self.keys = KeySource(jwks_url=jwks_url, keys=keys, http=http, clock=clock)
        self._hmac_key = hmac_key
        self._hmac_key_id = hmac_key_id
        self._nonces = nonce_store if nonce_store is not None else MemoryNonceStore(clock=clock)
        self._leeway = leeway
        self._clock = clock
        self._assertions = AssertionChecker(
            issuer=issuer, audience=audience, key_for=self.keys.get, clock=clock, leeway=leeway
        )

    async def verify(
        self,
        method: str,
        authority: str,
        path: str,
        query: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        *,
        scheme: str = "http",
    ) -> Identity | None:
        """Verify one request; ``query`` is "?"-prefixed ("?" when empty), like @query.

        ``authority`` is the Host as received and ``scheme`` that of the
        connection it came on: ``@authority`` is normalised with it
        (``wire.normalize_authority``, as the proxy signs it).

        ``body`` is the whole received body when the caller buffered it, or None
        when it did not (then a body announced by the headers must be tagged as
        deliberately unsigned).
        """
        fields = combined_headers(headers)
        sig = parse_signature(fields)
        public = self._check_coverage(sig, fields)
        self._check_window(sig)
        derived = {
            "@method": method,
            "@authority": wire.normalize_authority(authority, scheme),
            "@path": path or "/",
            "@query": query if query.startswith("?") else "?" + query,
        }
        await self._check_signature(sig, signature_base(sig, {**fields, **derived}))
        self._check_body(sig, fields, body)
        identity = None if public else await self._identity(fields)
        if not await self._nonces.add(sig.nonce, sig.expires - self._clock() + self._leeway):
            raise VerificationError("replayed")
        return identity

    async def aclose(self) -> None:
        await self.keys.aclose()

    def _check_coverage(self, sig: ParsedSignature, fields: Mapping[str, str]) -> bool:
        """Every required component covered; True for a public-route request."""
        covered = set(sig.components)
        public = wire.ASSERTION_HEADER not in covered
        if public and wire.ASSERTION_HEADER in fields:
            raise VerificationError("uncovered_header")
        required = wire.COVERED_COMPONENTS_PUBLIC if public else wire.COVERED_COMPONENTS
        if not covered.issuperset(required):
            raise VerificationError("missing_component")
        if any(h in fields and h not in covered for h in wire.IDENTITY_HEADERS):
            raise VerificationError("uncovered_header")
        if sig.tag not in (wire.BODY_SIGNED_TAG, wire.BODY_UNSIGNED_TAG):
            raise VerificationError("malformed_signature")
        return public

    def _check_window(self, sig: ParsedSignature) -> None:
        # RFC 9421 §3.2.1: created/expires are the verifier's to enforce.
        now = self._clock()
        if sig.created > now + self._leeway:
            raise VerificationError("not_yet_valid")
        if (
            sig.expires < now - self._leeway
            or sig.created < now - wire.SIGNATURE_TTL - self._leeway
        ):
            raise VerificationError("expired")
        if not 0 < sig.expires - sig.created <= wire.SIGNATURE_TTL:
            raise VerificationError("malformed_signature")

    async def _check_signature(self, sig: ParsedSignature, base: bytes) -> None:
        if sig.alg == _HMAC and self._hmac_key is not None:
            if self._hmac_key_id is not None and sig.keyid != self._hmac_key_id:
                raise VerificationError("unknown_key")
            expected = hmac.new(self._hmac_key, base, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, sig.signature):
                raise VerificationError("bad_signature")
            return
        key = await self.keys.get(sig.keyid)
        # The algorithm is the key's; an ``alg`` parameter may only agree (§3.3.7).
        if sig.alg is not None and sig.alg != key.http_sig_alg:
            raise VerificationError("unsupported_algorithm")
        if not key.verify(sig.signature, base):
            raise VerificationError("bad_signature")

    def _check_body(
        self, sig: ParsedSignature, fields: Mapping[str, str], body: bytes | None
    ) -> None:
        if wire.CONTENT_DIGEST_HEADER in sig.components:
            if body is None:
                raise VerificationError("body_unsigned")
            _check_digest(fields[wire.CONTENT_DIGEST_HEADER], body)
        elif sig.tag != wire.BODY_UNSIGNED_TAG and _has_body(fields, body):
            raise VerificationError("body_unsigned")

    async def _identity(self, fields: Mapping[str, str]) -> Identity:
        token = fields.get(wire.ASSERTION_HEADER)
        if not token:
            raise VerificationError("missing_assertion")
        verified = await self._assertions.check(token)
        rid = verified.request_id
        if rid is not None and rid != fields.get(wire.REQUEST_ID_HEADER):
            raise VerificationError("request_id_mismatch")
        if any(h in fields for h in wire.IDENTITY_HEADERS):
            # Signed along with the assertion, so this only catches a signer that
            # disagrees with itself; but handlers may read the headers, and then
            # they must mean exactly the Identity returned here.
            expected = verified.identity_headers
            if any(fields.get(h) != expected.get(h) for h in wire.IDENTITY_HEADERS):
                raise VerificationError("identity_mismatch")
        return verified.identity


def _has_body(fields: Mapping[str, str], body: bytes | None) -> bool:
    if body is not None:
        return len(body) > 0
    length = fields.get("content-length", "0").strip()
    return "transfer-encoding" in fields or length not in ("", "0")


def _check_digest(value: str, body: bytes) -> None:
    """RFC 9530 §2: every known digest in the field must match; one at least."""
    parsed = Dictionary()
    try:
        parsed.parse(value.encode("latin-1"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise VerificationError("digest_mismatch") from exc
    checked = 0
    for name, item in parsed.items():
        hasher = _DIGESTS.get(name)
        if hasher is None:
            continue
        if not isinstance(item.value, bytes) or not hmac.compare_digest(
            hasher(body).digest(), item.value
        ):
            raise VerificationError("digest_mismatch")
        checked += 1
    if not checked:
        raise VerificationError("digest_mismatch")
