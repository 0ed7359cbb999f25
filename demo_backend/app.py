"""Assembly of the demo backend: routers, error rendering, counting, verification.

The app is the routers wrapped by a short list of pure-ASGI middleware; the
outermost one, when a verifier is given, is ``proxy.verify.VerifyMiddleware``,
which answers 401 before any handler for requests the proxy did not sign.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from demo_backend import api, items, sockets, streaming
from demo_backend.problems import install_problem_handlers
from demo_backend.stats import CountingMiddleware, RequestCounters, stats_router

VERIFY_MODULE = "proxy.verify"


class VerifierUnavailable(RuntimeError):
    """A verifier was asked for but ``proxy.verify`` cannot be imported."""


def create_app(verifier: object | None = None) -> FastAPI:
    """The demo backend; with ``verifier`` only proxy-signed requests reach it."""
    app = FastAPI(title="Edgeward demo backend", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    for router in (api.router, items.router, streaming.router, sockets.router):
        app.include_router(router)
    counters = RequestCounters()
    app.include_router(stats_router(counters))
    app.add_middleware(CountingMiddleware, counters)
    if verifier is not None:
        install_verifier(app, verifier)
    return app


def install_verifier(app: FastAPI, verifier: object) -> None:
    """Wrap ``app`` (outermost) in ``proxy.verify.VerifyMiddleware(app, verifier)``.

    Imported here, not at module top, so the backend works unverified where the
    verifier is not installed; ``importlib`` keeps type checking independent of it.
    """
    try:
        module = importlib.import_module(VERIFY_MODULE)
    except ImportError as exc:
        raise VerifierUnavailable(f"{VERIFY_MODULE} is not importable: {exc}") from exc
    # Added last, so Starlette places it outside every other middleware.
    app.add_middleware(module.VerifyMiddleware, verifier)
