"""Planning: which nodes a run must execute, given their keys and the index.

Walk back from the targets and stop at cached nodes (X1: only what changed
runs). Nodes with equal keys collapse onto the first of them (X2: identical
work runs once). Cached parents of running nodes become ``Cached`` inputs the
worker reads itself; running parents become ``Upstream`` inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from runner.contracts import Cached, NodeJob, Upstream
from runner.graph import Graph

CACHE_MODES = ("use", "refresh", "read", "off")


@dataclass(kw_only=True)
class Plan:
    order: list[str]                    # every node, topological
    keys: dict[str, str]                # node id -> key hex
    canon: dict[str, str]               # node id -> the node that computes its key
    run: list[str]                      # canonical nodes to execute, topological
    cached: set[str] = field(default_factory=set)    # needed and served from the store
    found: Mapping[tuple[str, int], Any] = field(default_factory=dict)  # manifests seen

    def __post_init__(self) -> None:
        self.run_set = set(self.run)

    def parents(self, graph: Graph, node_id: str) -> set[str]:
        """Canonical running parents of a running node (scheduler dependencies)."""
        return {self.canon[p] for p in graph[node_id].parents if self.canon[p] in self.run_set}

    def job(self, graph: Graph, node_id: str, *, write: bool) -> NodeJob:
        node = graph[node_id]
        inputs: dict[str, Any] = dict(node.literals)
        for name, (parent, socket) in node.links.items():
            canon = self.canon[parent]
            if canon in self.run_set:
                inputs[name] = Upstream(canon, socket)
            else:
                inputs[name] = Cached(self.keys[canon], socket)
        return NodeJob(node_id=node_id, task=node.task, key=self.keys[node_id], inputs=inputs,
                       write=write)


def stored(graph: Graph, nid: str, key: str, found: Collection[tuple[str, int]]) -> bool:
    """Whether every output socket of node ``nid`` (a caching task) is in ``found``."""
    task = graph[nid].task
    return task.opts.cache and all((key, s) in found for s in range(task.num_returns))


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
) -> Plan:
    canon = canonical_nodes(order, keys)
    readable = cache in ("use", "read")

    def is_cached(nid: str) -> bool:
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
    )


def without_failed(graph: Graph, plan: Plan, failed: set[str]) -> Plan:
    """``plan`` minus nodes that already failed in this run and everything below them."""
    if not failed:
        return plan
    blocked = set(failed)
    for nid in plan.run:  # topological: a node is blocked if a running parent is
        if nid in blocked or plan.parents(graph, nid) & blocked:
            blocked.add(nid)
    return replace(plan, run=[nid for nid in plan.run if nid not in blocked])
