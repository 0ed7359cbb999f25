"""Service tokens: static client id + secret, compared as SHA-256 digests."""

from __future__ import annotations

import hashlib

import pytest

from proxy.authn.errors import AuthError
from proxy.authn.service_tokens import ServiceTokenAuthenticator
from proxy.config.schema import ServiceToken

SECRET = "correct horse battery staple"


@pytest.fixture
def authn() -> ServiceTokenAuthenticator:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    return ServiceTokenAuthenticator(
        [
            ServiceToken(id="ci-bot", secret_sha256=digest, groups=("deployers",)),
            ServiceToken(id="upper", secret_sha256=digest.upper()),
        ],
        issuer="https://proxy.example.com",
    )


def test_good_secret(authn: ServiceTokenAuthenticator) -> None:
    identity = authn.authenticate("ci-bot", SECRET)
    assert identity.subject == "service:ci-bot" and identity.auth == "service_token"
    assert identity.groups == ("deployers",) and identity.expires_at is None
    assert identity.issuer == "https://proxy.example.com"  # the proxy issued it


def test_uppercase_configured_digest(authn: ServiceTokenAuthenticator) -> None:
    assert authn.authenticate("upper", SECRET).subject == "service:upper"


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("ci-bot", "wrong"),
        ("ci-bot", ""),
        ("ci-bot", hashlib.sha256(SECRET.encode()).hexdigest()),  # the digest is not the secret
        ("nobody", SECRET),
        ("", SECRET),
    ],
)
def test_refused(authn: ServiceTokenAuthenticator, client_id: str, secret: str) -> None:
    with pytest.raises(AuthError) as exc:
        authn.authenticate(client_id, secret)
    assert exc.value.code == "invalid_client_credentials"


def test_duplicate_ids_refused() -> None:
    token = ServiceToken(id="a", secret_sha256="0" * 64)
    with pytest.raises(ValueError, match="twice"):
        ServiceTokenAuthenticator([token, token], issuer="https://proxy.example.com")
