"""Verify requests forwarded by Edgeward, in the backend (the only package backends import).

Every request the proxy forwards carries an RFC 9421 signature (label
``edgeward``) over method, authority, path, query, ``X-Request-Id``, the
``Edgeward-Assertion`` JWT and, for bodies up to the proxy's digest limit,
``Content-Digest`` (RFC 9530). ``Verifier`` checks all of it -- signature, keys
(JWKS URL, refreshed on unknown kid, or a key file), covered components, time
window, replayed nonces, body digest, assertion issuer/audience/expiry -- and
returns the caller's ``Identity``; anything else raises ``VerificationError``.
``Identity.auth`` and ``Identity.issuer`` (the ``idp`` claim: who issued the
identity, not the proxy) tell callers with the same subject apart; identity
headers (``Edgeward-User`` ...), when a route sends them, must say exactly what
the assertion says (their encoding is ``proxy.wire``'s: ``decode_text``,
``decode_list``).

Usage with any ASGI framework::

    from proxy.verify import Verifier, VerifyMiddleware

    verifier = Verifier(
        issuer="https://proxy.example.com",          # the proxy's public_url
        audience="http://orders.internal:9000",      # the route's audience / upstream origin
        jwks_url="https://proxy.example.com/.edgeward/jwks.json",
    )
    app = VerifyMiddleware(app, verifier)            # handlers read scope["state"]["identity"]

With several backend replicas, share replay memory through Redis::

    import redis.asyncio
    from proxy.verify import RedisNonceStore
    store = RedisNonceStore(redis.asyncio.Redis.from_url("redis://127.0.0.1:6379/0"))
    verifier = Verifier(..., nonce_store=store)

FastAPI routes can declare ``Depends(require_identity)`` from
``proxy.verify.fastapi``. This package imports nothing from the proxy except
``proxy.wire`` (the wire contract) and ``proxy.identity`` (the Identity type).
"""

from proxy.identity import Identity
from proxy.verify.errors import VerificationError
from proxy.verify.middleware import VerifyMiddleware
from proxy.verify.nonces import MemoryNonceStore, NonceStore, RedisNonceStore
from proxy.verify.verifier import Verifier

__all__ = [
    "Identity",
    "MemoryNonceStore",
    "NonceStore",
    "RedisNonceStore",
    "VerificationError",
    "Verifier",
    "VerifyMiddleware",
]
