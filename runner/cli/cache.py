"""Cache commands: ``stats``, ``ls``, ``show KEY``, ``gc``, ``verify``, ``migrate``; all take
--store/--json."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from runner.cli.output import (
    add_common,
    human_bytes,
    open_store_arg,
    parse_duration,
    parse_size,
    print_json,
    table,
    when,
)
from runner.errors import ValidationError
from runner.peek import NOT_JSON, as_json, describe
from runner.records import prune_runs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("stats", help="objects and bytes in the store, by codec and task",
                       description="Count the store's objects and bytes, in total, by codec "
                       "and by the task that wrote them, and its recorded runs.")
    add_common(p)
    p.set_defaults(handler=stats)
    p = sub.add_parser("ls", help="list stored objects",
                       description="List every stored output, oldest first: key prefix, "
                       "socket, task, codec, size and when it was written.")
    add_common(p)
    p.add_argument("--task", help="only objects written by this task name")
    p.set_defaults(handler=ls)
    p = sub.add_parser("show", help="one key: manifests, recipe and the run that produced it",
                       description="Describe one stored key: each output's codec, size and "
                       "digest, the recipe it was signed from and the run that produced it; "
                       "with --value, the stored values too.")
    p.add_argument("key", help="a key or a unique key prefix (hex)")
    p.add_argument("--value", action="store_true",
                   help="also print each output's value: in full when small, else a summary "
                   "(a table's schema and first rows, an array's shape, dtype, min/mean/max)")
    add_common(p)
    p.set_defaults(handler=show)
    p = sub.add_parser("gc", help="evict least recently used objects down to a size",
                       description="Evict least recently used objects (never those pinned "
                       "with `digestflow pin`) "
                       "until the store holds at most --max-bytes, and/or those unused for "
                       "--older-than; also removes stale temporaries and cutoff aliases "
                       "whose objects are gone.")
    p.add_argument("--max-bytes", type=parse_size, help="target size, e.g. 50G, 500Mi")
    p.add_argument("--older-than", type=parse_duration, help="evict objects unused for, e.g. 7d")
    p.add_argument("--keep-runs", type=int, metavar="N",
                   help="also delete all but the N newest run records (explain history)")
    p.add_argument("--dry-run", action="store_true", help="only report what would go")
    add_common(p)
    p.set_defaults(handler=gc)
    p = sub.add_parser("verify", help="read every object as a run would and report the broken",
                       description="Check every object as a run reads it: manifest (schema), "
                       "codec, size, content digest and pickle authentication tag. Broken "
                       "objects are misses a run recomputes; --repair moves them to "
                       "quarantine/ now.")
    p.add_argument("--repair", action="store_true", help="quarantine broken objects")
    p.add_argument("--rekey", action="store_true",
                   help="instead: re-sign pickles signed with an older listed key under the "
                   "current one, the last step of a key rotation (docs/security.md)")
    add_common(p)
    p.set_defaults(handler=verify)
    p = sub.add_parser("migrate", help="move a store's objects to the current layout",
                       description="Move every object of a store written by an older "
                       "digestflow (layout 1, a directory per key) to the current flat layout "
                       "(2), then mark the store layout 2. The store stays usable meanwhile "
                       "(reads fall back to layout 1 until it is done); interrupted, it "
                       "resumes when run again. Stop older digestflow processes first.")
    p.add_argument("--dry-run", action="store_true", help="only count what would move")
    add_common(p)
    p.set_defaults(handler=migrate)


def _usage(d: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {k: {"objects": u.objects, "bytes": u.bytes} for k, u in sorted(d.items())}


def stats(args: argparse.Namespace) -> int:
    from runner.records import RUNS

    store = open_store_arg(args, readonly=True)
    st = store.stats()
    data = {"store": store.uri, "objects": st.objects, "bytes": st.bytes,
            "by_codec": _usage(st.by_codec), "by_task": _usage(st.by_task),
            "runs": len(store.list_docs(RUNS))}
    if args.json:
        print_json(data)
        return 0
    print(f"{store.uri}: {st.objects} objects, {human_bytes(st.bytes)}, {data['runs']} runs")
    for title in ("by_codec", "by_task"):
        rows = [(name, u["objects"], human_bytes(u["bytes"])) for name, u in data[title].items()]
        print(f"\n{title.replace('_', ' ')}:\n{table(rows, (title[3:], 'objects', 'bytes'))}")
    return 0


def ls(args: argparse.Namespace) -> int:
    store = open_store_arg(args, readonly=True)
    found = sorted((m for m in store.iter_manifests() if not args.task or m.task == args.task),
                   key=lambda m: (m.created, m.key, m.socket))
    if args.json:
        print_json([m.to_dict() for m in found])
        return 0
    rows = [(m.key[:16], m.socket, m.task or "?", m.codec, human_bytes(m.nbytes), when(m.created))
            for m in found]
    print(table(rows, ("key", "socket", "task", "codec", "bytes", "created")))
    return 0


def resolve_key(store: Any, prefix: str) -> tuple[str, list[Any]]:
    """The one key starting with ``prefix`` and its manifests, or a clear error."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        raise ValidationError(f"key {prefix!r}: give at least 4 hex digits of a key")
    found: dict[str, list[Any]] = {}
    for m in store.iter_manifests():
        if m.key.startswith(prefix):
            found.setdefault(m.key, []).append(m)
    if not found:
        raise ValidationError(f"no stored key starts with {prefix!r}")
    if len(found) > 1:
        raise ValidationError(f"key prefix {prefix!r} is ambiguous: "
                              + ", ".join(k[:16] for k in sorted(found)))
    key, manifests = next(iter(found.items()))
    return key, sorted(manifests, key=lambda m: m.socket)


