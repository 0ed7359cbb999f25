"""The path-normalisation corpus: one canonical form, or a refusal."""

import pytest

from proxy.paths import BadTarget, canonical_host, normalize_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"/", "/"),
        (b"/api/items/1", "/api/items/1"),
        (b"/a//b", "/a/b"),
        (b"//admin/", "/admin/"),
        (b"/a/./b", "/a/b"),
        (b"/a/b/../c", "/a/c"),
        (b"/public/../admin/", "/admin/"),
        (b"/public/%2E%2e/admin/", None),
        (b"/..", "/"),
        (b"/../../admin", "/admin"),
        (b"/a/.", "/a/"),
        (b"/a/..", "/"),
        (b"/%61dmin/", "/admin/"),
        (b"/%41%42c", "/ABc"),
        (b"/caf%c3%a9", "/caf%C3%A9"),
        (b"/a%20b", "/a%20b"),
        (b"/.well-known/x", "/.well-known/x"),
        (b"/a/.hidden", "/a/.hidden"),
    ],
)
def test_normalises(raw: bytes, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(BadTarget):
            normalize_path(raw)
    else:
        assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"/%2e%2e/admin",
        b"/admin%2f..",
        b"/a%2Fb",
        b"/a%5cb",
        b"/a\\b",
        b"/admin;jsessionid=1",
        b"/a%3bb",
        b"/a#frag",
        b"/a\x00b",
        b"/a%00b",
        b"/a%0ab",
        b"/a\tb",
        b"/a b",
        b"/a%7fb",
        b"/a%252e%252e/",
        b"/a%",
        b"/a%g1",
        b"*",
        b"http://evil.example/",
        b"admin",
        b"/caf\xc3\xa9",
    ],
)
def test_refuses_ambiguous(raw: bytes) -> None:
    with pytest.raises(BadTarget):
        normalize_path(raw)


@pytest.mark.parametrize(
    ("host", "scheme", "expected"),
    [
        ("Example.COM", "http", "example.com"),
        ("example.com.", "http", "example.com"),
        ("example.com:80", "http", "example.com"),
        ("example.com:443", "https", "example.com"),
        ("example.com:443", "http", "example.com:443"),
        ("example.com:8080", "https", "example.com:8080"),
        ("EXAMPLE.com.:8080", "http", "example.com:8080"),
        ("127.0.0.1:8080", "http", "127.0.0.1:8080"),
        ("[::1]:80", "http", "[::1]"),
        ("[::1]:8080", "http", "[::1]:8080"),
    ],
)
def test_canonical_host(host: str, scheme: str, expected: str) -> None:
    assert canonical_host(host, scheme) == expected


@pytest.mark.parametrize(
    "host", ["", "exa mple.com", "a..b", "example.com:99999", "example.com:x", "[::1", "a/b", "a@b"]
)
def test_refuses_bad_host(host: str) -> None:
    with pytest.raises(BadTarget):
        canonical_host(host, "http")
