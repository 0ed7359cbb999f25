"""The identity headers and @authority on the wire: one encoding, signer to verifier.

Values go through the real signer (``proxy.sign.identity_fields``, ``RequestSigner``,
``AssertionMinter``) and the real ``proxy.verify.Verifier``; header values are read
back with an independent RFC 8941 parser (``http_sfv``) and ``urllib``'s
percent-decoder, so the format is checked against the standards, not against itself.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from http_sfv import List

from proxy import wire
from proxy.identity import Identity
from proxy.sign import identity_fields
from proxy.signing import AssertionMinter, KeySet, RequestSigner
from proxy.verify import VerificationError, Verifier

ISSUER = "https://proxy.test"
AUDIENCE = "http://backend.test:9000"
IDP = "https://idp.test/tenants/a%20b"
NOW = 1_700_000_000.0

TRICKY_GROUPS = (
    "users,admins",
    'say "hi"',
    "back\\slash",
    "café",
    "100%",
    "%41",
    " padded ",
    "tab\there",
    "",
)
TRICKY = [
    Identity(subject="alice", auth="bearer", groups=("users", "admins"), issuer=IDP),
    Identity(subject="bob", auth="bearer", groups=TRICKY_GROUPS, issuer=IDP),
    Identity(subject="a%41", auth="bearer", email="100%@example.com", issuer=IDP),
    Identity(subject="jürgen ", auth="bearer", email="jü@exämple.com", groups=("ö",)),
    Identity(subject="service:ci-bot", auth="service_token", groups=("deployers",), issuer=ISSUER),
]


def clock() -> float:
    return NOW


def sfv_strings(value: str) -> list[str]:
    """An RFC 8941 List of Strings, read by an independent parser, percent-decoded."""
    parsed = List()
    parsed.parse(value.encode("ascii"))
    assert all(isinstance(item.value, str) and not item.params for item in parsed)
    return [unquote(item.value, errors="strict") for item in parsed]


@pytest.fixture
def keyset() -> KeySet:
    return KeySet.ephemeral()


@pytest.fixture
def verifier(tmp_path: Path, keyset: KeySet) -> Verifier:
    jwks = tmp_path / "jwks.json"
    jwks.write_bytes(keyset.jwks_document())
    return Verifier(issuer=ISSUER, audience=AUDIENCE, key_file=str(jwks), clock=clock)


def forward(
    keyset: KeySet,
    identity: Identity,
    *,
    fields: dict[str, str] | None = None,
    host: str = "backend.test:9000",
    scheme: str = "http",
) -> list[tuple[str, str]]:
    """The headers the proxy adds for ``identity`` on a route with identity headers."""
    sent = {
        wire.REQUEST_ID_HEADER: "rid-1",
        wire.ASSERTION_HEADER: AssertionMinter(keyset, ISSUER, clock=clock).mint(
            identity, AUDIENCE, "rid-1"
        ),
        **(identity_fields(identity) if fields is None else fields),
    }
    signature = RequestSigner(keyset.signing, clock=clock).sign(
        "GET", host, "/x", "?", sent, public=False, body_covered=None, scheme=scheme
    )
    return [("host", host), *sent.items(), *[(k.decode(), v.decode()) for k, v in signature]]


async def verify(
    verifier: Verifier, headers: list[tuple[str, str]], *, scheme: str = "http"
) -> Identity | None:
    host = next(v for k, v in headers if k == "host")
    return await verifier.verify("GET", host, "/x", "?", headers, None, scheme=scheme)


# --- the encoding --------------------------------------------------------------------


def test_a_comma_inside_a_group_is_not_a_second_group() -> None:
    one = identity_fields(Identity(subject="u", auth="bearer", groups=("users,admins",)))
    two = identity_fields(Identity(subject="u", auth="bearer", groups=("users", "admins")))
    assert one[wire.GROUPS_HEADER] != two[wire.GROUPS_HEADER]
    assert sfv_strings(one[wire.GROUPS_HEADER]) == ["users,admins"]
    assert sfv_strings(two[wire.GROUPS_HEADER]) == ["users", "admins"]


@pytest.mark.parametrize(("a", "b"), [("a%41", "aA"), ("é%41", "éA"), (" alice", "alice")])
def test_percent_and_space_are_encoded_so_values_never_collide(a: str, b: str) -> None:
    fields_a = identity_fields(Identity(subject=a, auth="bearer", email=a, groups=(a,)))
    fields_b = identity_fields(Identity(subject=b, auth="bearer", email=b, groups=(b,)))
    for name in (wire.USER_HEADER, wire.EMAIL_HEADER, wire.GROUPS_HEADER):
        assert fields_a[name] != fields_b[name]
    assert unquote(fields_a[wire.USER_HEADER], errors="strict") == a


@pytest.mark.parametrize("identity", TRICKY, ids=lambda i: i.subject)
def test_every_value_reads_back_with_standard_parsers(identity: Identity) -> None:
    fields = identity_fields(identity)
    assert all(v.isascii() and v.isprintable() for v in fields.values())
    assert unquote(fields[wire.USER_HEADER], errors="strict") == identity.subject
    assert fields[wire.AUTH_HEADER] == identity.auth
    if identity.email:
        assert unquote(fields[wire.EMAIL_HEADER], errors="strict") == identity.email
    if identity.groups:
        assert sfv_strings(fields[wire.GROUPS_HEADER]) == list(identity.groups)
        assert wire.decode_list(fields[wire.GROUPS_HEADER]) == identity.groups
    if identity.issuer:
        assert unquote(fields[wire.ISSUER_HEADER], errors="strict") == identity.issuer
        assert wire.decode_text(fields[wire.ISSUER_HEADER]) == identity.issuer
    assert wire.decode_text(fields[wire.USER_HEADER]) == identity.subject
    assert list(fields) == [h for h in wire.IDENTITY_HEADERS if h in fields]  # signing order


def test_groups_serialise_as_http_sfv_does() -> None:
    value = identity_fields(Identity(subject="u", auth="bearer", groups=TRICKY_GROUPS))[
        wire.GROUPS_HEADER
    ]
    parsed = List()
    parsed.parse(value.encode("ascii"))
    assert str(parsed) == value  # our serialisation is the canonical RFC 8941 one


@pytest.mark.parametrize("value", ['"a%4"', '"%c3%a9"', '"a b%20"', '"%41"', '"a",', '"a";x=1'])
def test_decoders_refuse_what_the_encoder_never_produces(value: str) -> None:
    with pytest.raises(ValueError):
        wire.decode_list(value)


# --- signer to verifier --------------------------------------------------------------


@pytest.mark.parametrize("identity", TRICKY, ids=lambda i: i.subject)
async def test_round_trip_through_the_verifier(
    keyset: KeySet, verifier: Verifier, identity: Identity
) -> None:
    headers = forward(keyset, identity)
    covered = next(v for k, v in headers if k == wire.SIGNATURE_INPUT_HEADER)
    assert all(f'"{h}"' in covered for h in identity_fields(identity))
    got = await verify(verifier, headers)
    assert got is not None
    assert (got.subject, got.auth, got.email, got.groups, got.issuer) == (
        identity.subject,
        identity.auth,
        identity.email,
        identity.groups,
        identity.issuer,
    )


async def test_auth_and_issuer_headers_are_signed(keyset: KeySet, verifier: Verifier) -> None:
    identity = TRICKY[-1]
    headers = forward(keyset, identity)
    for name, forged in ((wire.AUTH_HEADER, "bearer"), (wire.ISSUER_HEADER, "https://evil")):
        tampered = [(k, forged if k == name else v) for k, v in headers]
        with pytest.raises(VerificationError) as caught:
            await verify(verifier, tampered)
        assert caught.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (wire.GROUPS_HEADER, '"users", "admins", "root"'),
        (wire.USER_HEADER, "mallory"),
        (wire.AUTH_HEADER, "service_token"),
        (wire.ISSUER_HEADER, "https%3A//idp.test"),
    ],
)
async def test_identity_headers_must_say_what_the_assertion_says(
    keyset: KeySet, verifier: Verifier, header: str, value: str
) -> None:
    # Signed, but disagreeing with the signed assertion: a handler reading the headers
    # would see someone other than the Identity the verifier returns.
    fields = {**identity_fields(TRICKY[0]), header: value}
    with pytest.raises(VerificationError) as caught:
        await verify(verifier, forward(keyset, TRICKY[0], fields=fields))
    assert caught.value.code == "identity_mismatch"


async def test_bearer_sub_that_looks_like_a_service_token_is_told_apart(
    keyset: KeySet, verifier: Verifier
) -> None:
    bearer = Identity(subject="service:ci-bot", auth="bearer", groups=("deployers",), issuer=IDP)
    service = TRICKY[-1]  # the service token ci-bot, issued by the proxy itself
    as_bearer, as_service = identity_fields(bearer), identity_fields(service)
    assert as_bearer[wire.USER_HEADER] == as_service[wire.USER_HEADER]  # same subject...
    assert as_bearer[wire.AUTH_HEADER] != as_service[wire.AUTH_HEADER]  # ...told apart
    assert as_bearer[wire.ISSUER_HEADER] != as_service[wire.ISSUER_HEADER]
    got_bearer = await verify(verifier, forward(keyset, bearer))
    got_service = await verify(verifier, forward(keyset, service))
    assert got_bearer is not None and got_service is not None
    assert (got_bearer.auth, got_bearer.issuer) == ("bearer", IDP)
    assert (got_service.auth, got_service.issuer) == ("service_token", ISSUER)


# --- @authority -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authority", "scheme", "expected"),
    [
        ("EXAMPLE.test:80", "http", "example.test"),
        ("example.test:443", "https", "example.test"),
        ("example.test:443", "http", "example.test:443"),
        ("example.test:80", "https", "example.test:80"),
        ("Example.Test:", "http", "example.test"),
        ("example.test:8080", "http", "example.test:8080"),
        ("[::1]:80", "http", "[::1]"),
        ("[::1]:80", "ws", "[::1]"),
        ("[::1]:443", "wss", "[::1]"),
        ("[::1]", "http", "[::1]"),
        ("[FE80::1]:8443", "https", "[fe80::1]:8443"),
        ("backend.test:9000", "http", "backend.test:9000"),
    ],
)
def test_authority_normalisation(authority: str, scheme: str, expected: str) -> None:
    assert wire.normalize_authority(authority, scheme) == expected


@pytest.mark.parametrize(
    ("host", "scheme"),
    [
        ("EXAMPLE.test:80", "http"),
        ("Example.TEST:443", "https"),
        ("example.test:443", "http"),
        ("[::1]:80", "http"),
        ("[::1]", "https"),
    ],
)
async def test_signer_and_verifier_agree_on_authority(
    keyset: KeySet, verifier: Verifier, host: str, scheme: str
) -> None:
    headers = forward(keyset, TRICKY[0], host=host, scheme=scheme)
    assert await verify(verifier, headers, scheme=scheme) is not None


async def test_authority_is_signed_with_the_backend_connection_scheme(
    keyset: KeySet, verifier: Verifier
) -> None:
    # Signed for an http hop, received on https: ":443" means something else there.
    headers = forward(keyset, TRICKY[0], host="example.test:443", scheme="http")
    with pytest.raises(VerificationError) as caught:
        await verify(verifier, headers, scheme="https")
    assert caught.value.code == "bad_signature"
