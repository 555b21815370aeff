"""Run records: what each run did, kept in the store for ``runs``, ``explain`` and ``graph``.

Every run writes two small JSON documents beside the objects (``put_doc``):
``runs/<name>`` (run id, times, targets, cache mode, one entry per node: id,
task, key, status, seconds, bytes, error) and ``recipes/<name>`` (the recipe
of every key the run signed and did not find stored: identity, literal
digests + previews, parent keys + sockets; never data). A stored key's recipe
is in the record of the run that computed it (``RunHistory.recipe`` looks
there), so a fully cached rerun writes no recipes. ``<name>`` is ``<start µs, zero padded>.<run id>``
so listing the documents lists runs in the order they started.

Policy: a record that cannot be written (read-only store) is logged, never
fails the run; a record that cannot be read is skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runner.events import RunFinished

log = logging.getLogger("digestflow")

RUNS = "runs"
RECIPES = "recipes"
FOUND = ("cached", "unneeded")  # statuses whose recipes live with the run that computed them
FORMAT = "digestflow.run/1"
_TRACEBACK_LINES = 30


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One recorded run; ``nodes`` maps node id -> its entry (a dict, JSON as stored)."""

    name: str
    run_id: str
    started: float
    finished: float
    targets: tuple[str, ...] = ()
    cache: str = "use"
    executor: str = ""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipeline: str = ""  # pipeline_of(graph): which pipeline ran (explain's baseline)

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.nodes.values():
            out[entry["status"]] = out.get(entry["status"], 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "run_id": self.run_id, "started": self.started,
            "finished": self.finished, "targets": list(self.targets), "cache": self.cache,
            "executor": self.executor, "pipeline": self.pipeline,
            "nodes": list(self.nodes.values()),
        }

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> RunRecord:
        """The record stored as ``data``; ValueError when it is not one (so that ``runs``
        and ``explain`` skip it instead of failing on it later)."""
        if not isinstance(data, dict):
            raise ValueError(f"a run record is a JSON object, not {type(data).__name__}")
        nodes = data.get("nodes", [])
        if not isinstance(nodes, list) or not all(_is_entry(n) for n in nodes):
            raise ValueError("'nodes' must be a list of objects with string id, key and status")
        return cls(
            name=name, run_id=str(data["run_id"]), started=float(data["started"]),
            finished=float(data["finished"]), targets=tuple(data.get("targets", ())),
            cache=str(data.get("cache", "use")), executor=str(data.get("executor", "")),
            nodes={n["id"]: n for n in nodes},
            pipeline=str(data.get("pipeline", "")),
        )


def _is_entry(node: Any) -> bool:
    return isinstance(node, dict) and all(isinstance(node.get(f), str)
                                          for f in ("id", "key", "status"))


def pipeline_of(graph: Any) -> str:
    """What makes two runs "the same pipeline": node ids, their tasks and how they
    link, never literals or code (those change between runs of one pipeline)."""
    from blake3 import blake3

    shape = sorted(
        (node.id, node.task.name, sorted((n, p, s) for n, (p, s) in node.links.items()))
        for node in graph
    )
    return blake3(repr(shape).encode()).hexdigest()[:16]


def doc_name(run_id: str, started: float) -> str:
    return f"{int(started * 1_000_000):017d}.{run_id}"


def build_record(result: Any) -> RunRecord:
    """The record of a finished ``Result`` (tracebacks cut to their tail)."""
    nodes = {}
    for rep in result.report:
        entry = {"id": rep.id, "task": rep.task, "key": rep.key, "status": rep.status,
                 "seconds": round(rep.seconds, 6), "bytes": rep.bytes,
                 "bytes_read": rep.bytes_read}
        if rep.error is not None:
            entry["error"] = rep.error
            entry["traceback"] = tail(rep.traceback or "", _TRACEBACK_LINES)
        if rep.same_as:
            entry["same_as"] = rep.same_as
        if rep.waited_for:
            entry["waited_for"] = rep.waited_for
        if rep.reused_from:
            entry["reused_from"] = rep.reused_from
        nodes[rep.id] = entry
    targets = tuple(nid if s is None else f"{nid}:{s}" for nid, s in result.targets)
    graph = result.graph
    return RunRecord(name=doc_name(result.run_id, result.started), run_id=result.run_id,
                     started=result.started, finished=result.finished, targets=targets,
                     cache=result.cache, executor=result.executor, nodes=nodes,
                     pipeline=pipeline_of(graph) if graph is not None else "")


def record_run(event: RunFinished) -> None:
    """Subscriber: store the record of every finished run in its store."""
    write_run(event.result)


