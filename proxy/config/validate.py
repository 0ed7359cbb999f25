"""Cross-field checks: rules that need more than one value of the file to decide.

Each check is a small pure function from a ``Draft`` to problems; ``find_errors``
runs them in a fixed order and skips a check when a section it relies on already
failed the schema (that section's problem is reported already, and guessing from
its default would only add a misleading line). Reading whether a key file exists
is the only thing ``find_errors`` does to the outside world, and it only reads.

``find_file_errors`` goes further for ``edgeward check``: it parses the signing keys
and the CA bundle the server loads at start. It is kept out of ``find_errors`` so
that loading a config (and every policy reload) does not parse key material.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from proxy.authn.keys import ALGORITHMS
from proxy.config.draft import Draft
from proxy.config.errors import Loc, Problem, problem
from proxy.config.schema import Config, Route, Rule
from proxy.policy.compile import RuleError, compile_tree
from proxy.policy.criteria import email_domain
from proxy.signing.keys import KeyFileError, SigningKey, load_key_file
from proxy.upstream.transport import Origin

Check = Callable[[Draft], Iterable[Problem]]

STORE_SCHEMES = ("redis", "rediss", "redis+sentinel", "redis+cluster")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})


def find_errors(draft: Draft) -> list[Problem]:
    """Every cross-field error in ``draft``, in a stable order."""
    return [p for check in _CHECKS if draft.usable(*check.needs) for p in check.run(draft)]


def find_file_errors(config: Config) -> list[Problem]:
    """Errors in the files the server parses at start: signing keys and the CA bundle.

    Reads only. Files that do not exist are left to ``find_errors``, which says so.
    """
    return [*_key_file_errors(config), *_ca_file_errors(config)]


def load_signing_keys(config: Config) -> tuple[list[tuple[int, SigningKey]], list[Problem]]:
    """``(index, key)`` of every loadable ``signing.key_files`` entry, and a problem per
    entry that exists but does not load."""
    keys: list[tuple[int, SigningKey]] = []
    errors: list[Problem] = []
    for index, path in enumerate(config.signing.key_files):
        if not os.path.isfile(path):
            continue  # reported by key_files_exist
        try:
            keys.append((index, load_key_file(path)))
        except KeyFileError as exc:
            errors.append(problem(("signing", "key_files", index), str(exc)))
    return keys, errors


def route_rules(index: int, route: Route) -> Iterator[tuple[Loc, Rule]]:
    """Every rule of ``route`` with its location, nested ``any``/``all``/``not`` included."""
    for key in ("allow", "deny"):
        rule: Rule | None = getattr(route, key)
        if rule is not None:
            yield from _nested(("routes", index, key), rule)


def _nested(loc: Loc, rule: Rule) -> Iterator[tuple[Loc, Rule]]:
    yield loc, rule
    for key in ("any", "all"):
        subs: tuple[Rule, ...] = getattr(rule, key) or ()
        for i, sub in enumerate(subs):
            yield from _nested((*loc, key, i), sub)
    if rule.not_ is not None:
        yield from _nested((*loc, "not"), rule.not_)


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
    try:
        parts = urlsplit(store)
    except ValueError:  # "redis://[": an unclosed IPv6 literal (the URL is not echoed)
        yield problem(("store",), "not a valid URL (is a [ of an IPv6 host left open?)")
        return
    if parts.scheme not in STORE_SCHEMES:
        yield problem(
            ("store",),
            "expected memory or a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL",
        )
    elif not parts.hostname:
        yield problem(
            ("store",), f"a {parts.scheme}:// URL needs a host, as in redis://host:6379/0"
        )


def policies_compile(draft: Draft) -> Iterator[Problem]:
    # The server compiles every rule at start and on reload; a rule it refuses
    # (an empty any/all, criteria that are all null) must fail here first.
    for index, route in draft.routes:
        for key in ("allow", "deny"):
            rule: Rule | None = getattr(route, key)
            if rule is None:
                continue
            try:
                compile_tree(rule, f"routes[{index}].{key}")
            except RuleError as exc:
                yield Problem(exc.path, exc.message)


def emails_well_formed(draft: Draft) -> Iterator[Problem]:
    # An address with two "@" never matches (parsers disagree on its domain), and a
    # domain in `emails` never matches an address: both are mistakes, not policy.
    for index, route in draft.routes:
        for loc, rule in route_rules(index, route):
            for i, email in enumerate(rule.emails or ()):
                if email.count("@") > 1:
                    yield problem((*loc, "emails", i), f"{email!r} has more than one @")
                elif email_domain(email) is None:
                    yield problem(
                        (*loc, "emails", i),
                        f"{email!r} is not an address like alice@example.com "
                        "(a whole domain goes in email_domains)",
                    )
            for i, domain in enumerate(rule.email_domains or ()):
                if "@" in domain:
                    yield problem(
                        (*loc, "email_domains", i),
                        f"{domain!r} is not a domain (addresses go in emails)",
                    )


def bearer_algorithms(draft: Draft) -> Iterator[Problem]:
    # RFC 8725 §3.1: only algorithms the key types support; never "none" or HS*,
    # which would let a public key (or nothing) pass as the verification secret.
    supported = ", ".join(ALGORITHMS)
    for index, issuer in enumerate(draft.config.bearer):
        if not issuer.algorithms:
            yield problem(("bearer", index, "algorithms"), "empty: no token could ever be accepted")
        for i, alg in enumerate(issuer.algorithms):
            if alg in ALGORITHMS:
                continue
            why = (
                "bearer tokens are verified with public keys only"
                if alg.lower() == "none" or alg.upper().startswith("HS")
                else "not supported"
            )
            yield problem(
                ("bearer", index, "algorithms", i), f"{alg!r}: {why} (choose from {supported})"
            )


def unique_bearer_issuers(draft: Draft) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, issuer in enumerate(draft.config.bearer):
        if issuer.issuer in seen:
            yield problem(
                ("bearer", index, "issuer"),
                f"issuer {issuer.issuer!r} is already configured by bearer[{seen[issuer.issuer]}]",
            )
        else:
            seen[issuer.issuer] = index


def unique_service_token_ids(draft: Draft) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, token in enumerate(draft.config.service_tokens):
        if token.id in seen:
            yield problem(
                ("service_tokens", index, "id"),
                f"id {token.id!r} is already used by service_tokens[{seen[token.id]}]",
            )
        else:
            seen[token.id] = index


def upstream_origins(draft: Draft) -> Iterator[Problem]:
    for index, route in draft.routes:
        try:
            Origin.parse(route.to)
        except ValueError as exc:
            yield problem(("routes", index, "to"), f"cannot be used as an upstream: {exc}")


def _key_file_errors(config: Config) -> Iterator[Problem]:
    keys, errors = load_signing_keys(config)
    yield from errors
    first: dict[str, int] = {}
    for index, key in keys:
        if key.kid in first:
            # Backends pick the key by kid, so two keys with one kid cannot both verify.
            yield problem(
                ("signing", "key_files", index),
                f"key id {key.kid!r} is already used by signing.key_files[{first[key.kid]}]",
            )
        first.setdefault(key.kid, index)


def _ca_file_errors(config: Config) -> Iterator[Problem]:
    path = config.upstream.ca_file
    if path is None or not os.path.isfile(path):
        return  # reported by ca_file_exists
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError) as exc:
        yield problem(("upstream", "ca_file"), f"not a PEM CA bundle: {exc}")


@dataclass(frozen=True)
class _Check:
    run: Check
    needs: tuple[str, ...]  # top-level sections the check reads


_CHECKS: tuple[_Check, ...] = (
    _Check(distinct_listeners, ("listen", "admin_listen")),
    _Check(store_url, ("store",)),
    _Check(unique_oidc_names, ("oidc",)),
    _Check(bearer_algorithms, ("bearer",)),
    _Check(unique_bearer_issuers, ("bearer",)),
    _Check(unique_service_token_ids, ("service_tokens",)),
    _Check(hmac_key_present, ("signing",)),
    _Check(key_files_exist, ("signing",)),
    _Check(ca_file_exists, ("upstream",)),
    _Check(unique_route_names, ("routes",)),
    _Check(known_idps, ("oidc", "routes")),
    _Check(authentication_available, ("oidc", "bearer", "service_tokens", "routes")),
    _Check(rules_fit_public, ("routes",)),
    _Check(per_user_needs_user, ("routes",)),
    _Check(upstream_origins, ("routes",)),
    _Check(policies_compile, ("routes",)),
    _Check(emails_well_formed, ("routes",)),
)
