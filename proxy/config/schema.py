"""The configuration's shape: frozen models, validated once at start.

Every model forbids unknown keys: a typo such as ``alow:`` must be an error, never
a silently weaker policy. Cross-field checks that need the whole file live in
``proxy.config.validate``; this module only describes single values.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from proxy.config.units import ByteSize, Duration

AuthName = Literal["session", "bearer", "service_token"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


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
    connect: Duration = 5.0
    read: Duration = 30.0


class Match(Model):
    host: str | None = None  # exact host, or "*.example.com" for one label
    path: str = "/"  # prefix on the normalised path
    methods: tuple[str, ...] | None = None

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

    authenticated: bool | None = None
    emails: tuple[str, ...] | None = None
    email_domains: tuple[str, ...] | None = None
    groups: tuple[str, ...] | None = None
    claims: dict[str, str | int | bool | list[str | int | bool]] | None = None
    methods: tuple[str, ...] | None = None
    ip_ranges: tuple[Annotated[Any, AfterValidator(_network)], ...] | None = None
    auth: tuple[AuthName, ...] | None = None
    any: tuple[Rule, ...] | None = None
    all: tuple[Rule, ...] | None = None
    not_: Rule | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _not_empty(self) -> Rule:
        if not self.model_fields_set:
            raise ValueError("an empty rule matches nothing; give at least one criterion")
        return self


class Cache(Model):
    ttl: Duration
    scope: Literal["public", "user"] = "public"
    vary: tuple[str, ...] = ()


class RateLimit(Model):
    requests: Annotated[int, Field(gt=0)]
    per: Duration
    by: Literal["user", "ip"] = "user"


class Route(Model):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    match: Match = Match()
    to: Origin
    public: bool = False
    allow: Rule | None = None
    deny: Rule | None = None
    timeouts: Timeouts = Timeouts()
    max_body: ByteSize | None = None  # None: limits.max_body
    cache: Cache | None = None
    rate_limit: RateLimit | None = None
    identity_headers: bool = False
    preserve_host: bool = True
    audience: str | None = None
    idp: str | None = None


class OidcProvider(Model):
    name: Annotated[str, Field(min_length=1)]
    issuer: Origin | str
    client_id: str
    client_secret: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    groups_claim: str = "groups"
    # Trust the provider's emails without email_verified: true (default: an
    # unverified address never matches emails / email_domains rules).
    allow_unverified_email: bool = False


class Bearer(Model):
    issuer: str
    audiences: tuple[str, ...]
    jwks_uri: str | None = None
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA", "PS256")
    leeway: Duration = 30.0
    groups_claim: str = "groups"
    # Trust this issuer's emails without email_verified: true, for IdPs whose
    # access tokens never carry the claim (default: never trusted).
    allow_unverified_email: bool = False


class ServiceToken(Model):
    id: Annotated[str, Field(min_length=1)]
    secret_sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]
    groups: tuple[str, ...] = ()


class Signing(Model):
    key_files: tuple[str, ...] = ()
    algorithm: Literal["EdDSA", "ES256"] = "EdDSA"
    request_signature: Literal["ed25519", "hmac-sha256"] = "ed25519"
    hmac_key: str | None = None
    digest_max_body: ByteSize = 1024 * 1024


class Session(Model):
    ttl: Duration = 8 * 3600.0
    idle_ttl: Duration = 3600.0


class MinBodyRate(Model):
    """The slowest request body accepted, as Kestrel's MinRequestBodyDataRate.

    An idle timeout alone lets a client hold a connection with one byte per
    ``body_timeout``; the rate bounds the whole body's duration by its size.
    """

    bytes_per_second: ByteSize = 240  # 0 turns the check off
    grace: Duration = 5.0  # seconds of waiting for the body before the rate applies

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, v: Any) -> Any:
        if not isinstance(v, dict | MinBodyRate):
            raise ValueError("expected {bytes_per_second: 240, grace: 5s}, or null for no minimum")
        return v

    @field_validator("grace")
    @classmethod
    def _grace(cls, v: float, info: ValidationInfo) -> float:
        # With no grace the very first wait would already be below any rate.
        if v <= 0 and info.data.get("bytes_per_second"):
            raise ValueError("must be longer than 0s while bytes_per_second is above 0")
        return v


class Limits(Model):
    max_body: ByteSize = 10 * 1024 * 1024
    max_header_bytes: ByteSize = 32 * 1024
    header_timeout: Duration = 10.0  # whole request head must arrive within this
    body_timeout: Duration = 30.0  # longest wait for the next request-body bytes
    min_body_rate: MinBodyRate | None = MinBodyRate()  # null turns the check off
    # Idle client connections close after this. Longer than common load-balancer
    # idle timeouts (60 s), so the balancer closes first and never races a request
    # into a closing connection (it would answer 502).
    keep_alive: Duration = 65.0


class Upstream(Model):
    max_connections: Annotated[int, Field(gt=0)] = 512  # per origin
    max_idle: Annotated[int, Field(ge=0)] = 64  # per origin
    idle_timeout: Duration = 60.0
    ca_file: str | None = None  # extra CA bundle for https upstreams
    verify_tls: bool = True


class Shutdown(Model):
    drain_delay: Duration = 5.0  # /readyz says 503 this long before listeners close
    grace: Duration = 30.0  # in-flight requests get this long to finish


class Log(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    access: bool = True


class Config(Model):
    listen: Address = "127.0.0.1:8080"
    admin_listen: Address = "127.0.0.1:9090"
    public_url: Origin = "http://127.0.0.1:8080"
    store: str = "memory"
    trusted_proxies: tuple[Annotated[Any, AfterValidator(_network)], ...] = ()
    oidc: tuple[OidcProvider, ...] = ()
    bearer: tuple[Bearer, ...] = ()
    service_tokens: tuple[ServiceToken, ...] = ()
    signing: Signing = Signing()
    session: Session = Session()
    limits: Limits = Limits()
    upstream: Upstream = Upstream()
    shutdown: Shutdown = Shutdown()
    log: Log = Log()
    routes: tuple[Route, ...] = ()
