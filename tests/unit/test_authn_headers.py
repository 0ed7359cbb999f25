"""Credentials from raw ASGI headers, and RFC 6750 challenges."""

from __future__ import annotations

import pytest

from proxy.authn.bearer import extract_bearer
from proxy.authn.errors import AuthError, BadSignature, InvalidRequest, bearer_challenge
from proxy.authn.service_tokens import extract_client_credentials


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        ([(b"authorization", b"Bearer abc.def.ghi")], "abc.def.ghi"),
        ([(b"Authorization", b"bearer abc")], "abc"),
        ([(b"authorization", b"BEARER   abc  ")], "abc"),
        ([(b"authorization", b"Basic dXNlcjpwYXNz")], None),
        ([(b"cookie", b"access_token=abc")], None),
    ],
)
def test_extract_bearer(headers: list[tuple[bytes, bytes]], token: str | None) -> None:
    assert extract_bearer(headers) == token


def test_two_authorization_headers_are_invalid_request() -> None:
    headers = [(b"authorization", b"Bearer a"), (b"Authorization", b"Bearer b")]
    with pytest.raises(AuthError) as exc:
        extract_bearer(headers)
    assert exc.value.code == "multiple_authorization_headers"
    assert exc.value.status == 400
    assert 'error="invalid_request"' in exc.value.www_authenticate("edgeward")


@pytest.mark.parametrize("value", [b"Bearer", b"Bearer ", b"Bearer a b", b'Bearer a"b'])
def test_bearer_without_a_usable_token(value: bytes) -> None:
    with pytest.raises(AuthError) as exc:
        extract_bearer([(b"authorization", value)])
    assert exc.value.code == "malformed_token"


def test_www_authenticate_escapes() -> None:
    error = BadSignature('bad "sig" \\ here\r\n')
    value = error.www_authenticate('my "realm"')
    assert value == (
        'Bearer realm="my \\"realm\\"", error="invalid_token", '
        "error_description=\"bad 'sig' / here\""
    )


def test_challenge_without_error() -> None:
    # RFC 6750 §3.1: no error code when the request carried no credentials.
    assert bearer_challenge("edgeward") == 'Bearer realm="edgeward"'


def test_client_credentials_headers() -> None:
    creds = extract_client_credentials(
        [(b"edgeward-client-id", b"ci-bot"), (b"Edgeward-Client-Secret", b"s3cret")]
    )
    assert creds is not None and (creds.client_id, creds.secret) == ("ci-bot", "s3cret")
    assert extract_client_credentials([(b"authorization", b"Bearer x")]) is None


@pytest.mark.parametrize(
    "headers",
    [
        [(b"edgeward-client-id", b"ci-bot")],
        [(b"edgeward-client-secret", b"s")],
        [
            (b"edgeward-client-id", b"a"),
            (b"edgeward-client-id", b"b"),
            (b"edgeward-client-secret", b"s"),
        ],
        [(b"edgeward-client-id", b"\xff"), (b"edgeward-client-secret", b"s")],
    ],
)
def test_incomplete_client_credentials(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(InvalidRequest):
        extract_client_credentials(headers)
