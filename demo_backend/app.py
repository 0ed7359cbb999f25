"""Assembly of the demo backend: routers, error rendering, counting, verification.

The app is the routers wrapped by a short list of pure-ASGI middleware; the
outermost one, when a verifier is given, is ``proxy.verify.VerifyMiddleware``,
which answers 401 before any handler for requests the proxy did not sign.
"""

from __future__ import annotations

from fastapi import FastAPI

from demo_backend import api, items, sockets, streaming
from demo_backend.problems import install_problem_handlers
from demo_backend.stats import CountingMiddleware, RequestCounters, stats_router


class VerifierUnavailable(RuntimeError):
    """A verifier was asked for but ``proxy.verify`` cannot be imported."""


def create_app(verifier: object | None = None) -> FastAPI:
    """The demo backend; with ``verifier`` only proxy-signed requests reach it."""
    app = FastAPI(title="Edgeward demo backend", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    for router in (api.router, api.public_router, items.router, streaming.router, sockets.router):
        app.include_router(router)
    counters = RequestCounters()
    app.include_router(stats_router(counters))
    app.add_middleware(CountingMiddleware, counters)
    if verifier is not None:
        install_verifier(app, verifier)
    return app


def install_verifier(app: FastAPI, verifier: object) -> None:
    """Wrap ``app`` (outermost) in ``proxy.verify.VerifyMiddleware(app, verifier)``.

    Imported here, not at module top, so an unverified backend never loads the
    verifier and its dependencies.
    """
    try:
        from proxy.verify import Verifier, VerifyMiddleware
    except ImportError as exc:
        raise VerifierUnavailable(f"proxy.verify is not importable: {exc}") from exc
    if not isinstance(verifier, Verifier):
        raise TypeError(f"expected a proxy.verify.Verifier, got {type(verifier).__name__}")
    # Added last, so Starlette places it outside every other middleware.
    app.add_middleware(VerifyMiddleware, verifier)
