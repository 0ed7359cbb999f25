"""The live configuration: everything a request reads that a reload may change, as one value.

A ``Snapshot`` is built whole from one validated config (routes and their
compiled policies, the authenticators, trusted proxies, body limits, signing
keys and options) and never changes after. The app holds the current one in a
single attribute that a reload replaces in one assignment; each request reads
it once, so it runs start to finish on one config version, never on a mix,
and a request in flight when a reload lands finishes on the snapshot it began
with. Process-level resources (sockets, upstream pool, control-plane HTTP
client, JSON log) live in ``Services`` and are shared by every snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from proxy.admission import Admission
from proxy.authn import BearerAuthenticator, ServiceTokenAuthenticator
from proxy.body import BodyLimits
from proxy.config.schema import Config
from proxy.headers import IPNetwork
from proxy.metrics import JWKS_REFRESHES
from proxy.runtime import RouteTable, Services
from proxy.sign import Signer
from proxy.signing import AssertionMinter, KeySet, RequestSigner

log = logging.getLogger("edgeward")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One validated config, compiled for the hot path; immutable, swapped whole on reload.

    Holds the route table (with compiled policies), the admission stage (bearer and
    service-token authenticators), trusted proxies, body limits and the signer with
    its keys. Values a request reads on every call are hoisted here once per config.
    """

    config: Config  # as applied: restart-only keys hold the values the process started with
    table: RouteTable
    admission: Admission
    trusted_proxies: tuple[IPNetwork, ...]
    keys: KeySet
    signer: Signer
    # Read on every request: hoisted out of the config once per snapshot.
    access_log: bool
    body_limits: BodyLimits
    digest_max_body: int

    @classmethod
    def build(
        cls, config: Config, services: Services, previous: Snapshot | None = None
    ) -> Snapshot:
        """Everything ``config`` implies; raises on a policy or key that cannot be used.

        ``previous`` is the snapshot this one replaces: issuers whose key source is
        unchanged keep their fetched keys, and without ``signing.key_files`` the
        process keeps signing with the key it has.
        """
        _not_yet_enforced(config)
        table = RouteTable(config)  # compiles every policy: errors surface here
        bearer = (
            BearerAuthenticator(
                config.bearer,
                services.http,
                on_jwks_refresh=_count_jwks_refresh,
                previous=previous.admission.bearer if previous is not None else None,
            )
            if config.bearer
            else None
        )
        tokens = (
            ServiceTokenAuthenticator(config.service_tokens, issuer=config.public_url)
            if config.service_tokens
            else None
        )
        if config.signing.key_files:
            keys = KeySet.from_files(config.signing.key_files)
        elif previous is not None:
            keys = previous.keys
        else:
            keys = KeySet.ephemeral(config.signing.algorithm)
        minter = AssertionMinter(keys, issuer=config.public_url)
        return cls(
            config=config,
            table=table,
            admission=Admission(bearer, tokens, services.log),
            trusted_proxies=tuple(config.trusted_proxies),
            keys=keys,
            signer=Signer(minter, _request_signer(config, keys)),
            access_log=config.log.access,
            body_limits=BodyLimits.of(config.limits),
            digest_max_body=config.signing.digest_max_body,
        )


def _request_signer(config: Config, keys: KeySet) -> RequestSigner:
    if config.signing.request_signature == "hmac-sha256":
        assert config.signing.hmac_key is not None  # validated with the config
        return RequestSigner(hmac_key=config.signing.hmac_key.encode())
    return RequestSigner(keys.signing)


def _count_jwks_refresh(issuer: str, result: str) -> None:
    JWKS_REFRESHES.labels(issuer, result).inc()


def _not_yet_enforced(config: Config) -> None:
    """Say loudly which configured route features this build does not enforce yet."""
    for i, route in enumerate(config.routes):
        for key in ("cache", "rate_limit"):
            if getattr(route, key) is not None:
                log.warning("routes[%d].%s is not implemented in this build and is ignored", i, key)
