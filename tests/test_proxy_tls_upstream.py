"""An https upstream through the real proxy: verified by default, trusted via ca_file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import public_route, run_proxy
from tests.support import serve_asgi
from tests.test_upstream_servers import Authority, make_authority
from tests.test_upstream_tls import hello_app

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
