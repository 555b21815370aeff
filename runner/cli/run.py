"""``digestflow run FILE.py[:TARGET] | GRAPH.json --registry MODULE``."""

from __future__ import annotations

import argparse
from typing import Any

from runner.cli.loader import add_target_arguments, load_targets
from runner.cli.output import CACHE_HELP
from runner.plan import CACHE_MODES


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run a pipeline, executing only what is not cached",
                       description="Run a pipeline file's TARGETS (or FILE.py:NAME), or a "
                       "JSON graph with --registry, on Ray; prints a per-task summary and "
                       "the targets' values (small ones in full, tables and arrays summarised).")
    add_target_arguments(p)
    add_run_options(p)
    p.add_argument("--no-progress", action="store_true",
                   help="no live progress display (it is shown only on a terminal anyway)")
    p.add_argument("--json", action="store_true",
                   help="print the run report as JSON (with the JSON-able target values)")
    p.set_defaults(handler=handle)


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="store URI (default $DIGESTFLOW_STORE or ./.digestflow)")
    p.add_argument("--address", help="Ray address (default: connected / RAY_ADDRESS / embedded)")
    p.add_argument("--cache", choices=CACHE_MODES, default="use", help=CACHE_HELP)
    p.add_argument("--executor", choices=("ray", "inline"), default="ray",
                   help="ray = Ray tasks (default); inline = one at a time in this process, "
                   "for debugging")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors")


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console

    from runner.cli.values import print_values, shown_values
    from runner.progress import Progress
    from runner.run import run
    from runner.summary import render_failures, render_summary

    targets = load_targets(args.target, args.registry)
    quiet = args.quiet or args.json
    progress = None if quiet or args.no_progress else Progress()  # only draws on a terminal
    result = run(targets, store=args.store, address=args.address, cache=args.cache,
                 executor=args.executor, raise_on_error=False, progress=progress)
    errors = Console(stderr=True)
    shown = shown_values(targets, result)
    if args.json:
        _print_json(result, shown)
    if quiet:
        render_failures([r for r in result.report if r.status == "failed"], errors)
    else:
        render_summary(result, Console(), errors=errors)
        print_values(shown)
    return 1 if result.failed else 0


def _print_json(result: Any, shown: list[Any]) -> None:
    from runner.cli.output import print_json
    from runner.summary import summarize

    print_json({"run_id": result.run_id, "summary": summarize(result).to_dict(),
                "values": [s.to_dict() for s in shown],
                "nodes": [r.to_dict() for r in result.report]})
