"""``digestflow runs [RUN_ID]``: recent runs from the store's run records, or one run's nodes."""

from __future__ import annotations

import argparse
from typing import Any

from runner.cli.output import add_common, human_bytes, open_store_arg, print_json, table, when
from runner.errors import ValidationError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("runs", help="list recent runs (or one run's nodes)",
                       description="List the runs recorded in the store, newest first; "
                       "with RUN_ID (or a unique prefix), that run's nodes.")
    p.add_argument("run_id", nargs="?",
                   help="show this run's nodes (an id, a unique prefix, or its hex suffix)")
    p.add_argument("--limit", "-n", type=int, default=20, help="how many runs (default 20)")
    add_common(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from runner.records import RunHistory

    history = RunHistory(open_store_arg(args))
    if args.run_id:
        record = history.find(args.run_id)
        if record is None:
            raise ValidationError(f"no single recorded run matches {args.run_id!r}")
        return _one(record, args.json)
    records = [r for _, r in zip(range(args.limit), history, strict=False)]
    if args.json:
        print_json([r.to_dict() for r in records])
        return 0
    rows = []
    for r in records:
        c = r.counts()
        rows.append((r.run_id, when(r.started), f"{r.seconds:.2f}", c.get("executed", 0),
                     c.get("cached", 0), c.get("failed", 0), r.cache, ",".join(r.targets)[:40]))
    print(table(rows, ("run", "started", "seconds", "executed", "cached", "failed", "cache",
                       "targets")))
    return 0


def _one(record: Any, as_json: bool) -> int:
    if as_json:
        print_json(record.to_dict())
        return 0
    print(f"run {record.run_id}: started {when(record.started)}, {record.seconds:.2f} s, "
          f"cache={record.cache}, executor {record.executor or '?'}")
    rows = [(e["id"], e["task"], e["status"], e["key"][:12], f"{e['seconds']:.3f}",
             human_bytes(e["bytes"]), e.get("error") or "") for e in record.nodes.values()]
    print(table(rows, ("node", "task", "status", "key", "seconds", "bytes", "error")))
    return 0
