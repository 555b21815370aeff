"""``digestflow index [--stop]``: the store's index actor on a Ray cluster.

The index is a detached Ray actor per store (it outlives drivers and jobs,
so cache hits are shared across them). This shows it, and ``--stop`` removes
it: nothing is lost, the next run rebuilds it from the store.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from runner.cli.output import add_common, print_json
from runner.errors import ValidationError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("index", help="show (or --stop) the store's index actor on a cluster",
                       description="Show the detached index actor that a Ray cluster keeps "
                       "for the store (entries, leases, calls); with --stop, kill it. It "
                       "holds nothing the store does not: the next run rebuilds it.")
    p.add_argument("--address", help="the cluster's address (GCS, e.g. 10.0.0.1:6379; "
                   "default $RAY_ADDRESS). An embedded Ray has no lasting index.")
    p.add_argument("--stop", action="store_true", help="kill the index actor")
    add_common(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from storage import open_store

    address = args.address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ValidationError("give --address (or RAY_ADDRESS) of the Ray cluster whose index "
                              "to show; an embedded local Ray keeps no index after its run")
    uri = open_store(args.store).uri
    from cluster.connect import ensure_ray
    from cluster.index_admin import find_index, stop_index

    ensure_ray(address)
    info = find_index(uri)
    stopped = bool(args.stop and info is not None and stop_index(uri))
    if args.json:
        print_json({"index": info.to_dict() if info else None, "stopped": stopped})
        return 0
    if info is None:
        print(f"no index actor for {uri} on this cluster")
        return 0
    state = "alive" if info.alive else "not answering"
    detail = ", ".join(f"{k} {v}" for k, v in sorted(info.stats.items()))
    print(f"index actor {info.name} (namespace {info.namespace}) for {uri}: {state}"
          + (f"; {detail}" if detail else ""))
    if stopped:
        print("stopped; the next run on this cluster rebuilds it from the store")
    return 0
