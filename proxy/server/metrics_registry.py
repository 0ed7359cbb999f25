"""The Prometheus registry the admin app exposes, correct with one or many workers."""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

# Set by the worker supervisor (proxy.server.workers) before any worker starts;
# prometheus_client itself reads the same variable when metrics are created.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def registry() -> CollectorRegistry:
    """A registry to expose on /metrics.

    With several workers each process writes its samples to files in the shared
    directory, and a fresh registry with a MultiProcessCollector merges them at
    scrape time; with one process the default registry holds everything. Call it
    once when the admin app is built.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return REGISTRY
    merged = CollectorRegistry(auto_describe=True)
    MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
    return merged
