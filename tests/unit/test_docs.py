"""The docs stand alone and stay true: generated reference, every error code, every link.

The product's documentation lives in README.md and docs/; nothing in it may point outside
the repository (RFCs are cited by number), and what can be derived from the code — the
configuration reference, the error codes — is checked against the code.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path

import pytest

from proxy.authn import errors as authn_errors
from proxy.config import reference
from proxy.policy.decide import Reason
from proxy.verify.errors import VerificationError, known_codes

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

# A Markdown link or image target: [text](target) — inline code is stripped first.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_BARE_URL = re.compile(r"\b(?:https?|ftp)://", re.I)


def _prose(page: Path) -> str:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return _CODE_SPAN.sub("", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading slugs, plus explicit ``<a id=...>`` anchors."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    out = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_configuration_reference_is_current() -> None:
    committed = reference.PAGE.read_text(encoding="utf-8") if reference.PAGE.exists() else ""
    assert committed == reference.render(), (
        "docs/configuration.md differs from the config model (proxy/config/schema.py): "
        "run make docs and commit the result"
    )


def test_every_config_key_is_described() -> None:
    text = reference.render()
    undocumented = [line.split("`")[1] for line in text.splitlines() if line.endswith("|  |")]
    assert not undocumented, f"config keys without description= in the model: {undocumented}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_stay_inside_the_repository(page: Path) -> None:
    problems = []
    prose = _prose(page)
    if _BARE_URL.search(prose):
        problems.append("a URL to another site (cite RFCs by number instead)")
    for target in _LINK.findall(prose):
        path, _, anchor = target.partition("#")
        if ":" in path or path.startswith("/"):
            problems.append(f"{target}: not a relative link")
            continue
        dest = (page.parent / path).resolve() if path else page
        if ROOT not in dest.parents and dest != ROOT:
            problems.append(f"{target}: leaves the repository")
        elif not dest.exists():
            problems.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            problems.append(f"{target}: no heading or anchor #{anchor} in {dest.name}")
    assert not problems, f"{page.relative_to(ROOT)}: " + "; ".join(problems)


def test_docs_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in DOCS.glob("*.md") if p.name != "README.md" and p.name not in index]
    assert not missing, f"docs/README.md does not link {missing}"


# --- error codes -------------------------------------------------------------------------


def _proxy_error_codes() -> dict[str, int | None]:
    """Literal codes of every ``ProxyError(status, "code", ...)`` in the package."""
    codes: dict[str, int | None] = {}
    for path in (ROOT / "proxy").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ProxyError"):
                continue
            if len(node.args) < 2:
                continue
            status, code = node.args[0], node.args[1]
            if isinstance(code, ast.Constant) and isinstance(code.value, str):
                fixed = status.value if isinstance(status, ast.Constant) else None
                codes[code.value] = fixed if isinstance(fixed, int) else None
    return codes


def _authn_codes() -> dict[str, int]:
    """Default codes of the AuthError tree and every ``code="..."`` given in proxy/authn."""
    codes: dict[str, int] = {}
    classes = [authn_errors.AuthError]
    while classes:
        cls = classes.pop()
        codes[cls.default_code] = (
            400 if issubclass(cls, authn_errors.InvalidRequest) else cls.status
        )
        classes.extend(cls.__subclasses__())
    for path in (ROOT / "proxy" / "authn").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            cls = getattr(authn_errors, getattr(node.func, "id", ""), None)
            for kw in node.keywords:
                if kw.arg == "code" and isinstance(kw.value, ast.Constant) and cls is not None:
                    codes[kw.value.value] = (
                        400 if issubclass(cls, authn_errors.InvalidRequest) else cls.status
                    )
    return codes


def _policy_codes() -> dict[str, int]:
    # A denial's reason is its code (admission.py); the allow reasons never reach a client
    # and authentication_required is raised as its own ProxyError.
    allowing = {"public_route", "allow_rule_matched", "authentication_required"}
    return {r: 403 for r in typing.get_args(Reason) if r not in allowing}


def _documented(section: str) -> dict[str, str]:
    """code -> status cell of the table under the ``## section`` heading of docs/errors.md."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    part = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", part, re.M)
    return {code: status.strip() for code, status in rows}


def test_every_proxy_error_code_is_documented() -> None:
    emitted: dict[str, int | None] = {**_authn_codes(), **_policy_codes(), **_proxy_error_codes()}
    assert len(emitted) > 30, "the collection found too few codes; did the code move?"
    documented = _documented("Codes of the proxy")
    missing = sorted(set(emitted) - set(documented))
    assert not missing, f"error codes missing from docs/errors.md: {missing}"
    wrong = {
        code: (status, documented[code])
        for code, status in emitted.items()
        if status is not None and str(status) not in documented[code]
    }
    assert not wrong, f"status in docs/errors.md differs from the code (code: actual, doc): {wrong}"


def test_every_verifier_error_code_is_documented() -> None:
    documented = _documented("Codes of the backend verifier")
    missing = sorted(known_codes() - set(documented))
    assert not missing, f"proxy.verify codes missing from docs/errors.md: {missing}"
    wrong = {
        code: VerificationError(code).status
        for code in known_codes()
        if str(VerificationError(code).status) not in documented[code]
    }
    assert not wrong, f"status in docs/errors.md differs from proxy.verify: {wrong}"


def test_no_stale_codes_are_documented() -> None:
    emitted = {**_authn_codes(), **_policy_codes(), **_proxy_error_codes()}
    stale = sorted(set(_documented("Codes of the proxy")) - set(emitted))
    assert not stale, f"docs/errors.md lists codes the proxy no longer emits: {stale}"
    stale = sorted(set(_documented("Codes of the backend verifier")) - known_codes())
    assert not stale, f"docs/errors.md lists codes proxy.verify no longer has: {stale}"
