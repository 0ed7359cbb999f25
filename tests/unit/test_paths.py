"""The path-normalisation corpus: one canonical form, or a refusal."""

import pytest

from proxy.paths import BadTarget, canonical_host, normalize_path, split_target


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
        (b"/%f0%9f%98%80/%e2%82%ac", "/%F0%9F%98%80/%E2%82%AC"),  # 4- and 3-byte UTF-8
        (b"/%ef%bf%bd", "/%EF%BF%BD"),  # U+FFFD itself is valid
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
        ("example.com:080", "http", "example.com"),  # the default port, however spelled
        ("example.com:0443", "https", "example.com"),
        ("example.com:08080", "http", "example.com:8080"),
    ],
)
def test_canonical_host(host: str, scheme: str, expected: str) -> None:
    assert canonical_host(host, scheme) == expected


@pytest.mark.parametrize(
    "host",
    [
        "",
        "exa mple.com",
        "a..b",
        "example.com:99999",
        "example.com:x",
        "[::1",
        "a/b",
        "a@b",
        "a:\u00b2",  # superscript two: str.isdigit() says yes, int() says no
        "a:\u0663",  # Arabic-Indic three: a digit to int(), not a port to HTTP
        "a:+80",
        "a: 80",
    ],
)
def test_refuses_bad_host(host: str) -> None:
    with pytest.raises(BadTarget):
        canonical_host(host, "http")


@pytest.mark.parametrize(
    "raw",
    [
        b"/%c0%af",  # overlong "/"
        b"/admin%c0%afx",
        b"/%c1%9c",  # overlong "\\"
        b"/%e0%80%af",  # overlong "/", three bytes
        b"/%f0%80%80%af",  # overlong "/", four bytes
        b"/%c0%ae%c0%ae/admin",  # overlong ".."
        b"/%ed%a0%80",  # UTF-16 surrogate
        b"/%ed%bf%bf",
        b"/%80",  # lone continuation byte
        b"/a%bfb",
        b"/%e2%82",  # truncated sequence
        b"/%c3",
        b"/%c3/%a9",  # a sequence broken by a raw "/"
        b"/%f4%90%80%80",  # above U+10FFFF
        b"/%f5%80%80%80",
        b"/%fe",
        b"/%ff",
    ],
)
def test_refuses_encoded_bytes_that_are_not_utf8(raw: bytes) -> None:
    with pytest.raises(BadTarget, match="UTF-8"):
        normalize_path(raw)


@pytest.mark.parametrize(
    ("target", "scheme", "expected"),
    [
        (b"/a/b?x=1?y", "http", (None, b"/a/b", b"x=1?y")),
        (b"/", "http", (None, b"/", b"")),
        (b"http://a.example/x?q=1", "http", (b"a.example", b"/x", b"q=1")),
        (b"HTTP://A.example:8080/x", "http", (b"A.example:8080", b"/x", b"")),
        (b"https://a.example/x", "https", (b"a.example", b"/x", b"")),
        (b"http://a.example", "http", (b"a.example", b"/", b"")),
        (b"http://a.example?q", "http", (b"a.example", b"/", b"q")),
        (b"http://[::1]:8/x", "http", (b"[::1]:8", b"/x", b"")),
        # Not absolute-form: left for normalize_path to refuse.
        (b"*", "http", (None, b"*", b"")),
        (b"a.example:443", "http", (None, b"a.example:443", b"")),
        (b"//a.example/x", "http", (None, b"//a.example/x", b"")),
    ],
)
def test_split_target(
    target: bytes, scheme: str, expected: tuple[bytes | None, bytes, bytes]
) -> None:
    assert split_target(target, scheme) == expected


@pytest.mark.parametrize(
    ("target", "scheme"),
    [
        (b"/a#frag", "http"),
        (b"/public#/../admin", "http"),
        (b"/a?q#frag", "http"),
        (b"/a?q=#", "http"),
        (b"http://a.example/x#f", "http"),
        (b"https://a.example/x", "http"),  # not the connection's scheme
        (b"http://a.example/x", "https"),
        (b"ftp://a.example/x", "http"),
        (b"http://user@a.example/x", "http"),  # userinfo (RFC 9110 §4.2.4)
        (b"http://user:pw@a.example/x", "http"),
        (b"http:///x", "http"),  # no host (RFC 9110 §4.2.1)
        (b"http://", "http"),
    ],
)
def test_split_target_refuses(target: bytes, scheme: str) -> None:
    with pytest.raises(BadTarget):
        split_target(target, scheme)
