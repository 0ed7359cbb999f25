"""proxy.verify stands alone: importing it in a fresh interpreter loads no other proxy module."""

from __future__ import annotations

import subprocess
import sys


def test_verify_imports_nothing_else_from_the_proxy() -> None:
    allowed = "{'proxy', 'proxy.wire', 'proxy.identity'}"
    code = (
        "import sys, proxy.verify, proxy.verify.fastapi\n"
        "bad = [m for m in sys.modules if m.startswith('proxy.')"
        f" and not m.startswith('proxy.verify') and m not in {allowed}]\n"
        "assert not bad, bad\n"
        "assert 'proxy.verify.verifier' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
