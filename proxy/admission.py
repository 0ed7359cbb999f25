"""Admission: authenticate the caller, then decide with the route's policy.

Authentication picks exactly one credential (a bearer token, else service-token
headers); a credential that is present but invalid is refused outright, never
treated as "anonymous" and never tried against another method. The decision is
the policy's; this stage only translates it into the ``Allowed`` token the
forwarder needs, or into 401/403, and records it (audit line and metric).
"""

from __future__ import annotations

import functools
import ipaddress

from proxy.accesslog import JsonLog
from proxy.authn import (
    AuthError,
    BearerAuthenticator,
    ServiceTokenAuthenticator,
    bearer_challenge,
    extract_bearer,
    extract_client_credentials,
)
from proxy.authn.errors import InvalidRequest
from proxy.context import Request
from proxy.errors import ProxyError
from proxy.identity import Identity
from proxy.metrics import count_decision
from proxy.policy import Allowed, CompiledPolicy, NotAllowedError, RequestFacts, audit_event, decide

REALM = "edgeward"
_CHALLENGE = bearer_challenge(REALM).encode()


class Admission:
    """Authenticate, then decide: the only way to obtain the ``Allowed`` token.

    ``admit`` tries a bearer token, then service-token headers, evaluates the
    route's compiled policy, counts and audits the decision, and returns
    ``Allowed`` or raises 401 (with a Bearer challenge, RFC 6750 §3) or 403. The
    forwarder requires ``Allowed``, so no code path forwards without a decision.
    """

    def __init__(
        self,
        bearer: BearerAuthenticator | None,
        service_tokens: ServiceTokenAuthenticator | None,
        log: JsonLog,
    ) -> None:
        self.bearer = bearer
        self.service_tokens = service_tokens
        self.log = log

    async def admit(self, req: Request, policy: CompiledPolicy) -> Allowed:
        """Authenticate (unless the route is public) and decide; raise 401/403."""
        if not policy.public:
            req.identity = await self.authenticate(req)
        facts = RequestFacts(req.method, req.host, req.path, _ip(req.client_ip))
        decision = decide(policy, facts, req.identity)
        req.decision, req.reason, req.rule = decision.outcome, decision.reason, decision.rule
        count_decision(req.route, decision.outcome, decision.reason)
        if decision.reason != "public_route":
            self.log.write(audit_event(decision, facts, req.identity, req.route, req.request_id))
        try:
            return decision.allowed()
        except NotAllowedError:
            if decision.outcome == "unauthenticated":
                raise authentication_required("this route requires authentication") from None
            raise ProxyError(403, decision.reason, "access denied by policy") from None

    async def authenticate(self, req: Request) -> Identity | None:
        h = req.headers
        try:
            if h.authorization and self.bearer is not None:
                token = extract_bearer([(b"authorization", v) for v in h.authorization])
                if token is not None:
                    return await self.bearer.authenticate(token)
            if (h.client_id or h.client_secret) and self.service_tokens is not None:
                creds = extract_client_credentials(req.scope["headers"])
                if creds is not None:
                    return self.service_tokens.authenticate(creds.client_id, creds.secret)
        except AuthError as exc:
            raise _refused(exc) from None
        return None


def authentication_required(detail: str) -> ProxyError:
    """401 with the plain Bearer challenge: no credential was presented (RFC 6750 §3.1)."""
    return ProxyError(
        401, "authentication_required", detail, headers=[(b"www-authenticate", _CHALLENGE)]
    )


def _refused(exc: AuthError) -> ProxyError:
    # RFC 6750 §3.1: invalid_request is 400, invalid_token 401; an unreachable
    # key source is our problem (503), and still never an allow.
    status = 400 if isinstance(exc, InvalidRequest) else exc.status
    challenge = exc.www_authenticate(REALM).encode()
    return ProxyError(status, exc.code, exc.description, headers=[(b"www-authenticate", challenge)])


@functools.lru_cache(maxsize=4096)
def _ip(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None
