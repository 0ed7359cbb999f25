"""The Edgeward-Assertion: claims, lifetime, and reuse across requests."""

from __future__ import annotations

import jwt
import pytest

from proxy import wire
from proxy.identity import Identity
from proxy.signing import AssertionMinter, KeySet

ALICE = Identity(
    subject="alice", auth="session", email="a@example.com", groups=("g1", "g2"), name="A"
)
ISSUER = "https://proxy.test"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decode(keyset: KeySet, token: str) -> dict[str, object]:
    key = keyset.signing.private.public_key()
    return jwt.decode(
        token,
        key,
        algorithms=[keyset.signing.jose_alg],
        audience="aud",
        options={"verify_exp": False, "verify_iat": False},
    )


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_claims(alg: str) -> None:
    keyset = KeySet.ephemeral(alg)  # type: ignore[arg-type]
    clock = Clock()
    token = AssertionMinter(keyset, ISSUER, clock=clock).mint(ALICE, "aud", "rid-1")
    assert jwt.get_unverified_header(token)["kid"] == keyset.signing.kid
    claims = decode(keyset, token)
    assert claims["iss"] == ISSUER and claims["aud"] == "aud"
    assert (claims["sub"], claims["email"], claims["groups"], claims["name"], claims["auth"]) == (
        "alice",
        "a@example.com",
        ["g1", "g2"],
        "A",
        "session",
    )
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == claims["iat"] + 60
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert wire.CLAIM_REQUEST_ID not in claims  # reusable assertions carry no rid


def test_reused_within_window_then_reminted() -> None:
    keyset, clock = KeySet.ephemeral(), Clock()
    minter = AssertionMinter(keyset, ISSUER, clock=clock, reuse_for=30)
    first = minter.mint(ALICE, "aud", "r1")
    clock.now += 30
    assert minter.mint(ALICE, "aud", "r2") == first
    clock.now += 1
    third = minter.mint(ALICE, "aud", "r3")
    assert third != first
    assert decode(keyset, third)["iat"] == int(clock.now)


def test_cache_key_covers_identity_and_audience() -> None:
    minter = AssertionMinter(KeySet.ephemeral(), ISSUER, clock=Clock())
    base = minter.mint(ALICE, "aud", "r")
    others = {
        minter.mint(ALICE, "aud2", "r"),
        minter.mint(
            Identity(
                subject="alice", auth="bearer", email="a@example.com", groups=("g1", "g2"), name="A"
            ),
            "aud",
            "r",
        ),
        minter.mint(
            Identity(
                subject="alice", auth="session", email="a@example.com", groups=("g1",), name="A"
            ),
            "aud",
            "r",
        ),
        minter.mint(
            Identity(
                subject="alice",
                auth="session",
                email="b@example.com",
                groups=("g1", "g2"),
                name="A",
            ),
            "aud",
            "r",
        ),
    }
    assert base not in others and len(others) == 4


def test_identity_issuer_is_its_own_claim_and_part_of_the_cache_key() -> None:
    keyset = KeySet.ephemeral()
    minter = AssertionMinter(keyset, ISSUER, clock=Clock())
    one = Identity(subject="alice", auth="bearer", issuer="https://idp-one.test")
    two = Identity(subject="alice", auth="bearer", issuer="https://idp-two.test")
    token_one, token_two = minter.mint(one, "aud", "r"), minter.mint(two, "aud", "r")
    assert token_one != token_two  # the same sub at two IdPs is two callers
    claims = decode(keyset, token_one)
    assert claims[wire.CLAIM_IDENTITY_ISSUER] == "https://idp-one.test"
    assert claims["iss"] == ISSUER and claims["auth"] == "bearer"  # iss is the proxy


def test_cache_is_bounded() -> None:
    clock = Clock()
    minter = AssertionMinter(KeySet.ephemeral(), ISSUER, clock=clock, max_entries=2)
    first = minter.mint(ALICE, "a1", "r")
    minter.mint(ALICE, "a2", "r")
    minter.mint(ALICE, "a3", "r")  # evicts a1 (least recently used)
    assert minter.mint(ALICE, "a1", "r") != first


def test_per_request_carries_rid_and_is_never_reused() -> None:
    keyset = KeySet.ephemeral()
    minter = AssertionMinter(keyset, ISSUER, clock=Clock(), per_request=True)
    one, two = minter.mint(ALICE, "aud", "r1"), minter.mint(ALICE, "aud", "r1")
    assert one != two
    assert decode(keyset, one)["rid"] == "r1"


@pytest.mark.parametrize(("ttl", "reuse_for"), [(61, 30), (60, 60), (0, 0)])
def test_lifetime_limits(ttl: int, reuse_for: int) -> None:
    with pytest.raises(ValueError):
        AssertionMinter(KeySet.ephemeral(), ISSUER, ttl=ttl, reuse_for=reuse_for)
