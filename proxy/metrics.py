"""Prometheus metrics of the proxy, defined once.

Label children are cached per label tuple: ``labels()`` costs more than the
observation itself on the hot path. With several workers the server runtime
sets PROMETHEUS_MULTIPROC_DIR before this module is imported, and these same
objects write to per-process files that the admin listener aggregates.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

# OpenTelemetry HTTP semantic-convention buckets (seconds).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10)

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests handled by the proxy.",
    ["method", "route", "status"],
    buckets=_BUCKETS,
)
REQUESTS = Counter(
    "edgeward_requests",
    "Requests answered by the proxy.",
    ["route", "status"],
)
UPSTREAM_DURATION = Histogram(
    "edgeward_upstream_duration_seconds",
    "Time from sending the request upstream to its response headers.",
    ["route"],
    buckets=_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "edgeward_upstream_errors",
    "Upstream failures by kind (refused, reset, timeout, protocol).",
    ["route", "kind"],
)
LIMITS = Counter(
    "edgeward_limits_hit",
    "Requests refused by a limit "
    "(body_size, header_size, header_timeout, body_timeout, body_rate).",
    ["limit"],
)
AUTH_DECISIONS = Counter(
    "edgeward_auth_decisions",
    "Access decisions by outcome and reason.",
    ["route", "decision", "reason"],
)
CONFIG_RELOADS = Counter(
    "edgeward_config_reloads",
    "Configuration reloads by result (ok, error).",
    ["result"],
)
CONFIG_RELOAD_ERRORS = Counter(
    "edgeward_config_reload_errors",
    "Configuration reloads refused because the new file was invalid.",
)
JWKS_REFRESHES = Counter(
    "edgeward_jwks_refreshes",
    "JWKS fetches by issuer and result.",
    ["issuer", "result"],
)

_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    s = str(status)
    _child(REQUEST_DURATION, method, route, s).observe(seconds)
    _child(REQUESTS, route, s).inc()


def observe_upstream(route: str, seconds: float) -> None:
    _child(UPSTREAM_DURATION, route).observe(seconds)


def count_upstream_error(route: str, kind: str) -> None:
    _child(UPSTREAM_ERRORS, route, kind).inc()


def count_limit(limit: str) -> None:
    _child(LIMITS, limit).inc()


def count_decision(route: str, decision: str, reason: str) -> None:
    _child(AUTH_DECISIONS, route, decision, reason).inc()
