"""Config reload on the real proxy process: atomic snapshots, settled files, no restart.

Each test runs its own ``edgeward run`` and rewrites its config file while it
serves; waits are bounded polls on the proxy's own log lines and answers.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.harness import Proxy, eventually, free_port, public_route, run_proxy
from tests.oidc_server import KeyServer, new_key

TIMEOUT = httpx.Timeout(10.0)
WAIT = 15.0  # upper bound on a reload: poll (1 s) + settle (1 s, twice on a change) + load


def current(proxy: Proxy) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(proxy.config_path.read_text())
    return data


def replace(proxy: Proxy, config: Mapping[str, Any] | bytes) -> None:
    """Write the whole file at once (a rename, as deploy tools do)."""
    staged = proxy.config_path.with_suffix(".staged")
    data = config if isinstance(config, bytes) else yaml.safe_dump(dict(config), sort_keys=False)
    staged.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.replace(staged, proxy.config_path)


def messages(proxy: Proxy, text: str) -> list[dict[str, Any]]:
    return [line for line in proxy.lines() if text in str(line.get("message", ""))]


def wait_for(proxy: Proxy, text: str, count: int = 1) -> dict[str, Any]:
    """The ``count``-th log line whose message contains ``text``."""
    found = eventually(lambda: messages(proxy, text)[count - 1 :], WAIT, 0.05, f"{count}. {text!r}")
    return found[0]


def reload_errors(proxy: Proxy) -> str:
    metrics = httpx.get(f"{proxy.admin}/metrics", timeout=TIMEOUT).text
    return next(m for m in metrics.splitlines() if m.startswith("edgeward_config_reload_errors"))


def get(proxy: Proxy, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{proxy.url}{path}", headers=headers, timeout=TIMEOUT)


class Hammer:
    """A client loop on one URL in a thread, bounded by count and time."""

    def __init__(self, url: str, max_requests: int = 20000, max_seconds: float = 30.0) -> None:
        self.url, self.max_requests, self.max_seconds = url, max_requests, max_seconds
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=TIMEOUT) as client:
            while not self.stop.is_set() and len(self.statuses) < self.max_requests:
                if time.monotonic() > deadline:
                    break
                self.statuses.append(client.get(self.url).status_code)

    def __enter__(self) -> Hammer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(WAIT)


def test_a_half_written_file_never_replaces_the_running_config(
    backend: str, tmp_path: Path
) -> None:
    fillers = [public_route(f"filler{i}", backend, f"/filler{i}/") for i in range(24)]
    with run_proxy(tmp_path, {"routes": [*fillers, public_route("api", backend, "/api/")]}) as p:
        settings = {k: v for k, v in current(p).items() if k != "routes"}
        # The first half is a valid config on its own whose routes lack /api/: a
        # reload that read it would answer 404 there until the rest arrived.
        head = yaml.safe_dump({**settings, "routes": fillers}, sort_keys=False).encode()
        tail = yaml.safe_dump(
            [public_route("api", backend, "/api/"), public_route("new", backend, "/public/")]
        ).encode()
        pad = len(head) - len(tail) - len(b"# \n")
        assert pad >= 0
        tail += b"# " + b"x" * pad + b"\n"
        assert len(head) == len(tail)
        with Hammer(f"{p.url}/api/hello") as hammer:
            while len(hammer.statuses) < 20:  # the loop is under way
                assert hammer.thread.is_alive()
                time.sleep(0.01)
            with p.config_path.open("wb") as f:  # truncate
                f.write(head)
                f.flush()
                p.proc.send_signal(signal.SIGHUP)  # a reload asked for mid-write
                time.sleep(0.5)  # the writer's pause, not an assertion
                f.write(tail)
            wait_for(p, "config reloaded")
            assert get(p, "/public/hello").status_code == 200  # the whole file was applied
            during = len(hammer.statuses)
        assert hammer.statuses.count(200) == len(hammer.statuses), set(hammer.statuses)
        assert during > 40
        assert messages(p, "reload refused") == []
        assert reload_errors(p) == "edgeward_config_reload_errors_total 0.0"


def test_an_empty_file_or_one_without_routes_is_refused(backend: str, tmp_path: Path) -> None:
    with run_proxy(tmp_path, {"routes": [public_route("api", backend, "/api/")]}) as p:
        original = current(p)
        replace(p, b"")
        assert "is empty" in wait_for(p, "reload refused")["message"]
        assert get(p, "/api/hello").status_code == 200
        replace(p, {k: v for k, v in original.items() if k != "routes"})
        refused = wait_for(p, "reload refused", 2)
        assert "routes: missing" in refused["message"]
        assert refused["level"] == "error"
        assert get(p, "/api/hello").status_code == 200
        assert reload_errors(p) == "edgeward_config_reload_errors_total 2.0"
        assert messages(p, "config reloaded") == []


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def test_a_removed_service_token_is_refused_after_reload(backend: str, tmp_path: Path) -> None:
    tokens = [
        {"id": "ci-bot", "secret_sha256": _digest("ci-secret"), "groups": ["deployers"]},
        {"id": "other", "secret_sha256": _digest("other-secret"), "groups": ["deployers"]},
    ]
    route = {"name": "api", "match": {"path": "/api/"}, "to": backend}
    route["allow"] = {"auth": ["service_token"]}
    with run_proxy(tmp_path, {"service_tokens": tokens, "routes": [route]}) as p:
        ci = {"edgeward-client-id": "ci-bot", "edgeward-client-secret": "ci-secret"}
        other = {"edgeward-client-id": "other", "edgeward-client-secret": "other-secret"}
        assert get(p, "/api/hello", **ci).status_code == 200
        replace(p, {**current(p), "service_tokens": tokens[1:]})
        wait_for(p, "config reloaded")
        assert get(p, "/api/hello", **ci).status_code == 401
        assert get(p, "/api/hello", **other).status_code == 200
        assert p.proc.poll() is None  # no restart


def test_a_rotated_secret_file_applies_without_touching_the_config(
    backend: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "ci.sha256"
    secret_file.write_text(_digest("first-secret") + "\n")
    tokens = [{"id": "ci-bot", "secret_sha256_file": str(secret_file), "groups": ["ci"]}]
    route = {"name": "api", "match": {"path": "/api/"}, "to": backend}
    route["allow"] = {"groups": ["ci"]}
    with run_proxy(tmp_path, {"service_tokens": tokens, "routes": [route]}) as p:
        first = {"edgeward-client-id": "ci-bot", "edgeward-client-secret": "first-secret"}
        second = {"edgeward-client-id": "ci-bot", "edgeward-client-secret": "second-secret"}
        assert get(p, "/api/hello", **first).status_code == 200
        staged = tmp_path / "ci.sha256.staged"
        staged.write_text(_digest("second-secret") + "\n")
        os.replace(staged, secret_file)  # as a mounted secret is rotated
        wait_for(p, "config reloaded")
        assert get(p, "/api/hello", **first).status_code == 401
        assert get(p, "/api/hello", **second).status_code == 200


def test_a_removed_issuer_or_audience_is_refused_after_reload(backend: str, tmp_path: Path) -> None:
    with KeyServer([new_key("ES256")]) as one, KeyServer([new_key("ES256")]) as two:
        bearer = [
            {"issuer": one.issuer, "audiences": ["api://orders", "api://old"]},
            {"issuer": two.issuer, "audiences": ["api://orders"]},
        ]
        route = {"name": "api", "match": {"path": "/api/"}, "to": backend}
        route["allow"] = {"authenticated": True}
        with run_proxy(tmp_path, {"bearer": bearer, "routes": [route]}) as p:
            now = time.time()
            kept = one.sign(one.claims(now))
            old_audience = one.sign(one.claims(now, aud="api://old"))
            other_issuer = two.sign(two.claims(now))
            for token in (kept, old_audience, other_issuer):
                assert get(p, "/api/hello", authorization=f"Bearer {token}").status_code == 200
            fetches = one.jwks_fetches
            narrowed = [{"issuer": one.issuer, "audiences": ["api://orders"]}]
            replace(p, {**current(p), "bearer": narrowed})
            wait_for(p, "config reloaded")
            for token in (old_audience, other_issuer):
                r = get(p, "/api/hello", authorization=f"Bearer {token}")
                assert r.status_code == 401, r.text
            assert get(p, "/api/hello", authorization=f"Bearer {kept}").status_code == 200
            # The unchanged issuer kept its keys: no refetch because of the reload.
            assert one.jwks_fetches == fetches


def test_trusted_proxies_limits_and_access_log_change_on_reload(
    backend: str, tmp_path: Path
) -> None:
    config = {"routes": [public_route("api", backend, "/api/")]}
    with run_proxy(tmp_path, config) as p:
        ask = {
            "x-forwarded-uri": "/api/hello",
            "x-forwarded-method": "GET",
            "x-forwarded-host": "127.0.0.1",
            "x-forwarded-for": "203.0.113.7",
        }
        assert get(p, "/.edgeward/auth", **ask).status_code == 400  # not a trusted proxy
        body = b"x" * 2048
        assert httpx.post(f"{p.url}/api/echo", content=body, timeout=TIMEOUT).status_code == 200
        changed = {
            **current(p),
            "trusted_proxies": ["127.0.0.1/32"],
            "limits": {"max_body": "1KiB"},
            "log": {"access": False},
        }
        replace(p, changed)
        wait_for(p, "config reloaded")
        assert get(p, "/.edgeward/auth", **ask).status_code == 200
        r = httpx.post(f"{p.url}/api/echo", content=body, timeout=TIMEOUT)
        assert r.status_code == 413
        assert get(p, "/api/hello", **{"x-request-id": "unlogged-00001"}).status_code == 200
        replace(p, {**changed, "log": {"access": True}})
        wait_for(p, "config reloaded", 2)
        assert get(p, "/api/hello", **{"x-request-id": "logged-000002"}).status_code == 200
        # Lines leave in order: once the second one is out, the first would be too.
        p.wait_for_line(lambda line: line.get("request_id") == "logged-000002")
        ids = [line.get("request_id") for line in p.lines() if line.get("type") == "access"]
        assert "unlogged-00001" not in ids


def test_a_changed_listen_address_is_named_as_needing_a_restart(
    backend: str, tmp_path: Path
) -> None:
    with run_proxy(tmp_path, {"routes": [public_route("api", backend, "/api/")]}) as p:
        changed = current(p)
        changed["listen"] = f"127.0.0.1:{free_port()}"
        changed["upstream"] = {"max_idle": 3}
        changed["routes"].append(public_route("new", backend, "/public/"))
        replace(p, changed)
        line = wait_for(p, "need a restart")
        assert line["level"] == "warning"
        assert line["message"].endswith(": listen, upstream.max_idle")
        assert get(p, "/public/hello").status_code == 200  # the rest of the file applied
        assert get(p, "/api/hello").status_code == 200  # still on the address it started on


def test_a_request_in_flight_finishes_on_the_config_it_started_with(
    backend: str, tmp_path: Path
) -> None:
    routes = [public_route("api", backend, "/api/"), public_route("other", backend, "/other/")]
    with run_proxy(tmp_path, {"routes": routes}) as p:
        answers: list[int] = []
        slow = threading.Thread(
            target=lambda: answers.append(get(p, "/api/slow?delay=5").status_code)
        )
        slow.start()
        replace(p, {**current(p), "routes": routes[1:]})
        wait_for(p, "config reloaded")
        assert get(p, "/api/hello").status_code == 404  # new requests see the new routes
        slow.join(WAIT)
        assert answers == [200]


def reloads_ok(proxy: Proxy) -> float:
    metrics = httpx.get(f"{proxy.admin}/metrics", timeout=TIMEOUT).text
    line = 'edgeward_config_reloads_total{result="ok"} '
    found = [m for m in metrics.splitlines() if m.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


def test_readiness_follows_the_issuers_of_the_running_config(backend: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # an IdP nobody answers for
    bearer = [{"issuer": dead, "audiences": ["api://orders"], "jwks_uri": f"{dead}/jwks"}]
    with run_proxy(tmp_path, {"bearer": bearer, "routes": [public_route("api", backend)]}) as p:
        r = httpx.get(f"{p.admin}/readyz", timeout=TIMEOUT)
        assert r.status_code == 503 and f"jwks {dead}" in r.json()["failing"]
        replace(p, {**current(p), "bearer": []})
        wait_for(p, "config reloaded")
        assert httpx.get(f"{p.admin}/readyz", timeout=TIMEOUT).status_code == 200


def test_log_level_changes_on_reload(backend: str, tmp_path: Path) -> None:
    with run_proxy(tmp_path, {"routes": [public_route("api", backend, "/api/")]}) as p:
        replace(p, {**current(p), "log": {"level": "error"}})
        deadline = time.monotonic() + WAIT
        while reloads_ok(p) < 1:
            assert time.monotonic() < deadline, "no reload"
            time.sleep(0.05)
        replace(p, b"routes: [")  # refused: an error is still logged
        wait_for(p, "reload refused")
        # The reload's own info line came after the new level was set.
        assert messages(p, "config reloaded") == []
