"""What a policy may look at: the request facts, and the predicate type over them."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from proxy.identity import Identity

ClientIP: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The parts of a request a rule can test, already normalised by the router.

    ``path`` is the normalised path the route matched (never the raw one), and
    ``client_ip`` is the socket peer, or the forwarded client when the peer is a
    trusted proxy; None when unknown (for example a Unix socket).
    """

    method: str
    host: str
    path: str
    client_ip: ClientIP | None


# Built once per config load, called on every request; must be pure and cheap.
Predicate: TypeAlias = Callable[[RequestFacts, Identity | None], bool]
