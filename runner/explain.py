"""``explain``: why each node will run (or ran), found by diffing recipes with run records.

For a node that must run, its recipe (keys.Recipe: what went into its key)
is compared with the most recent recorded recipe of the same node id. A
changed parent key is followed up the graph, so a chain of changes is told
once at its first cause ("upstream `resize-2` changed (because: literal
`size` changed ...)"). Same key as last time means the output went missing
(evicted or corrupt), the last attempt failed, or the cache mode forced it.
Cached nodes say since when and which run produced them.

A reused node (early cutoff) names the upstream nodes that re-ran with an
unchanged output. Baselines ignore runs where the node was ``unneeded``: such a run signed the
node but never produced it, so it says nothing about the stored output.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from runner.errors import ValidationError
from runner.recipe_diff import Cause, Direct, Upstream, diff_recipes
from runner.records import RunHistory, RunRecord, doc_name, pipeline_of, when

_BASELINE = ("executed", "reused", "cached", "failed", "skipped")
_FIRST_RUN = "never run before"


@dataclass(frozen=True, kw_only=True)
class NodeExplanation:
    """One node: ``status`` is will run / ran / reused / failed / cached / skipped / not
    needed."""

    id: str
    task: str
    key: str
    status: str
    reason: str
    first_cause: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True, kw_only=True)
class Explanation:
    nodes: tuple[NodeExplanation, ...]
    run_id: str | None = None  # the run explained, or None for the next run

    def by_id(self) -> dict[str, NodeExplanation]:
        return {n.id: n for n in self.nodes}

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "nodes": [n.to_dict() for n in self.nodes]}

    def text(self, *, all_nodes: bool = False) -> str:
        shown = [n for n in self.nodes if all_nodes or n.status != "not needed"]
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.status] = counts.get(n.status, 0) + 1
        firsts = sum(n.first_cause for n in self.nodes)
        head = ", ".join(f"{c} {s}" for s, c in counts.items())
        what = f"run {self.run_id}" if self.run_id else "next run"
        lines = [f"{what}: {len(self.nodes)} nodes: {head}; {firsts} first cause(s)"]
        width = max((len(n.id) for n in shown), default=0)
        for n in shown:
            mark = "*" if n.first_cause else " "
            lines.append(f"{mark} {n.status:<10} {n.id:<{width}}  [{n.task} {n.key[:8]}]  "
                         f"{n.reason}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def explain(targets: Any, node: str | None = None, *, store: Any = None,
            cache: str = "use") -> Explanation:
    """Why each node of ``targets`` will run on the next ``run`` (or, given a ``Result``,
    why each node of that run ran). ``node`` limits the answer to one node id."""
    from runner.result import Result

    if isinstance(targets, Result):
        return _explain_result(targets, node)
    from runner.plan import make_plan, needed_refs, stored
    from runner.prepare import open_store, sign_targets

    store_obj = open_store(store)
    signed = sign_targets(targets, store_obj)
    graph, order, hexkeys = signed.graph, signed.order, signed.hexkeys
    refs = needed_refs(graph, order, hexkeys) if cache in ("use", "read") else []
    found = store_obj.manifests_many(refs) if refs else {}
    plan = make_plan(graph, order, hexkeys, [t[0] for t in signed.targets], found, cache=cache)
    why = _Explainer(graph, order, hexkeys, signed.signer,
                     RunHistory(store_obj, pipeline_of(graph)))
    statuses = {}
    for nid in _select(order, node, graph):
        canon = plan.canon[nid]
        if canon in plan.run_set:
            statuses[nid] = "will run"
        elif stored(graph, nid, hexkeys[nid], found):
            statuses[nid] = "cached"
        else:
            statuses[nid] = "not needed"
    return why.explain(statuses, plan.canon, found, cache=cache, before=None)


def _explain_result(result: Any, node: str | None) -> Explanation:
    graph, store = result.graph, result.store
    order = [r.id for r in result.report]
    history = RunHistory(store, pipeline_of(graph))
    name = doc_name(result.run_id, result.started)
    record = history.load(name) if name in history.names() else None
    cache = record.cache if record else "use"
    names = {"executed": "ran", "unneeded": "not needed"}
    selected = set(_select(order, node, graph))
    statuses = {r.id: names.get(r.status, r.status) for r in result.report if r.id in selected}
    canon = {r.id: r.same_as or r.id for r in result.report}
    keys = {r.id: r.key for r in result.report}
    found = store.manifests_many([(k, s) for nid, k in keys.items() if statuses.get(nid) == "cached"
                                  for s in range(graph[nid].task.num_returns)])
    why = _Explainer(graph, order, keys, result.signer, history)
    out = why.explain(statuses, canon, found, cache=cache, before=name)
    ran = {r.id: r.status for r in result.report}
    nodes = tuple(replace(n, reason=_reused_reason(graph, n.id, ran))
                  if n.status == "reused" and canon.get(n.id, n.id) == n.id else n
                  for n in out.nodes)
    waited = {r.id: r.waited_for for r in result.report if r.waited_for}
    nodes = tuple(replace(n, reason=f"computed by {waited[n.id]} while this run waited; "
                          f"{n.reason}") if n.id in waited else n for n in nodes)
    return Explanation(nodes=nodes, run_id=result.run_id)


def _reused_reason(graph: Any, nid: str, status: dict[str, str]) -> str:
    """Which upstream nodes re-ran with an unchanged output, looking through reused ones."""
    reran: list[str] = []
    seen: set[str] = set()
    stack = list(graph[nid].parents)
    while stack:
        parent = stack.pop()
        if parent in seen:
            continue
        seen.add(parent)
        if status.get(parent) == "reused":
            stack.extend(graph[parent].parents)
        elif status.get(parent) == "executed":
            reran.append(parent)
    if not reran:
        return "its inputs had the same content as in an earlier run, so this node was reused"
    names = ", ".join(f"`{p}`" for p in sorted(reran))
    if len(reran) == 1:
        return f"upstream {names} re-ran; its output was unchanged, so this node was reused"
    return f"upstream {names} re-ran; their outputs were unchanged, so this node was reused"


def _select(order: list[str], node: str | None, graph: Any) -> list[str]:
    if node is None:
        return order
    if node not in graph:
        graph[node]  # raises a ValidationError listing the nodes
    if node not in order:
        raise ValidationError(f"node {node!r} is not needed by these targets")
    return [node]


class _Explainer:
    """Causes per node against the run history; memoised per ``before`` (a run doc name)."""

    def __init__(self, graph: Any, order: list[str], keys: dict[str, str], signer: Any,
                 history: RunHistory) -> None:
        self.graph, self.order, self.keys = graph, order, keys
        self.signer, self.history = signer, history
        self._changes: dict[str | None, dict[str, Cause | None]] = {}
        self._recipes: dict[str, dict[str, Any]] = {}

    def explain(self, statuses: dict[str, str], canon: dict[str, str], found: Any, *,
                cache: str, before: str | None) -> Explanation:
        producers = self.history.producers(
            {self.keys[n] for n, s in statuses.items() if s == "cached"})
        out = []
        for nid, status in statuses.items():
            reason, first = self._reason(nid, status, canon, found, producers, cache, before)
            out.append(NodeExplanation(id=nid, task=self.graph[nid].task.name,
                                       key=self.keys[nid], status=status, reason=reason,
                                       first_cause=first))
        return Explanation(nodes=tuple(out))

    def _reason(self, nid: str, status: str, canon: dict[str, str], found: Any,
                producers: dict[str, RunRecord], cache: str, before: str | None
                ) -> tuple[str, bool]:
        if canon.get(nid, nid) != nid:
            return f"same key as `{canon[nid]}`, computed once", False
        if status in ("will run", "ran", "failed"):
            cause = self.why_run(nid, cache=cache, before=before)
            return cause.render(), cause.is_first_cause
        if status == "cached":
            return self._cached(nid, found, producers.get(self.keys[nid])), False
        if status == "skipped":
            return "skipped: an upstream node failed", False
        return "not needed: its dependents are cached", False

    def _cached(self, nid: str, found: Any, producer: RunRecord | None) -> str:
        manifest = found.get((self.keys[nid], 0))
        since = when(manifest.created) if manifest is not None else "?"
        if producer is None:
            return f"cached since {since} (no run record produced it)"
        text = f"cached since {since} by run {producer.run_id}"
        latest = next(self._baselines(nid, None), None)
        if latest is not None and latest[0].name == producer.name:
            cause = self.why_run(nid, cache=producer.cache, before=producer.name)
            if cause.render() != _FIRST_RUN:
                text += f"; it ran then because: {cause.render()}"
        return text

    def why_run(self, nid: str, *, cache: str, before: str | None) -> Cause:
        """Why ``nid`` runs: the cache mode, a changed key, or its output went missing."""
        if cache in ("refresh", "off"):
            return Cause(nid, (Direct(f"cache={cache!r}"),))
        if not self.graph[nid].task.opts.cache:
            return Cause(nid, (Direct(f"task `{self.graph[nid].task.name}` has cache=False"),))
        if self.graph[nid].task.opts.volatile:
            return Cause(nid, (Direct(f"task `{self.graph[nid].task.name}` is volatile: "
                                      "it runs in every run"),))
        changed = self.changes(before).get(nid)
        if changed is not None:
            return changed
        if nid in self.volatile:
            return Cause(nid, (Direct("below a volatile task: it runs again unless its "
                                      "inputs' content is unchanged (then it is reused)"),))
        record, entry = next(self._baselines(nid, before))
        return Cause(nid, (Direct(_same_key(record, entry)),))

    @functools.cached_property
    def volatile(self) -> set[str]:
        from runner.plan import volatile_below

        return volatile_below(self.graph, self.order)

    def changes(self, before: str | None) -> dict[str, Cause | None]:
        """Per node, why its key differs from its baseline's (None: same key).
        Computed for all nodes in topological order, so parents are ready first."""
        if before not in self._changes:
            memo: dict[str, Cause | None] = {}
            for nid in self.order:
                memo[nid] = self._key_change(nid, before, memo)
            self._changes[before] = memo
        return self._changes[before]

    def _key_change(self, nid: str, before: str | None,
                    memo: dict[str, Cause | None]) -> Cause | None:
        base = next(self._baselines(nid, before), None)
        if base is None:
            return Cause(nid, (Direct(_FIRST_RUN),))
        record, entry = base
        if entry["key"] == self.keys[nid]:
            return None
        old = self.history.recipe(record, entry["key"])
        if old is None:
            return Cause(nid, (Direct(f"key changed (run {record.run_id} kept no recipe)"),))
        new = self.recipe(nid)  # this run's own: its errors are bugs, never masked
        try:  # a stored recipe is data from disk: a malformed one explains nothing
            direct, links = diff_recipes(old, new)
            parents = dict.fromkeys(self.graph[nid].links[name][0] for name in links)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return Cause(nid, (Direct(f"key changed (run {record.run_id}'s recipe "
                                      "is unreadable)"),))
        reasons: list[Direct | Upstream] = list(direct)
        reasons.extend(Upstream(p, memo.get(p)) for p in parents)
        if not reasons:
            reasons.append(Direct("key changed though its recipe did not "
                                  "(digestflow's key format changed?)"))
        return Cause(nid, tuple(reasons))

    def _baselines(self, nid: str, before: str | None) -> Any:
        return ((r, e) for r, e in self.history.entries(nid, before=before)
                if e["status"] in _BASELINE)

    def recipe(self, nid: str) -> dict[str, Any]:
        if nid not in self._recipes:
            from keys import Key

            self._recipes[nid] = self.signer.recipe(Key.fromhex(self.keys[nid])).to_dict()
        return self._recipes[nid]


def _same_key(record: RunRecord, entry: dict[str, Any]) -> str:
    status, run = entry["status"], record.run_id
    if status == "failed":
        return f"failed last time (run {run}): {entry.get('error', '?')}"
    if status == "skipped":
        return f"skipped last time (run {run}): an upstream node failed"
    if record.cache in ("off", "read"):
        return f"not stored last time (run {run} used cache={record.cache!r})"
    return f"output evicted or corrupt (same key as in run {run}, no longer in the store)"


