"""Service tokens: static machine credentials (client id + secret) from config.

Only the SHA-256 of each secret is configured. A presented secret is hashed and
compared digest-to-digest with ``hmac.compare_digest``; an unknown id is
compared against a random digest so both failures cost the same work.

A service identity is subject ``service:<id>``, auth ``service_token`` and
issuer the proxy's own ``public_url`` (the proxy's config issued the token):
backends tell it from a bearer token whose ``sub`` happens to be
``service:<id>`` by auth and issuer, which the identity headers and the
assertion both carry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from proxy import wire
from proxy.authn.errors import InvalidClientCredentials, InvalidRequest
from proxy.config.schema import ServiceToken
from proxy.identity import Identity

# Secrets longer than this are refused after the same hashing work.
MAX_SECRET_BYTES: Final = 1024

_ID_HEADER: Final = wire.CLIENT_ID_HEADER.encode()
_SECRET_HEADER: Final = wire.CLIENT_SECRET_HEADER.encode()


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: str


def extract_client_credentials(headers: Sequence[tuple[bytes, bytes]]) -> ClientCredentials | None:
    """The service-token headers from raw ASGI headers; None when neither is sent."""
    ids = [v for k, v in headers if k.lower() == _ID_HEADER]
    secrets_ = [v for k, v in headers if k.lower() == _SECRET_HEADER]
    if not ids and not secrets_:
        return None
    if len(ids) != 1 or len(secrets_) != 1:
        raise InvalidRequest(
            f"send exactly one {wire.CLIENT_ID_HEADER} and one {wire.CLIENT_SECRET_HEADER}",
            code="malformed_client_credentials",
        )
    try:
        return ClientCredentials(ids[0].decode("ascii"), secrets_[0].decode("ascii"))
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            "client credentials are not ASCII", code="malformed_client_credentials"
        ) from exc


class ServiceTokenAuthenticator:
    """Checks client id + secret pairs against the configured digests."""

    def __init__(self, tokens: Sequence[ServiceToken], *, issuer: str) -> None:
        self._issuer = issuer
        self._tokens: dict[str, ServiceToken] = {}
        self._digests: dict[str, bytes] = {}
        for token in tokens:
            if token.id in self._tokens:
                raise ValueError(f"service token id {token.id!r} is configured twice")
            self._tokens[token.id] = token
            self._digests[token.id] = token.secret_sha256.lower().encode("ascii")
        # Compared against when the id is unknown; it matches no secret.
        self._decoy = secrets.token_hex(32).encode("ascii")

    def authenticate(self, client_id: str, secret: str) -> Identity:
        """The service's identity; ``InvalidClientCredentials`` on any mismatch."""
        presented = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest().encode()
        expected = self._digests.get(client_id, self._decoy)
        matches = hmac.compare_digest(presented, expected)
        token = self._tokens.get(client_id)
        if not matches or token is None or len(secret) > MAX_SECRET_BYTES:
            raise InvalidClientCredentials("unknown client id or wrong secret")
        return Identity(
            subject=f"service:{token.id}",
            auth="service_token",
            groups=token.groups,
            issuer=self._issuer,
        )
