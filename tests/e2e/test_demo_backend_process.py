"""The demo backend as a real process: its start-up warning and a verifying key file."""

from __future__ import annotations

from pathlib import Path

import httpx

from proxy.signing import RequestSigner
from tests.harness import free_port, run_process
from tests.unit.test_demo_backend import ISSUER, TIMEOUT, signed


def test_module_runs_as_a_process_and_warns_it_is_unverified() -> None:
    port = free_port()
    with run_process(["-m", "demo_backend", "--port", str(port)], port) as proc:
        r = httpx.get(f"http://127.0.0.1:{port}/api/hello", timeout=TIMEOUT)
        assert r.status_code == 200
    assert proc.stdout is not None
    with proc.stdout:  # run_process leaves the pipe open; close it to avoid a ResourceWarning
        output = proc.stdout.read()
    assert b"UNVERIFIED" in output


def test_module_with_hmac_key_file_verifies(tmp_path: Path) -> None:
    secret = b"a shared secret of enough length for hmac-sha256"
    (tmp_path / "hmac.key").write_bytes(secret + b"\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["--hmac-key-file", str(tmp_path / "hmac.key"), "--issuer", ISSUER, "--audience", url]
    with (
        run_process(["-m", "demo_backend", "--port", str(port), *args], port) as proc,
        httpx.Client(timeout=TIMEOUT) as c,
    ):
        unsigned = c.get(f"{url}/public/hello")
        headers = signed(RequestSigner(hmac_key=secret), url, "/public/hello")
        ok = c.get(f"{url}/public/hello", headers=headers)
    assert proc.stdout is not None
    with proc.stdout:
        output = proc.stdout.read()
    assert unsigned.status_code == 401
    assert (ok.status_code, ok.json()["caller"]) == (200, None)
    assert b"UNVERIFIED" not in output
