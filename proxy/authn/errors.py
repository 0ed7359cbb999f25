"""Why a credential was refused: one exception tree with stable reason codes.

Every authenticator raises a subclass of ``AuthError``; callers compare
``code`` (a stable snake_case string), never the message. The tree::

    AuthError                    (401, error="invalid_token")
    ├── InvalidRequest           (400, error="invalid_request", RFC 6750 §3.1)
    ├── MalformedToken           malformed_token
    ├── ForbiddenHeader          forbidden_header_parameter, unsupported_crit, b64_not_critical
    ├── WrongTokenType           bad_token_type, security_event_token
    ├── AlgorithmNotAllowed      alg_not_allowed
    ├── UnknownIssuer            unknown_issuer
    ├── UnknownKey               unknown_kid
    ├── JwksUnavailable          jwks_unavailable (503: the IdP failed, not the client)
    ├── BadSignature             bad_signature
    ├── InvalidAudience          bad_audience
    ├── ExpiredToken             token_expired
    ├── ImmatureToken            token_not_yet_valid, token_issued_in_future
    ├── InvalidClaim             invalid_claim, missing_claim
    └── InvalidClientCredentials invalid_client_credentials
"""

from __future__ import annotations

from typing import ClassVar

_QUOTED_UNSAFE = str.maketrans({'"': "'", "\\": "/"})


class AuthError(Exception):
    """A refused credential. ``code`` is stable; ``description`` is for humans."""

    default_code: ClassVar[str] = "invalid_token"
    # RFC 6750 §3.1 error code carried in the WWW-Authenticate challenge.
    error: ClassVar[str] = "invalid_token"
    status: ClassVar[int] = 401

    def __init__(self, description: str, *, code: str | None = None) -> None:
        super().__init__(description)
        self.code = code or self.default_code
        self.description = description

    def www_authenticate(self, realm: str) -> str:
        """The ``WWW-Authenticate`` value for this failure (RFC 6750 §3)."""
        return bearer_challenge(realm, self.error, self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, description={self.description!r})"


def bearer_challenge(realm: str, error: str | None = None, description: str | None = None) -> str:
    """Build a Bearer challenge. Without ``error`` it is the plain "please
    authenticate" challenge RFC 6750 §3.1 asks for when no credential was sent."""
    parts = [f'Bearer realm="{_quoted(realm)}"']
    if error:
        parts.append(f'error="{_description(error)}"')
    if error and description:
        parts.append(f'error_description="{_description(description)}"')
    return ", ".join(parts)


def _quoted(value: str) -> str:
    # RFC 9110 §5.6.4 quoted-string: escape DQUOTE and backslash, drop controls.
    printable = "".join(c for c in value if " " <= c <= "~")
    return printable.replace("\\", "\\\\").replace('"', '\\"')


def _description(value: str) -> str:
    # RFC 6750 §3: error and error_description allow %x20-21 / %x23-5B / %x5D-7E
    # only, so DQUOTE and backslash cannot even be escaped; replace them.
    return "".join(c for c in value.translate(_QUOTED_UNSAFE) if " " <= c <= "~")


class InvalidRequest(AuthError):
    default_code = "invalid_request"
    error = "invalid_request"
    status = 400


class MalformedToken(AuthError):
    default_code = "malformed_token"


class ForbiddenHeader(AuthError):
    default_code = "forbidden_header_parameter"


class WrongTokenType(AuthError):
    """A valid JWT of another kind (logout token, DPoP proof, ...), never a bearer."""

    default_code = "bad_token_type"


class AlgorithmNotAllowed(AuthError):
    default_code = "alg_not_allowed"


class UnknownIssuer(AuthError):
    default_code = "unknown_issuer"


class UnknownKey(AuthError):
    default_code = "unknown_kid"


class JwksUnavailable(AuthError):
    default_code = "jwks_unavailable"
    status = 503


class BadSignature(AuthError):
    default_code = "bad_signature"


class InvalidAudience(AuthError):
    default_code = "bad_audience"


class ExpiredToken(AuthError):
    default_code = "token_expired"


class ImmatureToken(AuthError):
    default_code = "token_not_yet_valid"


class InvalidClaim(AuthError):
    default_code = "invalid_claim"


class InvalidClientCredentials(AuthError):
    default_code = "invalid_client_credentials"
