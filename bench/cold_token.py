"""µs per bearer authentication: a cold (never seen) token vs a cached one.

Calls ``proxy.authn.BearerAuthenticator.authenticate`` in-process against a local
discovery + JWKS server (the keys are fetched once, before timing). *Cold*: every
call gets a different, valid token, so each one is parsed, its signature verified
and its claims checked. *Cached*: the same token again and again, answered from
the verified-token cache. RS256 is the headline (what most IdPs issue); ES256 and
EdDSA are shown for comparison.

Each figure is the best of ``--batches`` batches of CPU time (``process_time``):
on a shared machine the best batch is the one closest to the uncontended cost,
where a mean of wall time mostly measures the neighbours.

    .venv/bin/python bench/cold_token.py [-n 1000] [--cached 100000] [--batches 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from proxy.authn.bearer import BearerAuthenticator
from proxy.config.schema import Bearer
from tests.oidc_server import KeyServer, SigningKey, new_key

AUDIENCE = "api://bench"


@dataclass(frozen=True)
class Timing:
    alg: str
    cold_us: float
    cached_us: float


def tokens(idp: KeyServer, key: SigningKey, count: int) -> list[str]:
    now = time.time()
    return [
        idp.sign(idp.claims(now, aud=AUDIENCE, jti=f"bench-{i}", exp=int(now) + 3600), key)
        for i in range(count)
    ]


async def per_call_us(authn: BearerAuthenticator, batch: Sequence[str]) -> float:
    start = time.process_time()
    for token in batch:
        await authn.authenticate(token)
    return (time.process_time() - start) / len(batch) * 1e6


async def best_us(authn: BearerAuthenticator, calls: Sequence[str], batches: int) -> float:
    size = max(1, len(calls) // batches)
    return min([await per_call_us(authn, calls[i : i + size]) for i in range(0, len(calls), size)])


async def measure(idp: KeyServer, key: SigningKey, cold: int, cached: int, batches: int) -> Timing:
    config = Bearer(issuer=idp.issuer, audiences=(AUDIENCE,), jwks_uri=idp.jwks_uri)
    fresh = tokens(idp, key, cold + 1)
    async with httpx.AsyncClient(timeout=10) as http:
        authn = BearerAuthenticator([config], http)
        await authn.authenticate(fresh[-1])  # fetch the JWKS outside the timing
        cold_us = await best_us(authn, fresh[:cold], batches)
        cached_us = await best_us(authn, [fresh[0]] * cached, batches)
    return Timing(key.alg, cold_us, cached_us)


async def run(cold: int, cached: int, batches: int) -> list[Timing]:
    keys = [new_key(alg) for alg in ("RS256", "ES256", "EdDSA")]
    with KeyServer(keys) as idp:
        return [await measure(idp, key, cold, cached, batches) for key in keys]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--cold", type=int, default=1000, help="distinct tokens per algorithm")
    p.add_argument("--cached", type=int, default=100_000, help="repeats of one token")
    p.add_argument("--batches", type=int, default=20, help="report the best of this many")
    args = p.parse_args()
    print("| alg | cold µs/authenticate | cached µs/authenticate | cold / cached |")
    print("|---|---:|---:|---:|")
    for t in asyncio.run(run(args.cold, args.cached, args.batches)):
        ratio = t.cold_us / t.cached_us
        print(f"| {t.alg} | {t.cold_us:.1f} | {t.cached_us:.2f} | {ratio:,.0f}x |")


if __name__ == "__main__":
    main()
