"""Authentication of API callers: bearer JWTs and service tokens.

Each authenticator turns a credential into a ``proxy.identity.Identity`` or
raises an ``AuthError`` with a stable ``code``; nothing here decides access.
"""

from proxy.authn.bearer import BearerAuthenticator, extract_bearer
from proxy.authn.errors import AuthError, InvalidRequest, bearer_challenge
from proxy.authn.jwks import JwksCache
from proxy.authn.service_tokens import (
    ClientCredentials,
    ServiceTokenAuthenticator,
    extract_client_credentials,
)

__all__ = [
    "AuthError",
    "BearerAuthenticator",
    "ClientCredentials",
    "InvalidRequest",
    "JwksCache",
    "ServiceTokenAuthenticator",
    "bearer_challenge",
    "extract_bearer",
    "extract_client_credentials",
]
