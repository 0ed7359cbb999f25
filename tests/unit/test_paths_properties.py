"""Properties of path normalisation over generated paths (hypothesis).

Whatever the input, an accepted path is canonical: normalising it again changes
nothing, and it holds no segment a server could resolve differently.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.paths import BadTarget, normalize_path

# Segments mixing the characters that matter: dots, slashes, percent-encodings
# (of unreserved and reserved bytes), semicolons, backslashes, controls.
PIECES = st.sampled_from(
    [
        "a",
        "admin",
        ".",
        "..",
        "",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%61",
        "%41dmin",
        "%25",
        "%3b",
        ";",
        "\\",
        "%00",
        "%20",
        "~",
        "-",
        "_",
        "%7e",
        "%c3%a9",
        "x.y",
        "...",
        "%",
    ]
)
PATHS = st.lists(PIECES, max_size=8).map(lambda parts: ("/" + "/".join(parts)).encode())


@settings(max_examples=3000, deadline=None)
@given(PATHS)
def test_accepted_paths_are_canonical(raw: bytes) -> None:
    try:
        path = normalize_path(raw)
    except BadTarget:
        return
    assert path.startswith("/")
    assert "//" not in path
    segments = path.split("/")
    assert "." not in segments and ".." not in segments
    assert normalize_path(path.encode()) == path  # idempotent
    lowered = path.lower()
    for refused in ("%2e", "%2f", "%5c", "%25", "%3b", "%00", "\\", ";"):
        assert refused not in lowered


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    try:
        path = normalize_path(b"/" + raw)
    except BadTarget:
        return
    assert path.isascii() and path.startswith("/")
