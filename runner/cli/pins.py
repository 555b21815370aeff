"""``digestflow pin NAME KEY... | --run RUN_ID``, ``unpin NAME``: named gc roots.

``gc`` never evicts a pinned object. ``pin`` with no keys lists the pins.
"""

from __future__ import annotations

import argparse
from typing import Any

from runner.cli.output import add_common, open_store_arg, print_json, table
from runner.errors import ValidationError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("pin", help="keep objects through gc under a name (no args: list pins)",
                       description="Pin stored objects under NAME so `digestflow gc` never "
                       "evicts them: give key prefixes, or --run RUN_ID for every output that "
                       "run used or produced. Pinning NAME again replaces it. Without NAME, "
                       "list the pins.")
    p.add_argument("name", nargs="?", help="the pin's name ([A-Za-z0-9._-])")
    p.add_argument("keys", nargs="*", metavar="KEY", help="a key or unique key prefix (hex)")
    p.add_argument("--run", metavar="RUN_ID",
                   help="pin every output of this recorded run's nodes (id or unique prefix)")
    add_common(p)
    p.set_defaults(handler=pin)
    p = sub.add_parser("unpin", help="remove a pin (its objects become evictable again)",
                       description="Remove the pin NAME; its objects stay stored until gc "
                       "evicts them.")
    p.add_argument("name", help="the pin's name")
    add_common(p, json_flag=False)
    p.set_defaults(handler=unpin)


def pin(args: argparse.Namespace) -> int:
    store = open_store_arg(args)
    if args.name is None:
        return _list(store, args.json)
    keys = _keys(store, args)
    if not keys:
        raise ValidationError(f"pin {args.name!r}: give key prefixes or --run RUN_ID")
    store.pin(args.name, sorted(keys))
    if args.json:
        print_json({"pin": args.name, "keys": sorted(keys)})
    else:
        print(f"pinned {len(keys)} key(s) as {args.name!r}; gc keeps them until "
              f"`digestflow unpin {args.name}`")
    return 0


def _keys(store: Any, args: argparse.Namespace) -> set[str]:
    from runner.cli.cache import resolve_key
    from runner.records import RunHistory

    keys = {resolve_key(store, prefix)[0] for prefix in args.keys}
    if args.run:
        record = RunHistory(store).find(args.run)
        if record is None:
            raise ValidationError(f"no single recorded run matches {args.run!r}")
        keys |= {e["key"] for e in record.nodes.values()
                 if e["status"] in ("executed", "cached")}
    return keys


def _list(store: Any, as_json: bool) -> int:
    pins = store.pins()
    if as_json:
        print_json({name: sorted({k for k, _ in refs}) for name, refs in sorted(pins.items())})
        return 0
    rows = [(name, len({k for k, _ in refs}), ", ".join(sorted({k[:12] for k, _ in refs}))[:60])
            for name, refs in sorted(pins.items())]
    print(table(rows, ("pin", "keys", "key prefixes")) if rows else "no pins")
    return 0


def unpin(args: argparse.Namespace) -> int:
    store = open_store_arg(args)
    if args.name not in store.pins():
        raise ValidationError(f"no pin named {args.name!r}; `digestflow pin` lists them")
    store.unpin(args.name)
    print(f"unpinned {args.name!r}")
    return 0
