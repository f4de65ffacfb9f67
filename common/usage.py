"""One-line answers to a user's mistakes, shared by the project's commands (pipelines.*, model.*).

A mistake (an input that matches nothing, an option nobody knows, a folder that is no export) ends
the command with one line on stderr, `COMMAND: problem; fix`, and status 1, before anything is
written. `UsageError` is a SystemExit, as argparse's errors are, so Python prints its message and
no traceback; anything else that goes wrong is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
from typing import Any, NoReturn


class UsageError(SystemExit):
    """`command: problem; fix`, the command's last word."""

    def __init__(self, command: str, problem: str, fix: str) -> None:
        super().__init__(f"{command}: {problem}; {fix}")


class CommandParser(argparse.ArgumentParser):
    """argparse, whose errors (an unknown option, a missing or bad value) are one `UsageError` line
    instead of the usage (many lines for a command of many options) and then the error."""

    def __init__(self, command: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.command = command

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.command, message, f"see {self.prog} --help")


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string the parser takes ("--crops-per-image", "-h", ...)."""
    return [option for action in parser._actions for option in action.option_strings]
