"""The sign stage: the identity assertion and the RFC 9421 signature of one request.

Runs after the policy allowed the request and before it is forwarded, on the
exact method, authority, path and query that go upstream, so the backend can
check that what it received is what the proxy authorised.
"""

from __future__ import annotations

from urllib.parse import quote

from proxy import wire
from proxy.body import Body
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.headers import Header
from proxy.identity import Identity
from proxy.signing import AssertionMinter, RequestSigner, SigningError, content_digest


def _ascii(value: str) -> str:
    """Header-safe form of a claim value: non-ASCII is percent-encoded (UTF-8)."""
    return value if value.isascii() else quote(value, safe=" !#$&'()*+,-./:;<=>?@[]^_`{|}~")


def identity_fields(identity: Identity) -> dict[str, str]:
    fields = {wire.USER_HEADER: _ascii(identity.subject)}
    if identity.email:
        fields[wire.EMAIL_HEADER] = _ascii(identity.email)
    if identity.groups:
        fields[wire.GROUPS_HEADER] = _ascii(",".join(identity.groups))
    return fields


class Signer:
    def __init__(self, minter: AssertionMinter, request_signer: RequestSigner) -> None:
        self.minter = minter
        self.request_signer = request_signer

    def headers(
        self,
        req: Request,
        *,
        authority: str,
        audience: str,
        body: Body,
        identity_headers: bool,
    ) -> list[Header]:
        """The headers that prove this request came through the proxy."""
        fields = {wire.REQUEST_ID_HEADER: req.request_id}
        identity = req.identity
        if identity is not None:
            fields[wire.ASSERTION_HEADER] = self.minter.mint(identity, audience, req.request_id)
            if identity_headers:
                fields.update(identity_fields(identity))
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
            )
        except SigningError as exc:
            raise ProxyError(400, "unsignable_request", str(exc)) from None
        out = [(name.encode(), value.encode()) for name, value in fields.items()]
        out = [h for h in out if h[0] != b"x-request-id"]  # already set by the header stage
        return out + signature
