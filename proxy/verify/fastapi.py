"""FastAPI glue: a dependency that hands a route the verified ``Identity``.

Use it behind ``VerifyMiddleware`` (which refuses unsigned requests before any
route runs)::

    from typing import Annotated

    from fastapi import Depends, FastAPI
    from proxy.verify import Identity, Verifier, VerifyMiddleware
    from proxy.verify.fastapi import require_identity

    app = FastAPI()

    @app.get("/orders")
    async def orders(identity: Annotated[Identity, Depends(require_identity)]) -> dict[str, str]:
        return {"user": identity.subject}

    verifier = Verifier(issuer="https://proxy.example", audience="http://orders:9000",
                        jwks_url="https://proxy.example/.edgeward/jwks.json")
    asgi_app = VerifyMiddleware(app, verifier)

This is the only module of ``proxy.verify`` that imports FastAPI.
"""

from __future__ import annotations

from fastapi import HTTPException, Request

from proxy.identity import Identity


def require_identity(request: Request) -> Identity:
    """The identity ``VerifyMiddleware`` verified; 401 if there is none.

    None happens for public-route requests (signed, but without an assertion)
    and when the app runs without the middleware -- both must not reach a
    handler that needs a user.
    """
    identity = getattr(request.state, "identity", None)
    if not isinstance(identity, Identity):
        raise HTTPException(status_code=401, detail="no verified Edgeward identity")
    return identity
