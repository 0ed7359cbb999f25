"""nginx as the transport reference: a plain ``proxy_pass`` to the same upstream.

One worker, no master, in the foreground, with its own prefix and config in a
temporary directory, so it touches nothing of the system's nginx. Keep-alive to
the upstream is on (as Edgeward's pool does) and the access log is off.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench.procs import Cores, pinned

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream bench {{
        server 127.0.0.1:{upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://bench;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@contextlib.contextmanager
def run_nginx(
    prefix: Path, port: int, upstream_port: int, cores: Cores
) -> Iterator[subprocess.Popen[bytes]]:
    """nginx on ``port`` proxying to ``upstream_port``, pinned like the proxy."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(_CONFIG.format(prefix=prefix, port=port, upstream=upstream_port))
    args = [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    with pinned(args, cores.proxy, port) as proc:
        yield proc
