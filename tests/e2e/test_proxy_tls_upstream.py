"""An https upstream through the real proxy: verified by default, trusted via ca_file."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.signing import generate_key
from proxy.verify import Verifier, VerifyMiddleware
from tests.harness import Authority, free_port, make_authority, public_route, run_proxy, serve_asgi
from tests.unit.test_upstream_tls import hello_app

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(Path(tmp_path_factory.mktemp("ca")))


@pytest.fixture(scope="module")
def upstream(authority: Authority) -> Iterator[str]:
    with serve_asgi(
        hello_app, ssl_certfile=str(authority.cert_file), ssl_keyfile=str(authority.key_file)
    ) as url:
        yield url.replace("http://", "https://")


def test_untrusted_upstream_certificate_is_502(upstream: str, tmp_path: Path) -> None:
    with run_proxy(tmp_path, {"routes": [public_route("tls", upstream)]}) as proxy:
        r = httpx.get(f"{proxy.url}/x", timeout=TIMEOUT)
    assert r.status_code == 502


def test_ca_file_makes_the_upstream_trusted(
    upstream: str, authority: Authority, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(authority.ca_pem)
    config = {"upstream": {"ca_file": str(ca)}, "routes": [public_route("tls", upstream)]}
    with run_proxy(tmp_path, config) as proxy:
        r = httpx.get(f"{proxy.url}/x", timeout=TIMEOUT)
    # The upstream saw TLS (else the handshake above fails); its scheme reads
    # X-Forwarded-Proto, which says how the client reached the proxy: http.
    assert r.status_code == 200 and r.text.startswith("secure")


@pytest.mark.parametrize("proxy_headers", [False, True])
def test_default_https_port_in_host_verifies_at_an_https_backend(
    authority: Authority, tmp_path: Path, proxy_headers: bool
) -> None:
    # The client reaches the proxy over http with "Host: EXAMPLE.test:443"; the backend is
    # reached over https, so for it :443 is the default port -- unless its server takes
    # the scheme from X-Forwarded-Proto (uvicorn's proxy_headers), which says http.
    key = tmp_path / "signing.jwk"
    key.write_text(json.dumps(generate_key("EdDSA")))
    ca = tmp_path / "ca.pem"
    ca.write_bytes(authority.ca_pem)
    proxy_port, backend_port = free_port(), free_port()
    backend = f"https://127.0.0.1:{backend_port}"
    verifier = Verifier(
        issuer=f"http://127.0.0.1:{proxy_port}", audience=backend, key_file=str(key)
    )
    config = {
        "upstream": {"ca_file": str(ca)},
        "signing": {"key_files": [str(key)]},
        "routes": [public_route("tls", backend)],
    }
    with (
        serve_asgi(
            VerifyMiddleware(hello_app, verifier),
            port=backend_port,
            ssl_certfile=str(authority.cert_file),
            ssl_keyfile=str(authority.key_file),
            proxy_headers=proxy_headers,
            forwarded_allow_ips="127.0.0.1",
        ),
        run_proxy(tmp_path, config, port=proxy_port) as proxy,
    ):
        r = httpx.get(f"{proxy.url}/x", headers={"host": "EXAMPLE.test:443"}, timeout=TIMEOUT)
        trust = ssl.create_default_context(cafile=str(ca))
        unsigned = httpx.get(f"{backend}/x", verify=trust, timeout=TIMEOUT)
    assert r.status_code == 200, r.text  # the backend verified @authority "example.test"
    assert r.text == f"secure {'http' if proxy_headers else 'https'}"  # the scheme it believed
    assert unsigned.status_code == 401  # the backend does verify
