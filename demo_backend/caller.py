"""The caller's identity as the handlers see it.

``proxy.verify`` puts an ``Identity`` in ``scope["state"]["identity"]``; this
module reads it from there (absent when the backend runs unverified or the
route is public) and shapes it for JSON answers.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import HTTPConnection

from proxy.identity import Identity


class Caller(BaseModel):
    """The parts of an ``Identity`` a demo answer shows."""

    subject: str
    auth: str
    email: str | None = None
    groups: list[str] = []
    name: str | None = None
    issuer: str | None = None


def identity_of(conn: HTTPConnection) -> Identity | None:
    """The verified identity of this request or WebSocket, if there is one."""
    found = conn.scope.get("state", {}).get("identity")
    return found if isinstance(found, Identity) else None


def caller_of(conn: HTTPConnection) -> Caller | None:
    identity = identity_of(conn)
    if identity is None:
        return None
    return Caller(
        subject=identity.subject,
        auth=identity.auth,
        email=identity.email,
        groups=list(identity.groups),
        name=identity.name,
        issuer=identity.issuer,
    )
