"""Warnings: settings that are valid but almost certainly not what was meant.

Chiefly routes that can never match. Routes are tried in file order and the first
match wins, so a later route whose every request an earlier route also matches is
dead configuration (often a more specific rule placed below a broad one).
Also rules that name a way of signing in nobody can use, and signing settings whose
name says one algorithm while the key in use makes another.

``find_key_warnings`` reads the first signing key, so it runs only in
``edgeward check``; ``find_warnings`` is pure.
"""

from __future__ import annotations

from collections.abc import Iterator

from proxy.config.draft import Draft
from proxy.config.errors import Problem, problem
from proxy.config.schema import Config, Match
from proxy.config.validate import load_signing_keys, route_rules

# RFC 2104 §3: a key shorter than the hash output (32 bytes for SHA-256) weakens HMAC.
MIN_HMAC_KEY_LENGTH = 32


def find_warnings(draft: Draft) -> list[Problem]:
    """Every warning for ``draft``, in a stable order."""
    return [
        *_no_routes(draft),
        *_shadowed_routes(draft),
        *_session_without_oidc(draft),
        *_short_hmac_key(draft),
        *_ephemeral_key_algorithm(draft),
    ]


def find_key_warnings(config: Config) -> list[Problem]:
    """Warnings that need the first signing key read (for ``edgeward check``)."""
    keys, _ = load_signing_keys(config)  # unloadable keys are find_file_errors' business
    if not keys or keys[0][0] != 0:
        return []  # the first key does not load; it is reported as an error
    first = keys[0][1]
    signing = config.signing
    warnings: list[Problem] = []
    if signing.request_signature == "ed25519" and first.http_sig_alg != "ed25519":
        warnings.append(
            problem(
                ("signing", "request_signature"),
                f"says ed25519, but signing.key_files[0] is an {first.jose_alg} key, so "
                f"requests are signed with {first.http_sig_alg}; backends must accept that",
            )
        )
    if signing.algorithm != first.jose_alg:
        warnings.append(
            problem(
                ("signing", "algorithm"),
                f"ignored: assertions are signed with the algorithm of signing.key_files[0] "
                f"({first.jose_alg})",
            )
        )
    return warnings


def covers(earlier: Match, later: Match) -> bool:
    """True when every request ``later`` matches is matched by ``earlier`` too."""
    return (
        _host_covers(earlier.host, later.host)
        and _path_covers(earlier.path, later.path)
        and _methods_cover(earlier.methods, later.methods)
    )


def _host_covers(earlier: str | None, later: str | None) -> bool:
    if earlier is None or earlier == later:
        return True
    if later is None:
        return False
    name = later.partition(":")[0] if ":" not in earlier else later
    if earlier.startswith("*."):
        # One label only: "*.example.com" covers "a.example.com", not "a.b.example.com".
        suffix = earlier[1:]
        label = name.removesuffix(suffix)
        return name.endswith(suffix) and bool(label) and "." not in label and label != "*"
    return name == earlier


def _path_covers(earlier: str, later: str) -> bool:
    # Prefixes match whole segments ("/api" covers "/api/x", not "/apix").
    e, l_ = earlier.rstrip("/"), later.rstrip("/")
    return not e or l_ == e or l_.startswith(e + "/")


def _methods_cover(earlier: tuple[str, ...] | None, later: tuple[str, ...] | None) -> bool:
    if earlier is None:
        return True
    return later is not None and set(later) <= set(earlier)


def _shadowed_routes(draft: Draft) -> Iterator[Problem]:
    for position, (index, route) in enumerate(draft.routes):
        for earlier_index, earlier in draft.routes[:position]:
            if covers(earlier.match, route.match):
                yield problem(
                    ("routes", index, "match"),
                    f"never matches: routes[{earlier_index}] ({earlier.name!r}) comes first "
                    "and matches every request this route would",
                )
                break


def _no_routes(draft: Draft) -> Iterator[Problem]:
    if draft.usable("routes") and not draft.declared_routes:
        yield problem(("routes",), "no routes: every request will get 404")


def _short_hmac_key(draft: Draft) -> Iterator[Problem]:
    key = draft.config.signing.hmac_key
    if draft.usable("signing") and key and len(key.encode()) < MIN_HMAC_KEY_LENGTH:
        yield problem(
            ("signing", "hmac_key"),
            f"shorter than {MIN_HMAC_KEY_LENGTH} bytes; use a random key of at least that size",
        )


def _session_without_oidc(draft: Draft) -> Iterator[Problem]:
    # Sessions come only from browser login (oidc); with none configured an
    # `auth: [session]` criterion can never hold, so the rule is dead.
    if not draft.usable("oidc") or draft.config.oidc:
        return
    for index, route in draft.routes:
        for loc, rule in route_rules(index, route):
            if rule.auth is not None and "session" in rule.auth:
                yield problem(
                    (*loc, "auth"),
                    "session needs browser login, but no oidc provider is configured; "
                    "no request will have a session",
                )


def _ephemeral_key_algorithm(draft: Draft) -> Iterator[Problem]:
    # Without key_files the proxy makes a key of signing.algorithm; an ES256 key
    # signs requests with ecdsa-p256-sha256 whatever request_signature says.
    signing = draft.config.signing
    if not draft.usable("signing") or signing.key_files:
        return
    if signing.request_signature == "ed25519" and signing.algorithm == "ES256":
        yield problem(
            ("signing", "request_signature"),
            "says ed25519, but the generated ES256 key (signing.algorithm) signs requests "
            "with ecdsa-p256-sha256; backends must accept that",
        )
