"""Request-smuggling corpus over raw sockets against a real server process.

Every ambiguous framing must get 400 with ``Connection: close`` and a closed
connection, and the app must never see the request (RFC 9112 sections 6.1, 6.3).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Served, exchange, read_until_closed, serving

HEAD = b"POST /echo HTTP/1.1\r\nHost: a\r\n"
CHUNKED_BODY = b"5\r\nhello\r\n0\r\n\r\n"

CORPUS = {
    "content-length with transfer-encoding": HEAD
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
    + CHUNKED_BODY,
    "chunk size with trailing space": HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
    "chunk size with 0x prefix": HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "transfer-encoding xchunked": HEAD + b"Transfer-Encoding: xchunked\r\n\r\n" + CHUNKED_BODY,
    "transfer-encoding chunked, identity": HEAD
    + b"Transfer-Encoding: chunked, identity\r\n\r\n"
    + CHUNKED_BODY,
    "two transfer-encoding headers": HEAD
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
    + CHUNKED_BODY,
    "two differing content-lengths": HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "content-length list": HEAD + b"Content-Length: 5, 5\r\n\r\nhello",
    "signed content-length": HEAD + b"Content-Length: +5\r\n\r\nhello",
    "obs-fold continuation": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n",
    "NUL in a header value": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A: o\x00ne\r\n\r\n",
    "space before colon": b"GET /echo HTTP/1.1\r\nHost: a\r\nX-A : one\r\n\r\n",
    "space before colon in transfer-encoding": HEAD
    + b"Transfer-Encoding : chunked\r\n\r\n"
    + CHUNKED_BODY,
    "bare LF line ends": b"GET /echo HTTP/1.1\nHost: a\n\n",
    "bare CR in the head": b"GET /echo HTTP/1.1\r\nHost: a\rX-A: one\r\n\r\n",
    "control character in a name": b"GET /echo HTTP/1.1\r\nHost: a\r\nX\x01A: one\r\n\r\n",
    "space in the request target": b"GET /ec ho HTTP/1.1\r\nHost: a\r\n\r\n",
    "HTTP/0.9 request line": b"GET /echo\r\n\r\n",
    "unknown HTTP version": b"GET /echo HTTP/1.2\r\nHost: a\r\n\r\n",
    "chunk data longer than its size": HEAD
    + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
}


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with serving() as served:
        yield served


def requests_seen(server: Served) -> int:
    return int(httpx.get(server.url("/count"), timeout=5).json()["requests"])


@pytest.mark.parametrize("raw", CORPUS.values(), ids=CORPUS.keys())
def test_ambiguous_framing_is_refused_and_closed(server: Served, raw: bytes) -> None:
    before = requests_seen(server)
    result = exchange(server.port, raw)
    assert result.status == 400, result.data
    assert "connection: close" in result.head
    assert "content-type: application/problem+json" in result.head
    assert json.loads(result.body)["status"] == 400
    assert result.closed
    # Only the second /count reached the app, never the malformed request.
    assert requests_seen(server) == before + 1


def test_well_formed_chunked_request_is_served(server: Served) -> None:
    result = exchange(
        server.port,
        HEAD + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + CHUNKED_BODY,
    )
    assert result.status == 200, result.data
    assert json.loads(result.body)["body"] == 5


def test_chunk_extension_and_final_chunked_coding_are_served(server: Served) -> None:
    raw = HEAD + b"Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n"
    result = exchange(server.port, raw + b"5;ext=1\r\nhello\r\n0\r\n\r\n")
    assert result.status == 200, result.data
    assert json.loads(result.body)["body"] == 5


def test_pipelined_requests_are_answered_in_order(server: Served) -> None:
    first = HEAD + b"Content-Length: 3\r\n\r\nabc"
    second = b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    result = exchange(server.port, first + second)
    assert result.data.count(b"HTTP/1.1 200 OK") == 2
    bodies = [json.loads(body) for body in re.findall(rb"\{[^}]*\}", result.data)]
    assert [(b["method"], b["body"]) for b in bodies] == [("POST", 3), ("GET", 0)]


def test_bad_chunk_after_the_app_started_ends_the_request(server: Served) -> None:
    """A framing error in a later read: the app sees a disconnect, the client a 400."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):  # the app is waiting for more body
            sock.recv(1)
        sock.sendall(b"zz\r\n")
        result = read_until_closed(sock, 5)
    assert result.status == 400
    assert "connection: close" in result.head
    assert result.closed
