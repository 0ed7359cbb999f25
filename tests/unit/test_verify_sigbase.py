"""Signature parsing: the canonical fast path agrees with the general RFC 8941 parser."""

from __future__ import annotations

import pytest

from proxy import wire
from proxy.signing import KeySet, RequestSigner
from proxy.verify import VerificationError
from proxy.verify.sigbase import parse_fast, parse_general, parse_signature

SIG = "edgeward=:AAECAwQ=:"
CANONICAL = (
    'edgeward=("@method" "@path");created=1700000000;expires=1700000030;nonce="n1";'
    'keyid="k";alg="ed25519";tag="edgeward"'
)


def ours() -> str:
    pairs = RequestSigner(KeySet.ephemeral().signing).sign(
        "GET", "a", "/", "?", {wire.REQUEST_ID_HEADER: "r"}, public=True, body_covered=None
    )
    return pairs[0][1].decode()


def test_our_signatures_take_the_fast_path() -> None:
    value = ours()
    assert parse_fast(value, SIG) is not None
    assert parse_fast(value, SIG) == parse_general(value, SIG)


@pytest.mark.parametrize(
    "value",
    [
        CANONICAL,
        CANONICAL.replace("created=1700000000", "created=01700000000"),  # leading zero
        CANONICAL.replace('nonce="n1"', 'nonce="n\\"1"'),  # escaped quote
        CANONICAL + ';nonce="n2"',  # repeated parameter: the last wins in RFC 8941
        'other=("@method");created=1, ' + CANONICAL,  # a second label
        CANONICAL.replace('keyid="k"', 'keyid=""'),
    ],
)
def test_both_parsers_agree(value: str) -> None:
    fast = parse_fast(value, SIG)
    assert fast is None or fast == parse_general(value, SIG)
    fields = {wire.SIGNATURE_INPUT_HEADER: value, wire.SIGNATURE_HEADER: SIG}
    assert parse_signature(fields).params_value == parse_general(value, SIG)[2]


@pytest.mark.parametrize(
    "value",
    [
        CANONICAL.replace('"@path"', '"@Path"'),  # components are lowercase
        CANONICAL.replace('"@path"', '"@method"'),  # repeated component
        CANONICAL.replace('"@path"', '"x";sf'),  # component parameters are not used
        CANONICAL.replace("created=1700000000", 'created="1700000000"'),  # wrong type
        CANONICAL.replace(';keyid="k"', ""),  # keyid required
        CANONICAL + ";bogus=1",  # unknown parameter
        CANONICAL.replace("(", "", 1),  # not an inner list
        CANONICAL.replace(";created", " ;created"),  # no whitespace before parameters
    ],
)
def test_malformed_inputs_refused(value: str) -> None:
    fields = {wire.SIGNATURE_INPUT_HEADER: value, wire.SIGNATURE_HEADER: SIG}
    with pytest.raises(VerificationError) as caught:
        parse_signature(fields)
    assert caught.value.code in {"malformed_signature", "missing_signature"}