def show(args: argparse.Namespace) -> int:
    from runner.records import RunHistory

    store = open_store_arg(args, readonly=True)
    key, manifests = resolve_key(store, args.key)
    history = RunHistory(store)
    producer = history.producers({key}).get(key)
    seen = producer or next((r for r in history if any(
        e["key"] == key for e in r.nodes.values())), None)
    recipe = history.recipe(seen, key) if seen else None
    node = next((e for e in seen.nodes.values() if e["key"] == key), None) if seen else None
    data = {"key": key, "manifests": [m.to_dict() for m in manifests], "recipe": recipe,
            "run": None if producer is None else {
                "run_id": producer.run_id, "started": producer.started,
                "node": node["id"] if node else None}}
    values = _values(store, key, manifests) if args.value else None
    if args.json:
        if values is not None:
            data["values"] = [_value_json(v) for v in values]
        print_json(data)
        return 0
    print(f"key {key}")
    shown = dict(values or ())
    for m in manifests:
        print(f"  output {m.socket}: {m.codec}, {human_bytes(m.nbytes)}, task {m.task}, "
              f"created {when(m.created)}, digest {m.content_digest[:16]}…")
        if m.summary:
            print("    " + ", ".join(f"{k} {v}" for k, v in m.summary.items() if k != "schema"))
        if m.socket in shown:
            print("    value: " + describe(shown[m.socket]).replace("\n", "\n      "))
    if producer is not None:
        print(f"produced by run {producer.run_id} ({when(producer.started)}), node "
              f"{data['run']['node']}")
    else:
        print("produced by: no run record names it")
    if recipe is not None:
        print(_recipe_text(recipe))
    if values is None:
        print("(--value prints the stored values)")
    return 0


def _values(store: Any, key: str, manifests: list[Any]) -> list[tuple[int, Any]]:
    return [(m.socket, store.get(key, m.socket)) for m in manifests]


def _value_json(item: tuple[int, Any]) -> dict[str, Any]:
    socket, value = item
    shown = as_json(value)
    return ({"socket": socket, "summary": describe(value)} if shown is NOT_JSON
            else {"socket": socket, "value": shown})


def _recipe_text(recipe: dict[str, Any]) -> str:
    lines = ["recipe:", f"  identity  {recipe['identity']}"]
    for e in recipe.get("literals", ()):
        shown = f" = {e['preview']}" if e.get("preview") is not None else ""
        lines.append(f"  literal   {e['name']}{shown}  (digest {e['digest'][:16]}…)")
    for e in recipe.get("links", ()):
        lines.append(f"  link      {e['name']} <- {e['parent'][:16]} output {e['socket']}")
    return "\n".join(lines)


