"""Operational log records are one JSON line each, tracebacks included."""

from __future__ import annotations

import logging
import sys

import orjson

from proxy.logs import JsonFormatter


def test_exception_goes_into_the_same_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.getLogger("edgeward.test").makeRecord(
        "edgeward.test", logging.ERROR, __file__, 1, "failed %s", ("x",), exc_info
    )
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = orjson.loads(text)
    assert line["level"] == "error" and line["message"] == "failed x"
    assert "ValueError: boom" in line["exception"]
