"""The commands' logging: one line per event with its time and level, the command's own INFO lines,
Beam's warnings only (the local runner forwards every worker's INFO lines: type-hint conversions,
state caches)."""
from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def command_logging(level: int = logging.INFO) -> None:
    """Sets up a command's logging to stderr; call once, from its `main`."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)


def announce(line: str) -> None:
    """A command's closing line: on stdout, where a user reads it, and in the log."""
    logging.info(line)
    print(line, flush=True)
