"""``digestflow explain FILE.py[:TARGET] [NODE]``: why each node will run, or is cached."""

from __future__ import annotations

import argparse
from typing import Any

from runner.cli.loader import add_target_arguments, load_targets
from runner.cli.output import CACHE_HELP, add_common, print_json
from runner.plan import CACHE_MODES


def add_parser(sub: Any) -> None:
    p = sub.add_parser("explain", help="why each node will run (first cause) or is cached",
                       description="For each node the next run needs: why it will run "
                       "(the first cause, found by diffing its recipe with the last recorded "
                       "one) or since when it is cached. '*' marks first causes.")
    add_target_arguments(p)
    p.add_argument("node", nargs="?", help="explain only this node id")
    p.add_argument("--cache", choices=CACHE_MODES, default="use",
                   help="the cache mode of the run to explain; " + CACHE_HELP)
    p.add_argument("--all", action="store_true", help="also list nodes that are not needed")
    add_common(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from runner.explain import explain

    targets = load_targets(args.target, args.registry)
    result = explain(targets, args.node, store=args.store, cache=args.cache)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.text(all_nodes=args.all or args.node is not None))
    return 0
