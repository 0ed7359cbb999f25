"""The header trust boundary end to end: what a backend behind a real proxy receives.

Every spelling (case, ``_`` for ``-``) of the forwarding, client-address and
override headers is sent, once from a peer outside ``trusted_proxies`` and once
from a trusted one; the demo backend echoes what arrived.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.harness import Proxy, public_route, run_backend, run_proxy
from tests.unit.test_headers import FORWARDING, OVERRIDES, PROXY_WRITES

TIMEOUT = httpx.Timeout(10.0)
FAMILY = {n.decode() for n in FORWARDING + OVERRIDES}
WRITTEN = {n.decode() for n in PROXY_WRITES}  # X-Forwarded-For/-Proto/-Host


@dataclass
class Pair:
    untrusted: Proxy
    trusted: Proxy


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    with run_backend() as backend:
        routes = [public_route("api", backend, "/api/")]
        untrusted = {"trusted_proxies": [], "routes": routes}
        trusted = {"trusted_proxies": ["127.0.0.1/32"], "routes": routes}
        with (
            run_proxy(tmp_path_factory.mktemp("untrusted"), untrusted) as u,
            run_proxy(tmp_path_factory.mktemp("trusted"), trusted) as t,
        ):
            yield Pair(u, t)


def every_spelling(value: str) -> list[tuple[str, str]]:
    """Each name as Title-Case, lower, UPPER and with "_" for "-"."""
    out = []
    for name in sorted(FAMILY):
        title = "-".join(part.capitalize() for part in name.split("-"))
        for spelling in {
            title,
            name,
            name.upper(),
            title.replace("-", "_"),
            name.replace("-", "_"),
        }:
            out.append((spelling, value))
    return out


def received(proxy: Proxy, headers: list[tuple[str, str]]) -> dict[str, list[str]]:
    r = httpx.get(f"{proxy.url}/api/echo", headers=headers, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    grouped: dict[str, list[str]] = {}
    for name, value in r.json()["headers"]:
        grouped.setdefault(name, []).append(value)
    return grouped


def family_names(headers: dict[str, list[str]]) -> set[str]:
    return {name for name in headers if name.lower().replace("_", "-") in FAMILY}


def test_untrusted_peer_gets_none_of_its_spellings_through(pair: Pair) -> None:
    sent = every_spelling("6.6.6.6")
    assert len(sent) > 4 * len(FAMILY)
    got = received(pair.untrusted, [*sent, ("Host", "app.example")])
    # Only the three the proxy writes, each once and with the proxy's own values.
    assert family_names(got) == WRITTEN
    assert got["x-forwarded-for"] == ["127.0.0.1"]
    assert got["x-forwarded-proto"] == ["http"]
    assert got["x-forwarded-host"] == ["app.example"]
    assert not [v for values in got.values() for v in values if "6.6.6.6" in v]


def test_trusted_peer_sets_for_proto_host_and_nothing_else(pair: Pair) -> None:
    sent = [(n, v) for n, v in every_spelling("203.0.113.9") if n.lower() not in WRITTEN]
    sent += [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "front.example"),
        ("Host", "app.example"),
    ]
    got = received(pair.trusted, sent)
    # No other forwarding header, and no override: even a trusted front proxy cannot
    # make the backend serve another method or path than the one judged and signed.
    assert family_names(got) == WRITTEN
    assert got["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"]  # extended with the peer
    assert got["x-forwarded-proto"] == ["https"]
    assert got["x-forwarded-host"] == ["front.example"]


def test_a_trusted_balancers_scheme_is_the_clients(pair: Pair) -> None:
    # TLS ended at the balancer: the client's :443 is its scheme's default port.
    https = [("X-Forwarded-Proto", "https"), ("Host", "app.example:443")]
    got = received(pair.trusted, https)
    assert got["x-forwarded-proto"] == ["https"]
    assert got["host"] == ["app.example"]
    # Anything but http or https is no scheme: the connection's stands.
    odd = [("X-Forwarded-Proto", "javascript"), ("Host", "app.example")]
    assert received(pair.trusted, odd)["x-forwarded-proto"] == ["http"]
    # From anyone else the header is dropped and the port is not a default one.
    got = received(pair.untrusted, https)
    assert got["x-forwarded-proto"] == ["http"]
    assert got["host"] == ["app.example:443"]
