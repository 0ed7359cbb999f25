"""Why a request was refused: one exception with a stable machine-readable code.

Every failed check raises ``VerificationError(code)``; callers branch on ``code``
(never on the message). ``status`` is the HTTP status the middleware answers
with: 401 for anything the request itself got wrong, 413 for a body over the
buffering limit, 503 when a dependency needed to decide (JWKS, nonce store) is
down -- which still refuses the request: the verifier fails closed.
"""

from __future__ import annotations

from typing import Final

# code -> (status, human-readable detail). Details are fixed strings so nothing
# from the request or a stack trace ever reaches a client.
_CODES: Final[dict[str, tuple[int, str]]] = {
    "missing_signature": (401, "the request carries no Edgeward signature"),
    "malformed_signature": (401, "Signature or Signature-Input is malformed"),
    "missing_component": (401, "the signature does not cover every required component"),
    "uncovered_header": (401, "an identity header is present but not covered by the signature"),
    "bad_signature": (401, "the signature does not match the request"),
    "unsupported_algorithm": (401, "the signature algorithm does not match the key"),
    "unknown_key": (401, "the signing key is not trusted"),
    "expired": (401, "the signature or assertion has expired"),
    "not_yet_valid": (401, "the signature or assertion is dated in the future"),
    "replayed": (401, "the signature nonce was already used"),
    "digest_mismatch": (401, "Content-Digest does not match the body"),
    "body_unsigned": (401, "the request has a body that the signature does not cover"),
    "missing_assertion": (401, "the request carries no identity assertion"),
    "bad_assertion": (401, "the identity assertion is invalid"),
    "request_id_mismatch": (401, "the assertion belongs to another request"),
    "identity_mismatch": (401, "the identity headers do not match the assertion"),
    "body_too_large": (413, "the body is larger than the verifier buffers"),
    "jwks_unavailable": (503, "the signing keys could not be fetched"),
    "nonce_store_unavailable": (503, "the replay store is unavailable"),
}


class VerificationError(Exception):
    """A request failed verification; ``code`` says which check refused it."""

    def __init__(self, code: str) -> None:
        if code not in _CODES:
            raise ValueError(f"unknown verification error code {code!r}")
        self.code = code
        self.status, self.detail = _CODES[code]
        super().__init__(f"{code}: {self.detail}")


def known_codes() -> frozenset[str]:
    """Every code ``VerificationError`` may carry (documentation and tests)."""
    return frozenset(_CODES)
