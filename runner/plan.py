"""Planning: which nodes a run must execute, given their keys and the index.

Walk back from the targets and stop at cached nodes (X1: only what changed
runs). A volatile task, and everything below it, is never served by its
reference key: the volatile node runs in every run that needs it, and early
cutoff decides whether its descendants run again (``runner.cutoff``). Nodes with equal keys collapse onto the first of them (X2: identical
work runs once). Cached parents of running nodes become ``Cached`` inputs the
worker reads itself; running parents become ``Upstream`` inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from runner.contracts import Cached, Cutoff, NodeJob, Upstream
from runner.graph import Graph
from runner.walk import below

CACHE_MODES = ("use", "refresh", "read", "off")


@dataclass(kw_only=True)
class Plan:
    order: list[str]                    # every node, topological
    keys: dict[str, str]                # node id -> key hex
    canon: dict[str, str]               # node id -> the node that computes its key
    run: list[str]                      # canonical nodes to execute, topological
    cached: set[str] = field(default_factory=set)    # needed and served from the store
    found: Mapping[tuple[str, int], Any] = field(default_factory=dict)  # manifests seen
    volatile: set[str] = field(default_factory=set)  # volatile nodes and all below them

    def __post_init__(self) -> None:
        self.run_set = set(self.run)

    def parents(self, graph: Graph, node_id: str) -> set[str]:
        """Canonical running parents of a running node (scheduler dependencies)."""
        return {self.canon[p] for p in graph[node_id].parents if self.canon[p] in self.run_set}

    def children(self, graph: Graph) -> dict[str, list[str]]:
        """Running node -> its running children (the reverse of ``parents``)."""
        out: dict[str, list[str]] = {nid: [] for nid in self.run}
        for nid in self.run:
            for parent in self.parents(graph, nid):
                out[parent].append(nid)
        return out

    def without(self, graph: Graph, nodes: Iterable[str]) -> tuple[Plan, list[str]]:
        """This plan minus ``nodes`` and every running node below them; (plan, the ones below)."""
        roots = [n for n in nodes if n in self.run_set]
        if not roots:
            return self, []
        under = below(roots, self.children(graph))
        gone = set(roots) | set(under)
        return replace(self, run=[n for n in self.run if n not in gone]), under

    def job(self, graph: Graph, node_id: str, *, write: bool,
            cutoff: Cutoff | None = None, lease: Any = None) -> NodeJob:
        node = graph[node_id]
        inputs: dict[str, Any] = dict(node.literals)
        for name, (parent, socket) in node.links.items():
            canon = self.canon[parent]
            if canon in self.run_set:
                inputs[name] = Upstream(canon, socket)
            else:
                manifest = self.found.get((self.keys[canon], socket))
                digest = manifest.content_digest if manifest is not None else None
                inputs[name] = Cached(self.keys[canon], socket, digest)
        return NodeJob(node_id=node_id, task=node.task, key=self.keys[node_id], inputs=inputs,
                       write=write, cutoff=cutoff, lease=lease)


def stored(graph: Graph, nid: str, key: str, found: Mapping[tuple[str, int], Any]) -> bool:
    """Whether every output socket of node ``nid`` (a caching task) is in ``found``."""
    return stored_bytes(graph, nid, key, found) is not None


def stored_bytes(graph: Graph, nid: str, key: str,
                 found: Mapping[tuple[str, int], Any]) -> int | None:
    """Data bytes of node ``nid``'s outputs when every socket of it (a caching task) is in
    ``found`` (ref -> manifest), else None."""
    task = graph[nid].task
    if not task.opts.cache:
        return None
    total = 0
    for socket in range(task.num_returns):
        manifest = found.get((key, socket))
        if manifest is None:
            return None
        total += manifest.nbytes
    return total


def volatile_below(graph: Graph, order: list[str]) -> set[str]:
    """Volatile nodes and their descendants (``order`` is topological)."""
    out: set[str] = set()
    for nid in order:
        node = graph[nid]
        if node.task.opts.volatile or (out and not out.isdisjoint(node.parents)):
            out.add(nid)
    return out


def canonical_nodes(order: list[str], keys: Mapping[str, str]) -> dict[str, str]:
    first: dict[str, str] = {}
    return {nid: first.setdefault(keys[nid], nid) for nid in order}


def needed_refs(graph: Graph, order: list[str], keys: Mapping[str, str]) -> list[tuple[str, int]]:
    """Every (key, socket) the graph could be served from, deduplicated."""
    seen: set[str] = set()
    refs: list[tuple[str, int]] = []
    for nid in order:
        key = keys[nid]
        if key in seen or not graph[nid].task.opts.cache:
            continue
        seen.add(key)
        refs.extend((key, s) for s in range(graph[nid].task.num_returns))
    return refs


def make_plan(
    graph: Graph,
    order: list[str],
    keys: Mapping[str, str],
    targets: Collection[str],
    found: Mapping[tuple[str, int], Any],
    *,
    cache: str,
    computed: Collection[str] = (),
) -> Plan:
    """``computed``: nodes computed earlier in this run (a volatile one is not run twice)."""
    canon = canonical_nodes(order, keys)
    readable = cache in ("use", "read")
    volatile = volatile_below(graph, order)

    def is_cached(nid: str) -> bool:
        if nid in volatile and nid not in computed:
            return False
        return readable and stored(graph, nid, keys[nid], found)

    run: set[str] = set()
    cached: set[str] = set()
    stack = [canon[t] for t in targets]
    while stack:
        nid = stack.pop()
        if nid in run or nid in cached:
            continue
        if is_cached(nid):
            cached.add(nid)
            continue
        run.add(nid)
        stack.extend(canon[p] for p in graph[nid].parents)
    return Plan(
        order=order,
        keys=dict(keys),
        canon=canon,
        run=[nid for nid in order if nid in run],
        cached=cached,
        found=found,
        volatile=volatile,
    )
