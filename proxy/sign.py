"""The sign stage: the identity assertion and the RFC 9421 signature of one request.

Runs after the policy allowed the request and before it is forwarded, on the
exact method, authority, path and query that go upstream, so the backend can
check that what it received is what the proxy authorised.
"""

from __future__ import annotations

import functools

from proxy import wire
from proxy.body import Body
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.headers import Header
from proxy.identity import Identity
from proxy.signing import AssertionMinter, RequestSigner, SigningError, content_digest

_IdentityKey = tuple[str, str, str | None, tuple[str, ...], str | None]


@functools.lru_cache(maxsize=1024)  # few distinct Host values per deployment
def preserved_host(client_host: bytes, client_scheme: str, upstream_scheme: str) -> bytes:
    """The client's Host as forwarded with ``preserve_host``: lowercase, with neither
    the client's nor the upstream's default port (RFC 9110 §4.2.3: the same authority).

    The verifier normalises ``@authority`` with the scheme its server reports, which
    is the upstream hop's -- unless the server takes it from X-Forwarded-Proto (uvicorn
    does for trusted peers), and then it is the client's. A Host without a default
    port of either scheme normalises to itself under both, so every verifier agrees
    with the signer whichever scheme it believes in.
    """
    host = client_host.decode("latin-1")  # checked by canonical_host before routing
    host = wire.normalize_authority(host, client_scheme)
    return wire.normalize_authority(host, upstream_scheme).encode("latin-1")


def identity_fields(identity: Identity) -> dict[str, str]:
    """The identity headers (``wire.IDENTITY_HEADERS``) of one identity, encoded."""
    return wire.identity_header_values(
        identity.subject, identity.auth, identity.email, identity.groups, identity.issuer
    )


class IdentityFields:
    """``identity_fields`` cached per identity: the same caller sends many requests,
    and percent-encoding a non-ASCII value costs microseconds each time."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max_entries = max_entries
        self._cache: dict[_IdentityKey, dict[str, str]] = {}

    def __call__(self, identity: Identity) -> dict[str, str]:
        key = (identity.subject, identity.auth, identity.email, identity.groups, identity.issuer)
        fields = self._cache.get(key)
        if fields is None:
            fields = identity_fields(identity)
            if len(self._cache) >= self._max_entries:
                del self._cache[next(iter(self._cache))]  # the oldest entry
            self._cache[key] = fields
        return fields


class Signer:
    """The headers that make a forwarded request verifiable by the backend.

    Combines the ``AssertionMinter`` (the identity JWT, reused per identity and
    audience) and the ``RequestSigner`` (the RFC 9421 signature over method,
    authority, path, query, request id, digest and identity headers) into the
    ``Edgeward-*``, ``Signature-Input`` and ``Signature`` fields of one request.
    """

    def __init__(self, minter: AssertionMinter, request_signer: RequestSigner) -> None:
        self.minter = minter
        self.request_signer = request_signer
        self.identity_fields = IdentityFields()

    def headers(
        self,
        req: Request,
        *,
        authority: str,
        upstream_scheme: str,
        audience: str,
        body: Body,
        identity_headers: bool,
    ) -> list[Header]:
        """The headers that prove this request came through the proxy.

        ``authority`` is the Host sent upstream, ``upstream_scheme`` the scheme of
        the route's ``to``: the backend normalises ``@authority`` with the scheme
        of the connection it receives, so the signer must use that one too.
        """
        fields = {wire.REQUEST_ID_HEADER: req.request_id}
        identity = req.identity
        if identity is not None:
            fields[wire.ASSERTION_HEADER] = self.minter.mint(identity, audience, req.request_id)
            if identity_headers:
                fields.update(self.identity_fields(identity))
        body_covered: bool | None = None
        if body.present:
            body_covered = body.data is not None
            if body.data is not None:
                fields[wire.CONTENT_DIGEST_HEADER] = content_digest(body.data)
        query = req.query.decode("latin-1")
        try:
            signature = self.request_signer.sign(
                req.method,
                authority,
                req.path,
                "?" + query,
                fields,
                public=identity is None,
                body_covered=body_covered,
                scheme=upstream_scheme,
            )
        except SigningError as exc:
            raise ProxyError(400, "unsignable_request", str(exc)) from None
        out = [(name.encode(), value.encode()) for name, value in fields.items()]
        out = [h for h in out if h[0] != b"x-request-id"]  # already set by the header stage
        return out + signature
