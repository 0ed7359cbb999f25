"""Deterministic, cacheable reads: ``GET /api/items/{id}``.

The same id always gives the same bytes, an ETag and ``Cache-Control: public,
max-age=30``, so cache tests can compare a hit with the origin's answer.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel

from demo_backend.problems import problem

router = APIRouter(prefix="/api/items")

FIRST_ID = 1
LAST_ID = 1000
CACHE_CONTROL = "public, max-age=30"
_COLOURS = ("red", "green", "blue", "amber", "violet", "teal", "ochre")


class Item(BaseModel):
    id: int
    name: str
    colour: str
    price_cents: int


def item_for(item_id: int) -> Item:
    """A pure function of the id: no clock, no randomness."""
    return Item(
        id=item_id,
        name=f"item-{item_id:04d}",
        colour=_COLOURS[item_id % len(_COLOURS)],
        price_cents=100 + (item_id * 7919) % 9900,
    )


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 section 13.1.2: weak comparison against a list, or ``*``."""
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.api_route("/{item_id}", methods=["GET", "HEAD"], response_model=None)
async def get_item(
    item_id: Annotated[int, Path()],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    if not FIRST_ID <= item_id <= LAST_ID:
        return problem(404, f"no item {item_id}; ids run from {FIRST_ID} to {LAST_ID}")
    body = item_for(item_id).model_dump_json().encode()
    headers = {"etag": etag_of(body), "cache-control": CACHE_CONTROL}
    if matches(if_none_match, headers["etag"]):
        # RFC 9110 section 15.4.5: 304 repeats ETag and Cache-Control, no content.
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)
