"""The configuration as plain data for logs, with every secret replaced by ``***``."""

from __future__ import annotations

from typing import Any

from proxy.config.fields import SECRET_KEYS
from proxy.config.schema import Config

MASK = "***"


def redact(config: Config) -> dict[str, Any]:
    """``config`` as a JSON-ready dict (keys as written in the file, ``not`` included)
    where ``client_secret``, ``hmac_key`` and ``secret_sha256`` read ``***``."""
    data: dict[str, Any] = _mask(config.model_dump(mode="json", by_alias=True))
    return data


def _mask(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: MASK if k in SECRET_KEYS and v is not None else _mask(v) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_mask(item) for item in node]
    return node
