"""Operational log records (reloads, warnings) as JSON lines on stdout.

Access and audit lines are written by ``JsonLog`` on the hot path; this module
only routes the standard ``logging`` records of the ``edgeward`` and ``proxy``
loggers to the same stream in the same shape.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "type": "log",
            "ts": round(record.created if record.created else time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:  # the traceback is for the operator, in the same line
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


_LOGGERS = ("edgeward", "proxy")


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    set_level(level)


def set_level(level: str) -> None:
    """The level of the proxy's own loggers (``log.level``; a reload may change it)."""
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
