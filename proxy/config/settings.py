"""The process's operating settings: client limits, the upstream pool, shutdown, log, sessions.

Split from ``proxy.config.schema`` (which composes them into ``Config``) to keep each
module about one part of the file. ``Model`` is the base of every config model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from proxy.config.units import ByteSize, Duration


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Session(Model):
    ttl: Duration = Field(
        default=8 * 3600.0, description="Longest browser session (not implemented yet)."
    )
    idle_ttl: Duration = Field(
        default=3600.0, description="Idle session lifetime (not implemented yet)."
    )


class MinBodyRate(Model):
    """The slowest request body accepted, as Kestrel's MinRequestBodyDataRate.

    An idle timeout alone lets a client hold a connection with one byte per
    ``body_timeout``; the rate bounds the whole body's duration by its size.
    """

    bytes_per_second: ByteSize = Field(
        default=240,
        description="Slowest accepted body rate; slower bodies get 408. `0` turns it off.",
    )
    grace: Duration = Field(
        default=5.0, description="Waiting for the body this long is free; then the rate applies."
    )

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
    max_body: ByteSize = Field(
        default=10 * 1024 * 1024,
        description="Default largest request body per route; 413 above it, before reading it.",
    )
    max_header_bytes: ByteSize = Field(
        default=32 * 1024, description="Request line plus headers; 431 above it. Fixed at start."
    )
    header_timeout: Duration = Field(
        default=10.0,
        description="The whole request head must arrive within this; 408. Fixed at start.",
    )
    body_timeout: Duration = Field(
        default=30.0, description="Longest wait for the next request-body bytes; 408."
    )
    min_body_rate: MinBodyRate | None = Field(
        default=MinBodyRate(), description="Minimum body data rate; `null` turns the check off."
    )
    # Idle client connections close after this. Longer than common load-balancer
    # idle timeouts (60 s), so the balancer closes first and never races a request
    # into a closing connection (it would answer 502).
    keep_alive: Duration = Field(
        default=65.0,
        description="Idle client connections close after this; longer than load-balancer "
        "idle timeouts (60 s) so the balancer closes first. Fixed at start.",
    )


class Upstream(Model):
    max_connections: Annotated[int, Field(gt=0)] = Field(
        default=512, description="Connections per upstream origin."
    )
    max_idle: Annotated[int, Field(ge=0)] = Field(
        default=64, description="Idle keep-alive connections kept per origin."
    )
    idle_timeout: Duration = Field(
        default=60.0, description="Idle upstream connections close after this."
    )
    ca_file: str | None = Field(
        default=None, description="Extra CA bundle (PEM) for `https` upstreams."
    )
    verify_tls: bool = Field(
        default=True, description="Verify the certificates of `https` upstreams."
    )


class Shutdown(Model):
    drain_delay: Duration = Field(
        default=5.0,
        description="On SIGTERM, `/readyz` answers 503 this long before the listeners close.",
    )
    grace: Duration = Field(
        default=30.0, description="Then in-flight requests and streams get this long."
    )


class Log(Model):
    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Level of `type: log` lines."
    )
    access: bool = Field(default=True, description="Write one `type: access` line per request.")
