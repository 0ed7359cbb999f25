"""Run ``proxy.server.run`` as a real process.

Usage: ``python -m tests.apps.serve CONFIG_JSON [WORKERS] [FACTORY]``.
"""

from __future__ import annotations

import json
import sys

from proxy.config.schema import Config
from proxy.server import run
from tests.apps import factory


def main(argv: list[str]) -> int:
    config = Config.model_validate(json.loads(argv[1]))
    workers = int(argv[2]) if len(argv) > 2 else 1
    build = getattr(factory, argv[3]) if len(argv) > 3 else factory.build
    return run(config, build, workers=workers)


if __name__ == "__main__":  # spawned workers import this module without running it
    sys.exit(main(sys.argv))
