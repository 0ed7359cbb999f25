"""Streamed request bodies: length and SHA-256 without holding the body in memory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BodyDigest:
    length: int
    sha256: str


async def digest(chunks: AsyncIterator[bytes]) -> BodyDigest:
    """Hash a body chunk by chunk as it arrives; memory stays one chunk deep."""
    hasher = hashlib.sha256()
    length = 0
    async for chunk in chunks:
        hasher.update(chunk)
        length += len(chunk)
    return BodyDigest(length=length, sha256=hasher.hexdigest())
