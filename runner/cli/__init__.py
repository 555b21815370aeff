"""The ``digestflow`` command. Each subcommand lives in its own module and
registers itself through ``add_parser(subparsers)``; ``main`` dispatches."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from keys.errors import DigestflowError

# Subcommand modules, in --help order. Each defines add_parser(subparsers).
COMMANDS = ("run", "submit", "runs", "explain", "graph", "cache")


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
        return int(args.handler(args) or 0)
    except DigestflowError as err:
        print(f"digestflow {args.command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
