"""nginx ``auth_request`` in front of the demo backend, asking a real Edgeward process.

nginx runs in the foreground as a child of the test (``daemon off; master_process
off``) with its own prefix, pid file and temp paths under the test's tmp dir.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_forward_auth import forward_auth_config
from tests.harness import free_port, run_backend, run_proxy, stop, wait_for_port
from tests.oidc_server import KeyServer, new_key

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
TIMEOUT = httpx.Timeout(10.0)

NGINX_CONF = """
daemon off;
master_process off;
error_log stderr warn;
pid {tmp}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /.edgeward/auth {{
            internal;
            proxy_pass {edgeward};
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Uri $request_uri;
            proxy_set_header X-Forwarded-Method $request_method;
            # nginx's own view of the host: the request line's, else Host (RFC 9112 §3.2.2).
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location / {{
            auth_request /.edgeward/auth;
            auth_request_set $edgeward_user $upstream_http_edgeward_user;
            auth_request_set $edgeward_email $upstream_http_edgeward_email;
            auth_request_set $edgeward_groups $upstream_http_edgeward_groups;
            auth_request_set $edgeward_auth $upstream_http_edgeward_auth;
            auth_request_set $edgeward_issuer $upstream_http_edgeward_issuer;
            proxy_set_header Edgeward-User $edgeward_user;
            proxy_set_header Edgeward-Email $edgeward_email;
            proxy_set_header Edgeward-Groups $edgeward_groups;
            proxy_set_header Edgeward-Auth $edgeward_auth;
            proxy_set_header Edgeward-Issuer $edgeward_issuer;
            proxy_pass {backend};
        }}
    }}
}}
"""


API_ROUTE = {"name": "api", "match": {"path": "/api/"}, "allow": {"authenticated": True}}


@dataclass
class Front:
    url: str
    backend: str
    idp: KeyServer

    def get(
        self, path: str, token: str | None = None, method: str = "GET", host: str | None = None
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if host is not None:
            headers["host"] = host
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=TIMEOUT)

    def token(self, **claims: object) -> str:
        return self.idp.sign(self.idp.claims(time.time(), **claims))

    def backend_saw(self, path: str) -> bool:
        """Whether the backend counted a request for ``path`` (asked directly)."""
        stats = httpx.get(f"{self.backend}/admin/stats", timeout=TIMEOUT).json()
        return path in stats["paths"]


@contextlib.contextmanager
def run_nginx(tmp: Path, edgeward: str, backend: str) -> Iterator[str]:
    assert NGINX is not None
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, edgeward=edgeward, backend=backend))
    with (tmp / "nginx.log").open("wb") as log:
        proc = subprocess.Popen(
            [NGINX, "-p", str(tmp), "-c", str(conf), "-e", "stderr"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, 10, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)  # SIGTERM: nginx's fast shutdown


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    if NGINX is None:
        pytest.skip("nginx is not installed (make test installs it)")
    tmp = tmp_path_factory.mktemp("nginx")
    with KeyServer([new_key("EdDSA")]) as idp, run_backend() as backend:
        config = forward_auth_config(idp, backend, trusted=True)
        config["routes"] = [{**API_ROUTE, "to": backend}, *config["routes"]]
        with run_proxy(tmp, config) as edgeward, run_nginx(tmp, edgeward.url, backend) as url:
            yield Front(url, backend, idp)


def test_allowed_request_passes_through_nginx_to_the_backend(front: Front) -> None:
    r = front.get("/admin/stats", front.token(groups=["admins"]))
    assert r.status_code == 200, r.text
    assert r.json()["total"] >= 1  # the backend's answer, not nginx's


def test_identity_from_forward_auth_reaches_the_backend(front: Front) -> None:
    r = front.get("/api/echo?x=1", front.token(groups=["staff", "ops"]))
    assert r.status_code == 200, r.text
    received = dict(r.json()["headers"])
    assert received["edgeward-user"] == "client-1"
    assert received["edgeward-groups"] == '"staff", "ops"'  # an RFC 8941 List of Strings
    assert received["edgeward-auth"] == "bearer"
    assert received["edgeward-issuer"] == front.idp.issuer


def test_denied_request_gets_403_from_nginx(front: Front) -> None:
    r = front.get("/admin/denied-1", front.token(groups=["staff"]))
    assert r.status_code == 403
    assert "nginx" in r.text  # nginx's own page: the backend never answered
    assert not front.backend_saw("/admin/denied-1")


def test_unauthenticated_request_gets_401_with_the_challenge(front: Front) -> None:
    r = front.get("/admin/denied-2")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert not front.backend_saw("/admin/denied-2")


def test_duplicate_slash_does_not_bypass_the_admin_rule(front: Front) -> None:
    # nginx matches its locations on //admin/… merged, but sends $request_uri as is.
    r = front.get("//admin/denied-3", front.token(groups=["staff"]))
    assert r.status_code == 403
    assert not front.backend_saw("/admin/denied-3") and not front.backend_saw("//admin/denied-3")


def test_the_original_method_is_decided(front: Front) -> None:
    token = front.token()
    assert front.get("/reports/q1", token, method="DELETE").status_code == 403
    # GET is allowed through; the backend has no /reports, so it answers 404 itself.
    r = front.get("/reports/q1", token)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_the_original_host_is_decided(front: Front) -> None:
    token = front.token()
    # "hosted" exists only on app.example.com: nginx's X-Forwarded-Host picks it.
    r = front.get("/hosted/x", token, host="App.Example.com")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert front.get("/hosted/x", host="app.example.com").status_code == 401
    assert front.get("/hosted/x", token, host="other.example.com").status_code == 403
