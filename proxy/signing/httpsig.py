"""RFC 9421 request signatures on forwarded requests (the proxy's hot path).

``RequestSigner.sign`` returns the ``Signature-Input`` and ``Signature`` header
pairs for one request, label ``wire.SIGNATURE_LABEL``. Components come from the
wire contract (``wire.COVERED_COMPONENTS`` or ``..._PUBLIC``), then
``content-digest`` when the body is covered, then the identity headers the
route sends. Parameters: ``created``, ``expires`` (created + SIGNATURE_TTL),
``nonce`` (128 random bits, base64url), ``keyid``, ``alg``, ``tag`` (which says
whether the body is covered or deliberately streamed unsigned).

The signature base (§2.5) is serialised by hand rather than through the
``http-message-signatures`` package: the parts of ``@signature-params`` that do
not change are built once per component list, and the per-request work is one
f-string join plus the signature. Interop with that independent implementation
is pinned by tests in both directions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from proxy import wire
from proxy.signing.keys import SigningKey

# The derived components sign() fills in, in the order every component list starts with.
_DERIVED = ("@method", "@authority", "@path", "@query")
_HMAC_ALG = "hmac-sha256"


class SigningError(ValueError):
    """A request cannot be signed (a covered value is missing or not ASCII)."""


def content_digest(body: bytes) -> str:
    """The Content-Digest field value for ``body`` (RFC 9530 §2, sha-256)."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def _sf_string(value: str) -> str:
    """RFC 8941 §4.1.6 sf-string serialisation (printable ASCII only)."""
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"not an sf-string: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class _Plan:
    """What never changes for one component list: names, line prefixes, params."""

    fields: tuple[str, ...]  # covered header fields, in order
    prefixes: tuple[str, ...]  # '"name": ' for every component, in order
    inner: str  # the serialised inner list of component names
    tail: str  # ';keyid=..;alg=..;tag=..' (after created/expires/nonce)


class RequestSigner:
    """Signs forwarded requests with an asymmetric key or a shared HMAC key."""

    def __init__(
        self,
        key: SigningKey | None = None,
        *,
        hmac_key: bytes | None = None,
        hmac_key_id: str = "edgeward-hmac",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (key is None) == (hmac_key is None):
            raise ValueError("give exactly one of key (ed25519/ES256) or hmac_key")
        self.algorithm: str = _HMAC_ALG if key is None else key.http_sig_alg
        self.keyid = hmac_key_id if key is None else key.kid
        self._key = key
        self._hmac_key = hmac_key
        self._clock = clock
        self._params = f";keyid={_sf_string(self.keyid)};alg={_sf_string(self.algorithm)}"
        self._plans: dict[tuple[bool, bool | None, tuple[str, ...]], _Plan] = {}

    def sign(
        self,
        method: str,
        authority: str,
        path: str,
        query: str,
        fields: Mapping[str, str],
        *,
        public: bool,
        body_covered: bool | None,
        scheme: str = "http",
    ) -> list[tuple[bytes, bytes]]:
        """Signature-Input and Signature headers (lowercase names, bytes).

        ``fields`` maps lowercase covered header names to their values as they
        will be sent; ``query`` is "?"-prefixed ("?" when empty, §2.2.7).
        ``body_covered``: True = ``fields`` has content-digest and it is signed;
        False = a body too large to digest is streamed unsigned (tagged so);
        None = no body. ``scheme`` is that of the connection the backend
        receives: it decides which port is the default one in ``@authority``.
        """
        identity = tuple(h for h in wire.IDENTITY_HEADERS if h in fields)
        plan = self._plans.get((public, body_covered, identity)) or self._plan(
            public, body_covered, identity
        )
        try:
            values = (
                method,
                wire.normalize_authority(authority, scheme),
                path or "/",
                query or "?",
                *[fields[f] for f in plan.fields],
            )
        except KeyError as exc:
            raise SigningError(f"covered header {exc.args[0]!r} missing from fields") from None
        created = int(self._clock())
        params = (
            f"{plan.inner};created={created};expires={created + wire.SIGNATURE_TTL}"
            f';nonce="{secrets.token_urlsafe(16)}"{plan.tail}'
        )
        if any("\n" in v or "\r" in v for v in values):  # would forge another line (§2.5)
            raise SigningError("a covered value spans lines")
        lines = [prefix + value for prefix, value in zip(plan.prefixes, values, strict=True)]
        lines.append('"@signature-params": ' + params)
        signature = self._sign("\n".join(lines))
        label = wire.SIGNATURE_LABEL
        return [
            (b"signature-input", f"{label}={params}".encode("ascii")),
            (b"signature", f"{label}=:{base64.b64encode(signature).decode()}:".encode("ascii")),
        ]

    def _sign(self, base: str) -> bytes:
        if not base.isascii():  # §2.5: the signature base is ASCII
            raise SigningError("a covered value is not ASCII")
        data = base.encode("ascii")
        if self._hmac_key is not None:
            return hmac.new(self._hmac_key, data, hashlib.sha256).digest()
        assert self._key is not None
        return self._key.sign(data)

    def _plan(self, public: bool, body_covered: bool | None, identity: tuple[str, ...]) -> _Plan:
        base = wire.COVERED_COMPONENTS_PUBLIC if public else wire.COVERED_COMPONENTS
        digest = (wire.CONTENT_DIGEST_HEADER,) if body_covered else ()
        names = (*base, *digest, *identity)
        if names[: len(_DERIVED)] != _DERIVED:
            raise SigningError(f"wire components must start with {_DERIVED}")
        tag = wire.BODY_UNSIGNED_TAG if body_covered is False else wire.BODY_SIGNED_TAG
        plan = _Plan(
            fields=names[len(_DERIVED) :],
            prefixes=tuple(f'"{n}": ' for n in names),
            inner="(" + " ".join(f'"{n}"' for n in names) + ")",
            tail=f"{self._params};tag={_sf_string(tag)}",
        )
        self._plans[(public, body_covered, identity)] = plan
        return plan
