"""Warnings: settings that are valid but almost certainly not what was meant.

Chiefly routes that can never match. Routes are tried in file order and the first
match wins, so a later route whose every request an earlier route also matches is
dead configuration (often a more specific rule placed below a broad one).
"""

from __future__ import annotations

from collections.abc import Iterator

from proxy.config.draft import Draft
from proxy.config.errors import Problem, problem
from proxy.config.schema import Match

# RFC 2104 §3: a key shorter than the hash output (32 bytes for SHA-256) weakens HMAC.
MIN_HMAC_KEY_LENGTH = 32


def find_warnings(draft: Draft) -> list[Problem]:
    """Every warning for ``draft``, in a stable order."""
    return [*_no_routes(draft), *_shadowed_routes(draft), *_short_hmac_key(draft)]


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
