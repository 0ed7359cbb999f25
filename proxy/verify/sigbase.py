"""RFC 9421 on the receiving side: parse our signature and rebuild its base.

``parse_signature`` reads the ``edgeward`` members of Signature-Input and
Signature (RFC 9421 §4.1, §4.2) into a typed ``ParsedSignature``;
``signature_base`` rebuilds the exact bytes that were signed (§2.5) from the
request as it ARRIVED, so any change on the way invalidates the signature.
Only plain component names are accepted (no ``;sf``, ``;key``, ``;bs``): the
proxy never sends them, and every extra feature is attack surface.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList

from proxy import wire
from proxy.verify.errors import VerificationError

_STRING_PARAMS = ("nonce", "keyid", "alg", "tag")
_INT_PARAMS = ("created", "expires")


@dataclass(frozen=True, slots=True)
class ParsedSignature:
    """The ``edgeward`` signature of a request, parameters typed."""

    components: tuple[str, ...]
    created: int
    expires: int
    nonce: str
    keyid: str
    alg: str | None
    tag: str
    params_value: str  # canonical serialisation, the @signature-params value (§2.3)
    signature: bytes


def combined_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Field values by lowercase name; repeated lines joined with ", " (RFC 9421 §2.1)."""
    combined: dict[str, str] = {}
    for name, raw in headers:
        key = name.lower()
        value = raw.strip(" \t")
        combined[key] = f"{combined[key]}, {value}" if key in combined else value
    return combined


def parse_signature(fields: Mapping[str, str]) -> ParsedSignature:
    """Read the ``edgeward`` member of Signature-Input / Signature."""
    sig_input = fields.get(wire.SIGNATURE_INPUT_HEADER)
    signature = fields.get(wire.SIGNATURE_HEADER)
    if sig_input is None or signature is None:
        raise VerificationError("missing_signature")
    components, params, params_value, sig_bytes = parse_fast(sig_input, signature) or parse_general(
        sig_input, signature
    )
    _check_params(params)
    alg = params.get("alg")
    return ParsedSignature(
        components=components,
        created=cast(int, params["created"]),  # types checked by _check_params
        expires=cast(int, params["expires"]),
        nonce=str(params["nonce"]),
        keyid=str(params["keyid"]),
        alg=None if alg is None else str(alg),
        tag=str(params["tag"]),
        params_value=params_value,
        signature=sig_bytes,
    )


_Parsed = tuple[tuple[str, ...], dict[str, object], str, bytes]

# Fast path for the canonical form the proxy sends (one label, plain component
# names, no escapes, no leading zeros): then the received text IS the canonical
# serialisation and no structured-field round trip is needed. Anything else
# takes the general RFC 8941 parser below, so both paths accept the same inputs.
_FAST_INPUT = re.compile(
    re.escape(wire.SIGNATURE_LABEL)
    + r'=((\((?:"[a-z0-9@._-]+"(?: "[a-z0-9@._-]+")*)?\))'  # 1: member, 2: inner list
    r'((?:;[a-z][a-z0-9_-]*=(?:0|-?[1-9][0-9]{0,14}|"[\x20\x21\x23-\x5b\x5d-\x7e]*"))*))'  # 3
)
_FAST_PARAM = re.compile(r';([a-z][a-z0-9_-]*)=(?:([-0-9]+)|"([^"]*)")')
_FAST_SIGNATURE = re.compile(re.escape(wire.SIGNATURE_LABEL) + r"=:([A-Za-z0-9+/]+={0,2}):")


def parse_fast(sig_input: str, signature: str) -> _Parsed | None:
    """The canonical form Edgeward signs, by regex; None sends the input to parse_general.

    Public so tests can check it agrees with the RFC 8941 parser on every input it accepts.
    """
    match, sig_match = _FAST_INPUT.fullmatch(sig_input), _FAST_SIGNATURE.fullmatch(signature)
    if match is None or sig_match is None:
        return None
    found = _FAST_PARAM.findall(match[3])
    params: dict[str, object] = {k: int(i) if i else v for k, i, v in found}
    if len(params) != len(found):  # a repeated parameter: let the general parser decide
        return None
    try:
        sig_bytes = base64.b64decode(sig_match[1], validate=True)
    except ValueError:
        return None
    components = tuple(c[1:-1] for c in match[2][1:-1].split(" ") if c)
    _check_components(components)
    return components, params, match[1], sig_bytes


def parse_general(sig_input: str, signature: str) -> _Parsed:
    """Any RFC 8941 dictionary pair (RFC 9421 section 4.1, 4.2): the reference parse_fast meets."""
    inputs = _dictionary(sig_input)
    values = _dictionary(signature)
    if wire.SIGNATURE_LABEL not in inputs or wire.SIGNATURE_LABEL not in values:
        raise VerificationError("missing_signature")
    member = inputs[wire.SIGNATURE_LABEL]
    sig_item = values[wire.SIGNATURE_LABEL]
    if not isinstance(member, InnerList) or not isinstance(sig_item.value, bytes):
        raise VerificationError("malformed_signature")
    return _components(member), dict(member.params), str(member), sig_item.value


def signature_base(sig: ParsedSignature, values: Mapping[str, str]) -> bytes:
    """The signature base (§2.5): one line per component, then @signature-params."""
    lines = []
    for name in sig.components:
        value = values.get(name)
        if value is None:
            raise VerificationError("missing_component")
        if "\n" in value or "\r" in value:
            raise VerificationError("malformed_signature")
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {sig.params_value}')
    try:
        return "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:  # §2.5: the base is ASCII
        raise VerificationError("malformed_signature") from exc


def _dictionary(value: str) -> Dictionary:
    parsed = Dictionary()
    try:
        parsed.parse(value.encode("latin-1"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise VerificationError("malformed_signature") from exc
    return parsed


def _components(member: InnerList) -> tuple[str, ...]:
    names = []
    for item in member:
        if not isinstance(item.value, str) or item.params:
            raise VerificationError("malformed_signature")
        names.append(item.value)
    _check_components(tuple(names))
    return tuple(names)


def _check_components(names: tuple[str, ...]) -> None:
    if any(n != n.lower() for n in names):  # §2.1: field names are lowercased
        raise VerificationError("malformed_signature")
    if len(set(names)) != len(names):  # §2.5: each component at most once
        raise VerificationError("malformed_signature")


def _check_params(params: dict[str, object]) -> None:
    if set(params) - {*_STRING_PARAMS, *_INT_PARAMS}:
        raise VerificationError("malformed_signature")
    for name in ("created", "expires", "nonce", "keyid", "tag"):
        if name not in params:  # all required by the Edgeward contract
            raise VerificationError("malformed_signature")
    for name in _INT_PARAMS:
        if type(params[name]) is not int:
            raise VerificationError("malformed_signature")
    for name in _STRING_PARAMS:
        if name in params and not isinstance(params[name], str):
            raise VerificationError("malformed_signature")
