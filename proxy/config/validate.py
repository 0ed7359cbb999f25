"""Cross-field checks: rules that need more than one value of the file to decide.

Each check is a small pure function from a ``Draft`` to problems; ``find_errors``
runs them in a fixed order and skips a check when a section it relies on already
failed the schema (that section's problem is reported already, and guessing from
its default would only add a misleading line). Reading whether a key file exists
is the only thing here that touches the outside world, and it only reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from proxy.config.draft import Draft
from proxy.config.errors import Problem, problem
from proxy.config.schema import Config

Check = Callable[[Draft], Iterable[Problem]]

STORE_SCHEMES = ("redis", "rediss", "redis+sentinel", "redis+cluster")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})


def find_errors(draft: Draft) -> list[Problem]:
    """Every cross-field error in ``draft``, in a stable order."""
    return [p for check in _CHECKS if draft.usable(*check.needs) for p in check.run(draft)]


def shared_state_required(config: Config) -> bool:
    """True when requests of one user must see the same state in every worker:
    sessions (browser login), cached responses or rate-limit counters."""
    return bool(config.oidc) or any(r.cache or r.rate_limit for r in config.routes)


def unique_route_names(draft: Draft) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, name in draft.route_names:
        if name in first:
            yield problem(
                ("routes", index, "name"),
                f"route name {name!r} is already used by routes[{first[name]}]",
            )
        else:
            first[name] = index


def unique_oidc_names(draft: Draft) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, provider in enumerate(draft.config.oidc):
        if provider.name in seen:
            yield problem(
                ("oidc", index, "name"),
                f"provider name {provider.name!r} is already used by oidc[{seen[provider.name]}]",
            )
        else:
            seen[provider.name] = index


def distinct_listeners(draft: Draft) -> Iterator[Problem]:
    # The admin listener must never be reachable as the proxy (SPEC: "never proxied").
    proxy_host, _, proxy_port = draft.config.listen.rpartition(":")
    admin_host, _, admin_port = draft.config.admin_listen.rpartition(":")
    hosts_overlap = proxy_host == admin_host or {proxy_host, admin_host} & _WILDCARD_HOSTS
    if proxy_port == admin_port and hosts_overlap:
        yield problem(("admin_listen",), "must differ from listen (admin is never proxied)")


def known_idps(draft: Draft) -> Iterator[Problem]:
    names = [p.name for p in draft.config.oidc]
    for index, route in draft.routes:
        if route.idp is not None and route.idp not in names:
            known = ", ".join(names) if names else "none configured"
            yield problem(
                ("routes", index, "idp"),
                f"no oidc provider named {route.idp!r} (known: {known})",
            )


def authentication_available(draft: Draft) -> Iterator[Problem]:
    config = draft.config
    if config.oidc or config.bearer or config.service_tokens:
        return
    for index, route in draft.routes:
        if not route.public:
            yield problem(
                ("routes", index),
                "route requires authentication but no oidc, bearer or service_tokens is configured",
            )


def rules_fit_public(draft: Draft) -> Iterator[Problem]:
    for index, route in draft.routes:
        if route.public:
            for key in ("allow", "deny"):
                if getattr(route, key) is not None:
                    yield problem(
                        ("routes", index, key),
                        f"public: true skips authentication, so {key} would never apply; "
                        f"remove {key} or public: true",
                    )
        elif route.allow is None:
            yield problem(
                ("routes", index, "allow"),
                "no allow rule: every request would be denied; add allow or public: true",
            )


def per_user_needs_user(draft: Draft) -> Iterator[Problem]:
    for index, route in draft.routes:
        if not route.public:
            continue
        if route.rate_limit is not None and route.rate_limit.by == "user":
            yield problem(
                ("routes", index, "rate_limit", "by"),
                "a public route has no user to count by; use by: ip",
            )
        if route.cache is not None and route.cache.scope == "user":
            yield problem(
                ("routes", index, "cache", "scope"),
                "a public route has no user to cache for; use scope: public",
            )


def hmac_key_present(draft: Draft) -> Iterator[Problem]:
    signing = draft.config.signing
    if signing.request_signature == "hmac-sha256" and not signing.hmac_key:
        yield problem(
            ("signing", "hmac_key"),
            "required when request_signature is hmac-sha256 (give hmac_key or hmac_key_file)",
        )


def key_files_exist(draft: Draft) -> Iterator[Problem]:
    for index, path in enumerate(draft.config.signing.key_files):
        if not os.path.isfile(path):
            yield problem(("signing", "key_files", index), f"no such file: {path}")


def ca_file_exists(draft: Draft) -> Iterator[Problem]:
    path = draft.config.upstream.ca_file
    if path is not None and not os.path.isfile(path):
        yield problem(("upstream", "ca_file"), f"no such file: {path}")


def store_url(draft: Draft) -> Iterator[Problem]:
    store = draft.config.store
    if store == "memory":
        return
    parts = urlsplit(store)
    if parts.scheme not in STORE_SCHEMES:
        yield problem(
            ("store",),
            "expected memory or a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL",
        )
    elif not parts.hostname:
        yield problem(
            ("store",), f"a {parts.scheme}:// URL needs a host, as in redis://host:6379/0"
        )


@dataclass(frozen=True)
class _Check:
    run: Check
    needs: tuple[str, ...]  # top-level sections the check reads


_CHECKS: tuple[_Check, ...] = (
    _Check(distinct_listeners, ("listen", "admin_listen")),
    _Check(store_url, ("store",)),
    _Check(unique_oidc_names, ("oidc",)),
    _Check(hmac_key_present, ("signing",)),
    _Check(key_files_exist, ("signing",)),
    _Check(ca_file_exists, ("upstream",)),
    _Check(unique_route_names, ("routes",)),
    _Check(known_idps, ("oidc", "routes")),
    _Check(authentication_available, ("oidc", "bearer", "service_tokens", "routes")),
    _Check(rules_fit_public, ("routes",)),
    _Check(per_user_needs_user, ("routes",)),
)
