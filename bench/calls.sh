#!/usr/bin/env bash
# Python function calls per proxied request: a count that does not move with machine load.
# Runs the real proxy under cProfile for N and then 3N keep-alive GETs on a public route and
# prints the calls per request (the difference over 2N requests, so start-up cancels out).
#   bench/calls.sh [N] [ed25519|hmac-sha256] [true|false (access log)]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}; SIG=${2:-ed25519}; ACCESS=${3:-true}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
port() { .venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
head -c 48 /dev/urandom | base64 > "$tmp/hmac.key"
run() {  # $1 = requests, $2 = profile file
  local up px ad
  up=$(port); px=$(port); ad=$(port)
  .venv/bin/python bench/upstream.py --port "$up" >/dev/null 2>&1 & local upid=$!
  cat > "$tmp/cfg.yaml" <<YAML
listen: 127.0.0.1:$px
admin_listen: 127.0.0.1:$ad
public_url: http://127.0.0.1:$px
log: {access: $ACCESS}
signing: {request_signature: $SIG, hmac_key_file: $tmp/hmac.key}
routes:
  - {name: public, match: {path: /}, to: "http://127.0.0.1:$up", public: true}
YAML
  .venv/bin/python -m cProfile -o "$2" -m proxy run --config "$tmp/cfg.yaml" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$px") 2>/dev/null && break; sleep 0.1; done
  .venv/bin/python bench/calls_client.py "$px" "$1" /x >/dev/null
  kill -TERM "$pid"; wait "$pid" || true
  kill "$upid"
}
run "$N" "$tmp/a.prof"
run $((3 * N)) "$tmp/b.prof"
.venv/bin/python - "$tmp/a.prof" "$tmp/b.prof" "$N" <<'PY'
import pstats, sys
first, second = (sum(v[1] for v in pstats.Stats(p).stats.values()) for p in sys.argv[1:3])
n = int(sys.argv[3])
print(f"{(second - first) / (2 * n):.1f} Python calls per request")
PY
