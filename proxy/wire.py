"""The wire contract between the proxy and backends, defined once.

Both the signer (``proxy.signing``) and the backend verifier (``proxy.verify``)
import these names, so the two cannot drift apart. This module imports nothing
from the rest of the proxy.
"""

from __future__ import annotations

from typing import Final

# Headers the proxy adds (lowercase, as they travel in ASGI and HTTP/2).
ASSERTION_HEADER: Final = "edgeward-assertion"
REQUEST_ID_HEADER: Final = "x-request-id"
SIGNATURE_HEADER: Final = "signature"
SIGNATURE_INPUT_HEADER: Final = "signature-input"
CONTENT_DIGEST_HEADER: Final = "content-digest"
USER_HEADER: Final = "edgeward-user"
EMAIL_HEADER: Final = "edgeward-email"
GROUPS_HEADER: Final = "edgeward-groups"
CACHE_HEADER: Final = "edgeward-cache"
CLIENT_ID_HEADER: Final = "edgeward-client-id"
CLIENT_SECRET_HEADER: Final = "edgeward-client-secret"  # noqa: S105 - a header name

# Every client-sent header with this prefix is removed before forwarding.
RESERVED_HEADER_PREFIX: Final = "edgeward-"

# RFC 9421 signature label used by the proxy.
SIGNATURE_LABEL: Final = "edgeward"

# Covered components, in order. ``content-digest`` is appended when the body is
# covered; identity headers are appended when the route sends them.
COVERED_COMPONENTS: Final = (
    "@method",
    "@authority",
    "@path",
    "@query",
    ASSERTION_HEADER,
    REQUEST_ID_HEADER,
)
# Public routes carry no assertion, so it is not covered there.
COVERED_COMPONENTS_PUBLIC: Final = tuple(c for c in COVERED_COMPONENTS if c != ASSERTION_HEADER)

# Signature-Input parameter that says the body is deliberately not covered
# (it was larger than the digest limit and was streamed).
BODY_UNSIGNED_TAG: Final = "edgeward-body-unsigned"
BODY_SIGNED_TAG: Final = "edgeward"

# Claims of the Edgeward-Assertion JWT.
CLAIM_ISSUER: Final = "iss"
CLAIM_AUDIENCE: Final = "aud"
CLAIM_SUBJECT: Final = "sub"
CLAIM_EMAIL: Final = "email"
CLAIM_GROUPS: Final = "groups"
CLAIM_NAME: Final = "name"
CLAIM_AUTH: Final = "auth"
CLAIM_ISSUED_AT: Final = "iat"
CLAIM_EXPIRES: Final = "exp"
CLAIM_JWT_ID: Final = "jti"
CLAIM_REQUEST_ID: Final = "rid"

AUTH_METHODS: Final = ("session", "bearer", "service_token")

# Assertion lifetime ceiling and the signature window (seconds).
ASSERTION_MAX_TTL: Final = 60
SIGNATURE_TTL: Final = 30
