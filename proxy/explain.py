"""``edgeward explain``: what the proxy would do with one URL, for reviewing a policy change.

It runs the proxy's own stages in the proxy's order on a URL given on the command
line: canonical host and normalised path (``proxy.paths``), first matching route
(``proxy.routing``), then the decision (``proxy.policy``) for an identity described
by ``--claims`` or read from ``--token``. A token's signature is never checked here:
explain is a review tool, not an authenticator, and says so in its output.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from proxy.authn.claims import ClaimRules, split_email, validate
from proxy.authn.errors import AuthError
from proxy.authn.jws import parse
from proxy.config.schema import Bearer, Config, Rule
from proxy.endpoints import PREFIX
from proxy.identity import AuthMethod, Identity
from proxy.paths import BadTarget, canonical_host, normalize_path
from proxy.policy import CompiledPolicy, Decision, RequestFacts, decide
from proxy.policy.criteria import email_domain
from proxy.policy.facts import ClientIP
from proxy.routing import Router

Verdict = Literal["allow", "deny", "login"]

# Exit status of `edgeward explain` per verdict; 1 is kept for usage and config errors.
EXIT_CODES: Mapping[Verdict, int] = {"allow": 0, "deny": 2, "login": 3}

UNVERIFIED = "token signature NOT verified: explain is a review tool, not an authenticator"


class ExplainError(ValueError):
    """The question cannot be asked as given (bad URL, claims, token or address)."""


@dataclass(frozen=True, slots=True)
class Question:
    """One request to explain: where it goes, and who (if anyone) sends it."""

    url: str
    method: str = "GET"
    identity: Identity | None = None
    client_ip: ClientIP | None = None
    notes: tuple[str, ...] = ()  # caveats about the identity, carried to the answer


@dataclass(frozen=True, slots=True)
class Explanation:
    """What the proxy would do, and why, in the words of its audit line."""

    method: str
    url: str
    verdict: Verdict
    status: int | None  # what the proxy itself answers; None when it forwards
    reason: str  # the stable code the proxy logs
    why: str
    identity: Identity | None
    notes: tuple[str, ...]
    host: str | None = None  # None when the URL is refused before matching
    path: str | None = None
    route: str | None = None
    route_index: int | None = None
    rule: str | None = None  # YAML path of the deciding rule


def explain(config: Config, question: Question) -> Explanation:
    """Run target normalisation, routing and the decision on ``question``; pure."""
    method = question.method.upper()
    answer = Explanation(
        method, question.url, "deny", 400, "", "", question.identity, question.notes
    )
    scheme, raw_host, raw_path = _target(config, question.url)
    try:
        host = canonical_host(raw_host, scheme)
        answer = replace(answer, host=host)
        path = normalize_path(raw_path)
    except BadTarget as exc:
        return replace(answer, reason="bad_request_target", why=f"the proxy answers 400: {exc}")
    answer = replace(answer, path=path)
    if path.startswith(PREFIX):
        why = f"{PREFIX} is the proxy's own endpoint prefix: answered by the proxy, never routed"
        return replace(answer, verdict="allow", status=None, reason="proxy_endpoint", why=why)
    found = Router(config.routes).match(host, path, method)
    if found is None:
        why = f"no route matches host {host}, path {path}, method {method} (first match wins)"
        return replace(answer, status=404, reason="no_route", why=why)
    policy = CompiledPolicy.for_route(found.route, found.index)
    facts = RequestFacts(method, host, path, question.client_ip)
    decision = decide(policy, facts, question.identity)
    return replace(
        answer,
        route=found.route.name,
        route_index=found.index,
        verdict=_VERDICTS[decision.outcome],
        status=_STATUS[decision.outcome],
        reason=decision.reason,
        rule=decision.rule,
        why=_why(decision, question.identity, _mentions_email(found.route.allow)),
    )


_VERDICTS: Mapping[str, Verdict] = {"allow": "allow", "deny": "deny", "unauthenticated": "login"}
_STATUS: Mapping[str, int | None] = {"allow": None, "deny": 403, "unauthenticated": 401}


def _target(config: Config, url: str) -> tuple[str, str, bytes]:
    """``(scheme, Host header, raw path)``; a bare path is taken on ``public_url``."""
    parts = urlsplit(url if not url.startswith("/") else config.public_url + url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExplainError(f"--url: expected an http(s) URL or a path, got {url!r}")
    # The path as a client sends it, undecoded: the proxy judges that exact form.
    # The query is kept off it (matching never looks at it) and a fragment never
    # reaches the wire.
    return parts.scheme, parts.netloc.rpartition("@")[2], (parts.path or "/").encode()


def _mentions_email(rule: Rule | None) -> bool:
    """True when ``rule`` has an ``emails`` or ``email_domains`` criterion anywhere."""
    if rule is None:
        return False
    if rule.emails is not None or rule.email_domains is not None:
        return True
    nested = (*(rule.any or ()), *(rule.all or ()), rule.not_)
    return any(_mentions_email(r) for r in nested)


def _why(decision: Decision, identity: Identity | None, email_rule: bool) -> str:
    rule = decision.rule
    if decision.reason == "deny_rule_matched":
        return f"{rule} matches this request; a matching deny wins over every allow (403)"
    if decision.reason == "public_route":
        return "the route is public: true and no deny rule matches, so no sign-in is needed"
    if decision.reason == "authentication_required":
        return (
            "no identity: an API client gets 401, a browser is sent to sign in "
            "(give --claims or --token to explain a signed-in caller)"
        )
    who = identity.subject if identity is not None else "the caller"
    if decision.reason == "allow_rule_matched":
        return f"{rule} matches {who} on this request, and no deny rule matches"
    why = f"{who} is signed in, but {rule or 'no allow rule'} does not match; no rule allows (403)"
    if email_rule and identity is not None and identity.unverified_email is not None:
        why += "; email not verified, so no emails / email_domains allow can match it"
    return why


def build_question(
    config: Config,
    url: str,
    method: str = "GET",
    *,
    claims: str | None = None,
    token: str | None = None,
    client_ip: str | None = None,
    now: float,
) -> Question:
    """The ``Question`` the command-line arguments ask; ``ExplainError`` if malformed."""
    identity: Identity | None = None
    notes: tuple[str, ...] = ()
    if claims is not None:
        identity = identity_from_claims(config, claims)
    elif token is not None:
        identity, notes = identity_from_token(config, token, now)
    if identity is not None and identity.unverified_email is not None:
        notes = (*notes, _unverified_note(identity.unverified_email))
    return Question(url, method, identity, _client_ip(client_ip), notes)


def _unverified_note(email: str) -> str:
    return (
        f"email {email} not verified (email_verified is not true, and its issuer does not "
        "set allow_unverified_email): emails / email_domains never allow it, a deny still "
        "counts it, and it is not forwarded"
    )


def _client_ip(value: str | None) -> ClientIP | None:
    if value is None:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ExplainError(f"--client-ip: not an IP address: {value!r}") from None


def identity_from_claims(config: Config, text: str) -> Identity:
    """The identity ``--claims`` describes: a JSON object of token-style claims.

    ``auth`` (default ``bearer``) says how the caller signed in; groups are read
    from the claim the matching bearer issuer names (else ``groups``).
    """
    try:
        claims = json.loads(text)
    except ValueError as exc:
        raise ExplainError(f"--claims: not JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise ExplainError('--claims: expected a JSON object such as {"sub": "alice"}')
    auth = claims.pop("auth", "bearer")
    if auth not in get_args(AuthMethod):
        raise ExplainError(f"--claims: auth must be one of {', '.join(get_args(AuthMethod))}")
    iss = claims.get("iss")
    trusted = _allows_unverified_email(config, auth, iss)
    return _identity(claims, auth, _issuer(config, iss), "--claims", trusted)


def identity_from_token(config: Config, token: str, now: float) -> tuple[Identity, tuple[str, ...]]:
    """The identity a bearer token names, read WITHOUT verifying its signature, and notes
    on what the proxy would refuse about it (it would answer 401 for any of them)."""
    try:
        jws = parse(token.strip())
    except AuthError as exc:
        raise ExplainError(f"--token: the proxy would refuse this token: {exc}") from None
    issuer = _issuer(config, jws.payload.get("iss"))
    trusted = issuer is not None and issuer.allow_unverified_email
    identity = _identity(dict(jws.payload), "bearer", issuer, "--token", trusted)
    return identity, (UNVERIFIED, *_token_refusals(jws.alg, jws.payload, issuer, now))


def _token_refusals(
    alg: str, payload: Mapping[str, Any], issuer: Bearer | None, now: float
) -> tuple[str, ...]:
    if issuer is None:
        return (
            f"issuer {payload.get('iss')!r} is not a bearer issuer here: the proxy answers 401",
        )
    if alg not in issuer.algorithms:
        return (f"algorithm {alg} is not allowed for this issuer: the proxy answers 401",)
    rules = ClaimRules(
        issuer.issuer,
        frozenset(issuer.audiences),
        issuer.leeway,
        issuer.groups_claim,
        issuer.allow_unverified_email,
    )
    try:
        validate(payload, rules, now)  # the bearer authenticator's own claim checks
    except AuthError as exc:
        return (f"{exc} ({exc.code}): the proxy answers 401",)
    return ()


def _issuer(config: Config, iss: object) -> Bearer | None:
    return next((b for b in config.bearer if b.issuer == iss), None)


def _allows_unverified_email(config: Config, auth: AuthMethod, iss: object) -> bool:
    """Whether the issuer that would have signed the caller in opted out of email_verified."""
    if auth == "bearer":
        issuer = _issuer(config, iss)
        return issuer is not None and issuer.allow_unverified_email
    if auth == "session":
        return any(p.issuer == iss and p.allow_unverified_email for p in config.oidc)
    return False  # service tokens carry no email at all


def _identity(
    claims: dict[str, Any],
    auth: AuthMethod,
    issuer: Bearer | None,
    flag: str,
    allow_unverified_email: bool,
) -> Identity:
    sub, email, name = claims.get("sub"), claims.get("email"), claims.get("name")
    if not isinstance(sub, str) or not sub:
        raise ExplainError(f"{flag}: 'sub' must be a non-empty string")
    if email is not None and (not isinstance(email, str) or email_domain(email) is None):
        raise ExplainError(f"{flag}: 'email' must be one address with a single @")
    try:  # the authenticator's own rule: only a verified email authorises
        email, unverified_email = split_email(claims, allow_unverified_email)
    except AuthError:
        raise ExplainError(f"{flag}: 'email' must be one address with a single @") from None
    groups_claim = issuer.groups_claim if issuer is not None else "groups"
    groups = claims.get(groups_claim, [])
    groups = [groups] if isinstance(groups, str) else groups  # one group sent as a string
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ExplainError(f"{flag}: {groups_claim!r} must be a string or a list of strings")
    iss = claims.get("iss")
    return Identity(
        subject=sub,
        auth=auth,
        email=email,
        unverified_email=unverified_email,
        groups=tuple(groups),
        name=name if isinstance(name, str) else None,
        issuer=iss if isinstance(iss, str) else None,
        claims=claims,
    )


def render_text(e: Explanation) -> str:
    """The explanation as aligned ``label: value`` lines for a terminal or a review."""
    route = f"{e.route} (routes[{e.route_index}])" if e.route is not None else _no_route(e)
    rows = [
        ("request", f"{e.method} {e.url}"),
        ("host", e.host or "-"),
        ("path", e.path or "-"),
        ("route", route),
        ("identity", _who(e.identity)),
        ("decision", e.verdict + (f" ({e.status})" if e.status is not None else "")),
        ("reason", e.reason),
        ("rule", e.rule or "-"),
        ("why", e.why),
        *(("note", note) for note in e.notes),
    ]
    return "\n".join(f"{label + ':':<10}{value}" for label, value in rows)


def _no_route(e: Explanation) -> str:
    if e.reason == "no_route":
        return "no route (404)"
    return "-" if e.reason == "proxy_endpoint" else "not matched (URL refused)"


def _who(identity: Identity | None) -> str:
    if identity is None:
        return "none (anonymous)"
    parts = [f"{identity.subject} via {identity.auth}"]
    if identity.email:
        parts.append(f"email {identity.email}")
    elif identity.unverified_email:
        parts.append(f"email {identity.unverified_email} (not verified)")
    parts.append(f"groups [{', '.join(identity.groups)}]")
    return ", ".join(parts)


def render_json(e: Explanation) -> str:
    """The explanation as one JSON object (stable keys, for scripts and CI)."""
    identity = e.identity
    data = {
        "method": e.method,
        "url": e.url,
        "host": e.host,
        "path": e.path,
        "route": None if e.route is None else {"name": e.route, "index": e.route_index},
        "decision": e.verdict,
        "status": e.status,
        "reason": e.reason,
        "rule": e.rule,
        "why": e.why,
        "identity": None
        if identity is None
        else {
            "sub": identity.subject,
            "auth": identity.auth,
            "email": identity.email,
            "unverified_email": identity.unverified_email,
            "groups": list(identity.groups),
            "issuer": identity.issuer,
        },
        "notes": list(e.notes),
        "exit_code": EXIT_CODES[e.verdict],
    }
    return json.dumps(data, indent=2)
