"""The ``digestflow`` command. Each subcommand lives in its own module and
registers itself through ``add_parser(subparsers)``; ``main`` dispatches."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from keys.errors import DigestflowError

# Subcommand modules, in --help order. Each defines add_parser(subparsers).
COMMANDS = ("run", "submit", "logs", "runs", "explain", "graph", "cache", "pins", "index")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digestflow",
        description="Run task graphs on Ray and never compute the same thing twice.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"runner.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except DigestflowError as err:
        print(f"digestflow {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `digestflow runs | head`: the reader has what it wanted
        _silence_stdout()
        return 141  # as if killed by SIGPIPE, like other Unix tools


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's exit-time flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured): nothing to flush
        pass
