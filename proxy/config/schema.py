"""The configuration's shape: frozen models, validated once at start.

Every model forbids unknown keys: a typo such as ``alow:`` must be an error, never
a silently weaker policy. Cross-field checks that need the whole file live in
``proxy.config.validate``; this module only describes single values.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator, model_validator

from proxy.config.settings import Limits, Log, Model, Session, Shutdown, Upstream
from proxy.config.units import ByteSize, Duration

AuthName = Literal["session", "bearer", "service_token"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, for example 127.0.0.1:8080")
    return value


def _origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("expected a bare origin such as http://127.0.0.1:9000 (no path)")
    return value.rstrip("/")


def _network(value: Any) -> IPNetwork:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError as exc:
        raise ValueError(f"not an IP address or CIDR range: {value!r}") from exc


Address = Annotated[str, AfterValidator(_address)]
Origin = Annotated[str, AfterValidator(_origin)]


class Timeouts(Model):
    connect: Duration = Field(
        default=5.0, description="Longest wait to connect to the upstream (TLS included); then 504."
    )
    read: Duration = Field(
        default=30.0, description="Longest wait for the next bytes from the upstream; then 504."
    )


class Match(Model):
    host: str | None = Field(
        default=None,
        description="Exact host, or `*.example.com` for exactly one label; "
        "the default port is ignored. Absent: any host.",
    )
    path: str = Field(
        default="/",
        description="Whole-segment prefix on the normalised path: "
        "`/api/` covers `/api` and `/api/x`, not `/apix`.",
    )
    methods: tuple[str, ...] | None = Field(
        default=None,
        description="Methods this route takes (case-insensitive). Absent: all methods.",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("a path prefix must start with /")
        return v

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if v is None else tuple(m.upper() for m in v)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        return None if v is None else v.lower().rstrip(".")


class Rule(Model):
    """One access rule; every criterion given must hold (they are ANDed)."""

    authenticated: bool | None = Field(
        default=None, description="`true`: any authenticated caller."
    )
    emails: tuple[str, ...] | None = Field(
        default=None, description="The caller's verified email is one of these."
    )
    email_domains: tuple[str, ...] | None = Field(
        default=None,
        description="The verified email's domain is exactly one of these; "
        "an email with more than one `@` matches nothing.",
    )
    groups: tuple[str, ...] | None = Field(
        default=None, description="The caller is in at least one of these groups."
    )
    claims: dict[str, str | int | bool | list[str | int | bool]] | None = Field(
        default=None,
        description="Each listed claim equals the value, or intersects the list "
        "(a claim on `email` sees verified addresses only).",
    )
    methods: tuple[str, ...] | None = Field(
        default=None, description="The request method is one of these."
    )
    ip_ranges: tuple[Annotated[Any, AfterValidator(_network)], ...] | None = Field(
        default=None, description="The client address is in one of these CIDR ranges."
    )
    auth: tuple[AuthName, ...] | None = Field(
        default=None,
        description="How the caller authenticated: `session`, `bearer`, `service_token`.",
    )
    any: tuple[Rule, ...] | None = Field(
        default=None, description="At least one of these rules holds."
    )
    all: tuple[Rule, ...] | None = Field(
        default=None, description="Every one of these rules holds."
    )
    not_: Rule | None = Field(default=None, alias="not", description="This rule does not hold.")

    @model_validator(mode="after")
    def _not_empty(self) -> Rule:
        if not self.model_fields_set:
            raise ValueError("an empty rule matches nothing; give at least one criterion")
        return self


class Cache(Model):
    ttl: Duration = Field(description="How long a response is kept (not implemented yet).")
    scope: Literal["public", "user"] = Field(
        default="public", description="Shared between callers, or per user (not implemented yet)."
    )
    vary: tuple[str, ...] = Field(
        default=(), description="Request headers in the cache key (not implemented yet)."
    )


class RateLimit(Model):
    requests: Annotated[int, Field(gt=0)] = Field(
        description="Requests allowed per window (not implemented yet)."
    )
    per: Duration = Field(description="The window (not implemented yet).")
    by: Literal["user", "ip"] = Field(
        default="user", description="Counted per user or per client address (not implemented yet)."
    )


class Route(Model):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")] = Field(
        description="The route's name in logs, metrics and audit lines (`[A-Za-z0-9_.-]+`)."
    )
    match: Match = Field(
        default=Match(), description="Which requests this route takes; first match wins."
    )
    to: Origin = Field(description="Upstream origin, `http://` or `https://`, no path.")
    public: bool = Field(
        default=False,
        description="`true` skips authentication: no assertion, the request is still signed.",
    )
    allow: Rule | None = Field(
        default=None, description="Who may pass; required unless `public: true`."
    )
    deny: Rule | None = Field(
        default=None, description="Who may not; evaluated first and wins over `allow`."
    )
    timeouts: Timeouts = Field(default=Timeouts(), description="Upstream timeouts of this route.")
    max_body: ByteSize | None = Field(
        default=None, description="Largest request body; 413 above it. Absent: `limits.max_body`."
    )
    cache: Cache | None = Field(
        default=None, description="Response cache (accepted, ignored with a warning)."
    )
    rate_limit: RateLimit | None = Field(
        default=None, description="Rate limit (accepted, ignored with a warning)."
    )
    identity_headers: bool = Field(
        default=False,
        description="Also send `Edgeward-User`, `-Email`, `-Groups`, `-Auth`, `-Issuer`, "
        "covered by the signature.",
    )
    preserve_host: bool = Field(
        default=True, description="Forward the client's Host; `false`: the upstream's authority."
    )
    audience: str | None = Field(
        default=None, description="The assertion's `aud`. Absent: the `to` origin."
    )
    idp: str | None = Field(
        default=None,
        description="Which `oidc` provider browsers log in with (not implemented yet).",
    )


class OidcProvider(Model):
    name: Annotated[str, Field(min_length=1)] = Field(description="The provider's name.")
    issuer: Origin | str = Field(description="The provider's issuer URL (OIDC discovery).")
    client_id: str = Field(description="The proxy's OAuth client id.")
    client_secret: str | None = Field(
        default=None, description="The client secret (`client_secret_file` reads it from a file)."
    )
    scopes: tuple[str, ...] = Field(
        default=("openid", "email", "profile"), description="Scopes asked for at login."
    )
    groups_claim: str = Field(
        default="groups", description="The claim that lists the user's groups."
    )
    # Trust the provider's emails without email_verified: true (default: an
    # unverified address never matches emails / email_domains rules).
    allow_unverified_email: bool = Field(
        default=False,
        description="`true`: `emails` rules also match emails without `email_verified`.",
    )


class Bearer(Model):
    issuer: str = Field(description="Exact match with the token's `iss`.")
    audiences: tuple[str, ...] = Field(description="The token's `aud` must contain one of these.")
    jwks_uri: str | None = Field(
        default=None,
        description="Where the issuer's keys are. Absent: OIDC discovery from `issuer`.",
    )
    algorithms: tuple[str, ...] = Field(
        default=("RS256", "ES256", "EdDSA", "PS256"),
        description="Accepted JWS algorithms; the key's type must agree too.",
    )
    leeway: Duration = Field(
        default=30.0, description="Clock skew allowed for `exp`, `nbf` and `iat`."
    )
    groups_claim: str = Field(
        default="groups", description="The claim that lists the caller's groups."
    )
    # Trust this issuer's emails without email_verified: true, for IdPs whose
    # access tokens never carry the claim (default: never trusted).
    allow_unverified_email: bool = Field(
        default=False,
        description="`true`: `emails` and `email_domains` rules also match unverified emails.",
    )


class ServiceToken(Model):
    id: Annotated[str, Field(min_length=1)] = Field(
        description="Sent by the client as `Edgeward-Client-Id`; the subject is `service:<id>`."
    )
    secret_sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] = Field(
        description="SHA-256 (64 hex digits) of the secret sent as `Edgeward-Client-Secret`."
    )
    groups: tuple[str, ...] = Field(default=(), description="Groups the token's caller is in.")


class Signing(Model):
    key_files: tuple[str, ...] = Field(
        default=(),
        description="Private JWK files: the first signs, all are published at `jwks.json`. "
        "Empty: one ephemeral key for the run.",
    )
    algorithm: Literal["EdDSA", "ES256"] = Field(
        default="EdDSA", description="Algorithm of the assertion JWT."
    )
    request_signature: Literal["ed25519", "hmac-sha256"] = Field(
        default="ed25519", description="Algorithm of the RFC 9421 request signature."
    )
    hmac_key: str | None = Field(
        default=None,
        description="Shared key for `hmac-sha256`, known to the backend too "
        "(`hmac_key_file` reads it from a file).",
    )
    digest_max_body: ByteSize = Field(
        default=1024 * 1024,
        description="Bodies up to this size get `Content-Digest` and are signed; "
        "larger ones are streamed with the `edgeward-body-unsigned` tag.",
    )


class Config(Model):
    listen: Address = Field(
        default="127.0.0.1:8080", description="The proxy listener, `host:port`."
    )
    admin_listen: Address = Field(
        default="127.0.0.1:9090",
        description="The admin listener: `/livez`, `/healthz`, `/readyz`, `/metrics`; "
        "never proxied.",
    )
    public_url: Origin = Field(
        default="http://127.0.0.1:8080",
        description="The proxy's public origin: the assertion's `iss`, the service tokens' issuer.",
    )
    store: str = Field(
        default="memory",
        description="`memory`, or `redis://`, `rediss://`, `redis+sentinel://`, `redis+cluster://` "
        "(shared state across workers; Redis not implemented yet).",
    )
    trusted_proxies: tuple[Annotated[Any, AfterValidator(_network)], ...] = Field(
        default=(),
        description="CIDRs whose `X-Forwarded-For/-Proto/-Host` and forward-auth headers "
        "are believed.",
    )
    oidc: tuple[OidcProvider, ...] = Field(
        default=(),
        description="OIDC providers for browser login (accepted, ignored with a warning).",
    )
    bearer: tuple[Bearer, ...] = Field(default=(), description="Issuers of accepted bearer JWTs.")
    service_tokens: tuple[ServiceToken, ...] = Field(
        default=(), description="Static machine credentials."
    )
    signing: Signing = Field(default=Signing(), description="How forwarded requests are signed.")
    session: Session = Field(
        default=Session(), description="Browser sessions (not implemented yet)."
    )
    limits: Limits = Field(default=Limits(), description="Bounds on clients.")
    upstream: Upstream = Field(default=Upstream(), description="The upstream connection pools.")
    shutdown: Shutdown = Field(default=Shutdown(), description="Draining on SIGTERM.")
    log: Log = Field(default=Log(), description="Logging.")
    routes: tuple[Route, ...] = Field(
        default=(), description="The route table; first match wins, none: 404."
    )
