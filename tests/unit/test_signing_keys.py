"""Signing keys: file formats, thumbprint kids, safe writing, the published JWKS."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.signing import (
    KeyFileError,
    KeySet,
    generate_key,
    keys_generate,
    load_key_file,
    write_key,
)
from proxy.verify.jwk import thumbprint, verify_key


def test_thumbprint_matches_rfc_8037_example() -> None:
    # RFC 8037 Appendix A.3.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(("alg", "sig_alg"), [("EdDSA", "ed25519"), ("ES256", "ecdsa-p256-sha256")])
def test_generate_write_load(tmp_path: Path, alg: str, sig_alg: str) -> None:
    out = tmp_path / "key.jwk"
    kid = keys_generate(str(out), alg)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    jwk = json.loads(out.read_text())
    assert jwk["kid"] == kid == thumbprint(jwk) and jwk["alg"] == alg and "d" in jwk
    key = load_key_file(str(out))
    assert (key.kid, key.jose_alg, key.http_sig_alg) == (kid, alg, sig_alg)


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "key.jwk"
    out.write_text("precious")
    with pytest.raises(KeyFileError, match=r"key\.jwk"):
        write_key(str(out), generate_key("EdDSA"))
    assert out.read_text() == "precious"


def test_generate_rejects_unknown_algorithm(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RS256"):
        keys_generate(str(tmp_path / "k"), "RS256")
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_pem_pkcs8_kid_is_thumbprint(tmp_path: Path, alg: str) -> None:
    private = (
        Ed25519PrivateKey.generate() if alg == "EdDSA" else ec.generate_private_key(ec.SECP256R1())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    key = load_key_file(str(path))
    assert key.jose_alg == alg
    assert key.kid == thumbprint(key.public_jwk())


def test_jwk_without_kid_gets_thumbprint(tmp_path: Path) -> None:
    jwk = generate_key("EdDSA")
    del jwk["kid"]
    path = tmp_path / "k.jwk"
    path.write_text(json.dumps(jwk))
    assert load_key_file(str(path)).kid == thumbprint(jwk)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a JWK"),
        (b"{not json", "invalid key"),
        (b'{"kty": "RSA", "n": "x", "e": "AQAB"}', "unsupported key type"),
        (
            b'{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}',
            "not a private key",
        ),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "invalid key"),
    ],
)
def test_invalid_key_file_names_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.jwk"
    path.write_bytes(content)
    with pytest.raises(KeyFileError, match=reason) as caught:
        load_key_file(str(path))
    assert str(path) in str(caught.value) and caught.value.path == str(path)


def test_mismatched_alg_member_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.jwk"
    path.write_text(json.dumps({**generate_key("EdDSA"), "alg": "ES256"}))
    with pytest.raises(KeyFileError, match="alg"):
        load_key_file(str(path))


def test_unreadable_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"missing\.jwk"):
        load_key_file(str(tmp_path / "missing.jwk"))


def test_jwks_document_publishes_public_keys_only(tmp_path: Path) -> None:
    paths = []
    for alg in ("EdDSA", "ES256"):
        path = tmp_path / f"{alg}.jwk"
        write_key(str(path), generate_key(alg))
        paths.append(str(path))
    keyset = KeySet.from_files(paths)
    assert keyset.signing.jose_alg == "EdDSA"  # the first file signs
    document = json.loads(keyset.jwks_document())
    assert [k["kid"] for k in document["keys"]] == [k.kid for k in keyset.keys]
    assert all("d" not in k for k in document["keys"])
    assert {verify_key(k).kid for k in document["keys"]} == {k.kid for k in keyset.keys}


def test_ephemeral_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="proxy.signing.keys"):
        first, second = KeySet.ephemeral(), KeySet.ephemeral()
    assert first.signing.kid != second.signing.kid
    assert "ephemeral" in caplog.text
