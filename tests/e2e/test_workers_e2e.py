"""``edgeward run --workers 2`` as a real process: both workers serve, and the metrics
and access lines of the two add up exactly.

The ``worker`` field of each access line tells the workers apart; all of them sign
with one key (made for the run when ``signing.key_files`` is not set).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.test_observability import access_lines, sample, scrape
from tests.harness import Proxy, public_route, run_backend, run_proxy

TIMEOUT = httpx.Timeout(10.0)
MAX_REQUESTS = 200
KEYID = re.compile(r';keyid="([^"]+)"')


@dataclass(frozen=True)
class Served:
    """One request answered by some worker: its request id, worker and signing key id."""

    request_id: str
    worker: int
    keyid: str


def echo_fresh(proxy: Proxy) -> Served:
    """GET /api/echo over a new connection (so the kernel may pick either worker)."""
    r = httpx.get(f"{proxy.url}/api/echo", headers={"connection": "close"}, timeout=TIMEOUT)
    assert r.status_code == 200
    signature_input = next(v for k, v in r.json()["headers"] if k == "signature-input")
    match = KEYID.search(signature_input)
    assert match is not None, signature_input
    rid = r.headers["x-request-id"]
    line = proxy.wait_for_line(lambda line: line.get("request_id") == rid)
    return Served(rid, int(line["worker"]), match.group(1))


def until_both_workers(proxy: Proxy, minimum: int = 30) -> list[Served]:
    """At least ``minimum`` requests, more until two workers answered (bounded)."""
    served: list[Served] = []
    while len(served) < MAX_REQUESTS and (
        len(served) < minimum or len({s.worker for s in served}) < 2
    ):
        served.append(echo_fresh(proxy))
    return served


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    with run_backend() as backend:
        config = {
            "routes": [
                public_route("down", "http://127.0.0.1:1", "/down/"),
                public_route("api", backend, "/api/"),
            ]
        }
        with run_proxy(tmp_path_factory.mktemp("workers"), config, workers=2) as p:
            yield p


def test_request_totals_are_exact_across_two_workers(proxy: Proxy) -> None:
    before = scrape(proxy.admin)
    served = until_both_workers(proxy)
    after = scrape(proxy.admin)

    assert {s.worker for s in served} == {1, 2}, "one worker served everything"
    n = len(served)
    labels = {"method": "GET", "route": "api", "status": "200", "le": "+Inf"}
    bucket = "http_server_request_duration_seconds_bucket"
    assert sample(after, bucket, **labels) == sample(before, bucket, **labels) + n
    counter = "edgeward_requests_total"
    assert sample(after, counter, route="api", status="200") == (
        sample(before, counter, route="api", status="200") + n
    )


def test_upstream_errors_are_exact_across_two_workers(proxy: Proxy) -> None:
    name = "edgeward_upstream_errors_total"
    before = sample(scrape(proxy.admin), name, route="down", kind="connect")
    for _ in range(20):
        r = httpx.get(f"{proxy.url}/down/x", headers={"connection": "close"}, timeout=TIMEOUT)
        assert r.status_code == 502
    assert sample(scrape(proxy.admin), name, route="down", kind="connect") == before + 20


def test_each_request_has_exactly_one_access_line(proxy: Proxy) -> None:
    served = until_both_workers(proxy, minimum=10)
    last = served[-1].request_id
    proxy.wait_for_line(lambda line: line.get("request_id") == last)
    for s in served:
        assert len(access_lines(proxy, s.request_id)) == 1, s


def test_every_worker_publishes_every_signing_key(proxy: Proxy) -> None:
    used = {s.keyid for s in until_both_workers(proxy)}
    for _ in range(10):
        r = httpx.get(
            f"{proxy.url}/.edgeward/jwks.json", headers={"connection": "close"}, timeout=TIMEOUT
        )
        published = {key["kid"] for key in r.json()["keys"]}
        assert used <= published