def gc(args: argparse.Namespace) -> int:
    if args.max_bytes is None and args.older_than is None and args.keep_runs is None:
        raise ValidationError("gc: give --max-bytes SIZE, --older-than DURATION "
                              "and/or --keep-runs N")
    if args.keep_runs is not None and args.keep_runs < 0:
        raise ValidationError(f"gc: --keep-runs must be >= 0, got {args.keep_runs}")
    store = open_store_arg(args)
    rep = store.gc(max_bytes=args.max_bytes, older_than=args.older_than, dry_run=args.dry_run)
    pruned = ([] if args.keep_runs is None
              else prune_runs(store, args.keep_runs, dry_run=args.dry_run))
    data = {"evicted": [list(r) for r in rep.evicted], "freed_bytes": rep.freed_bytes,
            "bytes_before": rep.bytes_before, "bytes_after": rep.bytes_after,
            "temporaries": list(rep.temporaries), "aliases": list(rep.aliases),
            "dry_run": rep.dry_run,
            "pruned_runs": pruned}
    if args.json:
        print_json(data)
        return 0
    verb = "would evict" if rep.dry_run else "evicted"
    print(f"{verb} {len(rep.evicted)} objects, {human_bytes(rep.freed_bytes)}: "
          f"{human_bytes(rep.bytes_before)} -> {human_bytes(rep.bytes_after)}; "
          f"{len(rep.temporaries)} temporaries"
          + (f"; {len(rep.aliases)} dangling cutoff aliases" if rep.aliases else "")
          + (f"; {len(pruned)} run records" if args.keep_runs is not None else ""))
    return 0


def verify(args: argparse.Namespace) -> int:
    store = open_store_arg(args, readonly=not (args.repair or args.rekey))
    if args.rekey:
        return rekey(store, args.json)
    issues = store.verify_all(repair=args.repair)
    if args.json:
        print_json([{"key": i.key, "socket": i.socket, "problem": i.problem,
                     "repaired": i.repaired, "path": i.path} for i in issues])
    else:
        for i in issues:
            state = "quarantined" if i.repaired else "broken"
            where = i.path if i.path else f"{i.key[:16]}:{i.socket}"
            print(f"{state} {where}: {i.problem}")
        print(f"{len(issues)} problem(s)" + ("" if args.repair or not issues
                                             else "; run with --repair to quarantine them"))
    return 1 if issues and not args.repair else 0


def rekey(store: Any, as_json: bool) -> int:
    from storage.rekey import rekey as rekey_store

    rep = rekey_store(store)
    if as_json:
        print_json({"key_id": rep.current_id, **rep.counts,
                    "left": [{"key": k, "socket": s, "why": w} for k, s, w in rep.problems]})
        return 0
    for key, socket, why in rep.problems:
        print(f"left {key[:16]}:{socket}: {why}")
    print(f"re-signed {rep.counts['rekeyed']} pickle(s) with key {rep.current_id}; "
          f"{rep.counts['current']} already current, {len(rep.problems)} left alone")
    return 0


def migrate(args: argparse.Namespace) -> int:
    from storage.migrate import migrate as migrate_store

    store = open_store_arg(args, readonly=args.dry_run)
    rep = migrate_store(store, dry_run=args.dry_run)
    if args.json:
        print_json(dataclasses.asdict(rep))
    elif rep.dry_run:
        print(f"would move {rep.moved} object(s) to layout 2 (store layout {rep.layout_before})")
    else:
        print(f"moved {rep.moved} object(s) to layout 2; {rep.duplicates} duplicate(s) dropped, "
              f"{rep.quarantined} unreadable quarantined, {rep.leftovers} leftover file(s) "
              f"removed; store layout {rep.layout_before} -> {rep.layout_after}")
        if rep.remaining:
            print(f"{rep.remaining} layout 1 object(s) remain (written meanwhile?): run "
                  "`digestflow migrate` again")
    return 1 if rep.remaining else 0