def write_run(result: Any) -> str | None:
    """Store the run record and the recipes of every key it signed; the doc name or None."""
    record = build_record(result)
    store, signer = result.store, result.signer
    try:
        from keys import Key

        recipes = {}
        if signer is not None:
            for entry in record.nodes.values():
                key = entry["key"]
                if key not in recipes and entry["status"] not in FOUND:
                    recipes[key] = signer.recipe(Key.fromhex(key)).to_dict()
        store.put_doc(RECIPES, record.name, {"run_id": record.run_id, "recipes": recipes})
        store.put_doc(RUNS, record.name, record.to_dict())  # last: a listed run has recipes
    except Exception as err:  # observability must never fail the run it observes
        log.warning("digestflow: could not write the run record of %s: %s", record.run_id, err)
        return None
    return record.name


def prune_runs(store: Any, keep: int, *, dry_run: bool = False) -> list[str]:
    """Delete all but the ``keep`` newest run records (and their recipes); their names.

    The run document goes first, so a listed run always still has its recipes.
    ``explain`` then compares against the kept runs only.
    """
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
    names = sorted(store.list_docs(RUNS), reverse=True)[keep:]
    if not dry_run:
        for name in names:
            store.delete_doc(RUNS, name)
            store.delete_doc(RECIPES, name)
    return names


def when(ts: float) -> str:
    """A local timestamp as people read it in run lists and explanations."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


class RunHistory:
    """Recorded runs of one store, newest first, read lazily and cached.

    With ``pipeline``, ``entries`` (a node's past, for explain) reads only the runs
    of that pipeline when the store has any, so two pipelines sharing a store and
    node ids are never compared with each other.
    """

    def __init__(self, store: Any, pipeline: str | None = None) -> None:
        self.store = store
        self.pipeline = pipeline
        self._own: bool | None = None
        self._names: list[str] | None = None
        self._records: dict[str, RunRecord | None] = {}
        self._recipes: dict[str, dict[str, Any]] = {}
        self._signed: dict[str, RunRecord] | None = None  # key -> newest run with its recipe

    def names(self) -> list[str]:
        if self._names is None:
            try:
                self._names = sorted(self.store.list_docs(RUNS), reverse=True)
            except Exception as err:
                log.warning("digestflow: cannot list run records: %s", err)
                self._names = []
        return self._names

    def load(self, name: str) -> RunRecord | None:
        if name not in self._records:
            try:
                self._records[name] = RunRecord.from_dict(name, self.store.get_doc(RUNS, name))
            except Exception as err:  # a broken record is skipped, not fatal
                log.warning("digestflow: skipping run record %s: %s", name, err)
                self._records[name] = None
        return self._records[name]

    def __iter__(self) -> Iterator[RunRecord]:
        for name in self.names():
            record = self.load(name)
            if record is not None:
                yield record

    def latest(self) -> RunRecord | None:
        return next(iter(self), None)

    def find(self, run_id: str) -> RunRecord | None:
        """The run with this id, or the only one whose id starts or ends with ``run_id``."""
        ids = {n: n.split(".", 1)[-1] for n in self.names()}
        exact = [n for n, rid in ids.items() if rid == run_id]
        hits = exact or [n for n, rid in ids.items()
                         if rid.startswith(run_id) or rid.endswith(run_id)]
        return self.load(hits[0]) if len(hits) == 1 else None

    def entries(self, node_id: str, *, before: str | None = None) -> Iterator[tuple[RunRecord, dict]]:
        """(run, entry) for ``node_id`` in runs older than the run named ``before``, newest first."""
        if self.pipeline and self._own is None:
            self._own = any(r.pipeline == self.pipeline for r in self)
        for record in self:
            if self._own and record.pipeline != self.pipeline:
                continue
            if before is not None and record.name >= before:
                continue
            entry = record.nodes.get(node_id)
            if entry is not None:
                yield record, entry

    def producers(self, keys: set[str]) -> dict[str, RunRecord]:
        """key -> the newest run that executed and stored it (one pass, newest first)."""
        out: dict[str, RunRecord] = {}
        for record in self:
            if len(out) == len(keys):
                break
            if record.cache not in ("use", "refresh"):
                continue
            for entry in record.nodes.values():
                key = entry["key"]
                if key in keys and key not in out and entry["status"] in ("executed", "reused") \
                        and not entry.get("same_as"):
                    out[key] = record
        return out

    def recipe(self, record: RunRecord, key: str) -> dict[str, Any] | None:
        """The recipe of ``key`` as ``record`` saw it: from its own document, or, for a key
        that run found stored, from the newest run that kept its recipe."""
        recipe = self._recipes_of(record.name).get(key)
        if recipe is None:
            if self._signed is None:
                self._signed = {}
                for run in self:
                    for entry in run.nodes.values():
                        if entry["status"] not in FOUND:
                            self._signed.setdefault(entry["key"], run)
            kept = self._signed.get(key)
            if kept is not None and kept.name != record.name:
                recipe = self._recipes_of(kept.name).get(key)
        return recipe if isinstance(recipe, dict) else None

    def _recipes_of(self, name: str) -> dict[str, Any]:
        if name not in self._recipes:
            try:
                recipes = self.store.get_doc(RECIPES, name)["recipes"]
            except Exception:
                recipes = {}
            self._recipes[name] = recipes if isinstance(recipes, dict) else {}
        return self._recipes[name]
