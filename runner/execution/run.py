"""``Run``: the object that owns one run and its planning rounds.

A Run owns the executor, the index, the store, the signed graph, the leases
and the ledger (the one record of every node's state). ``execute`` plans
against the index, leases what it must compute, dispatches, and fetches the
targets. A round that meets a stale cached object (missing or corrupt) or
waits on another driver's lease plans again; a node settles once per run
(a failure is not retried in a later round), and stale objects get at most
``MAX_ROUNDS`` rounds before the run gives up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from runner.collector import gc_paused
from runner.contracts import Cutoff, Executor, Ref
from runner.cutoff import recipe_digest
from runner.dispatch import Dispatched, dispatch
from runner.execution.ledger import BROKEN, Ledger, NodeStatus
from runner.index import Index
from runner.lease import LeaseTable, hold_back
from runner.plan import Plan, make_plan, needed_refs, stored_bytes
from runner.prepare import Signed
from runner.scheduler import FINISHED

MAX_ROUNDS = 3


def recheck(refs: list[Ref], stale: list[Ref]) -> list[Ref]:
    """The stale refs plus every ref the graph could be served from: the index forgets
    them all, so the next round's lookup re-checks each against the store (N vanished
    objects cost one extra round, not N)."""
    return list(dict.fromkeys([*stale, *refs]))


class Vanishing(Exception):
    """Stored objects kept disappearing between lookup and use."""


@dataclass(kw_only=True)
class Run:
    signed: Signed
    store: Any
    executor: Executor
    index: Index
    leases: LeaseTable
    ledger: Ledger
    cache: str
    cutoff: bool = True
    _recipes: dict[Any, str] = field(default_factory=dict)  # recipe less links -> digest

    @property
    def graph(self) -> Any:
        return self.signed.graph

    async def execute(self) -> list[Any]:
        """Flat target values (None where a target failed or was skipped)."""
        with gc_paused():
            refs = needed_refs(self.graph, self.signed.order, self.signed.hexkeys) \
                if self.cache != "off" else []
        first, stale_rounds = True, 0
        while stale_rounds < MAX_ROUNDS:
            plan = await self.plan(refs, first=first)
            leasable = [plan.keys[n] for n in plan.run if self.leasable(plan, n)]
            # the first round does not wait for an index still starting (see runner.lease)
            foreign, ticket = await self.leases.claim_soon(leasable) if first \
                else (await self.leases.claim(leasable), None)
            first = False
            now, waiting = hold_back(self.graph, plan, foreign)
            done, _ = await asyncio.gather(
                dispatch(self.graph, now, self.executor, self.index, self.ledger,
                         write=self.cache in ("use", "refresh"), cutoff=self.cutoff_for,
                         recorded=self.leases.recorded, lease=ticket),
                self.leases.wait(waiting))
            if done.stale:
                stale_rounds += 1
                await self.leases.forget(recheck(refs, done.stale))
                continue
            if waiting or done.held:
                continue  # another driver computed part of it: plan again
            values, stale = await self.fetch_targets(plan, done)
            if not stale:
                with gc_paused():
                    self.mark_duplicates(plan)
                    self.mark_waited(plan)
                return values
            stale_rounds += 1
            await self.leases.forget(recheck(refs, stale))
        raise Vanishing(f"cached objects kept vanishing after {MAX_ROUNDS} rounds; "
                        "is another process deleting from the store?")

    def leasable(self, plan: Plan, nid: str) -> bool:
        """Single flight covers caching tasks; volatile ones (and all below them) run again
        under a key that may be recorded already, which is no reason to wait."""
        return self.graph[nid].task.opts.cache and nid not in plan.volatile

    def cutoff_for(self, nid: str) -> Cutoff | None:
        """Early cutoff settings of a job: for a caching task with inputs from other nodes,
        when the run writes the cache (a refresh records, never reuses). A volatile task
        always runs."""
        node = self.graph[nid]
        opts = node.task.opts
        if not self.cutoff or self.cache not in ("use", "refresh") or not opts.cache \
                or opts.volatile or not node.links:
            return None
        signer, key = self.signed.signer, self.signed.keys[nid]
        # the digest leaves the links out, so nodes of one task with the same literals
        # share it (the code parts follow from the identity): computed once per run
        part = signer.literal_parts(key)
        recipe = self._recipes.get(part)
        if recipe is None:
            recipe = self._recipes[part] = recipe_digest(signer.recipe(key).to_dict())
        return Cutoff(recipe=recipe, lookup=self.cache == "use")

    async def plan(self, refs: list[Ref], *, first: bool) -> Plan:
        """One planning round: look up, plan, drop what already broke in this run."""
        found = await self.index.lookup(refs) if refs else {}
        with gc_paused():
            return self._plan(found, first=first)

    def _plan(self, found: Any, *, first: bool) -> Plan:
        mode = self.cache
        if mode == "refresh":  # it reads only outputs written since it began (by a run
            # it waited for, or by itself in an earlier round), never older ones
            found, mode = {r: m for r, m in found.items() if self.leases.fresh(m)}, "use"
        plan = make_plan(self.graph, self.signed.order, self.signed.hexkeys,
                         [t[0] for t in self.signed.targets], found, cache=mode,
                         computed=self.ledger.with_status(NodeStatus.EXECUTED, NodeStatus.REUSED))
        plan, under = plan.without(self.graph, self.ledger.with_status(*BROKEN))
        for nid in under:  # below a failure of an earlier round: never runs in this run
            if self.ledger.status(nid) in (NodeStatus.UNNEEDED, NodeStatus.PENDING):
                self.ledger.skipped(nid)
        if first or plan.run:
            self.executor.prepare({self.graph[nid].task for nid in plan.run})
        self.note_cached(plan)
        return plan

    def note_cached(self, plan: Plan) -> None:
        """Needed cached nodes are announced; unneeded ones whose outputs exist are reported."""
        for nid in plan.run:
            self.ledger.needed(nid)
        for nid in plan.order:
            if nid in plan.run_set:
                continue
            size = stored_bytes(self.graph, nid, plan.keys[nid], plan.found)
            if size is not None:
                self.ledger.cached(nid, size, needed=nid in plan.cached)

    def mark_waited(self, plan: Plan) -> None:
        """Cached nodes another run computed while this one waited for them."""
        from runner.lease_tables import describe_holder

        waited = self.leases.waited_for()
        for nid in plan.order:
            holder = waited.get(plan.keys[nid])
            if holder is not None and self.ledger.status(nid) == NodeStatus.CACHED:
                self.ledger.waited(nid, describe_holder(holder))

    def mark_duplicates(self, plan: Plan) -> None:
        for nid, canon in plan.canon.items():
            if canon != nid and self.ledger.status(canon) != NodeStatus.UNNEEDED:
                self.ledger.same_as(nid, canon)

    async def fetch_targets(self, plan: Plan, done: Dispatched) -> tuple[list[Any], list[Ref]]:
        """Target values: computed ones fetched from the executor concurrently, cached ones
        read from the store; refs that turned out missing or corrupt are returned as stale."""
        stale: list[Ref] = []
        wanted: list[tuple[int, int, Any]] = []
        values: list[list[Any]] = []
        with gc_paused():
            self._read_targets(plan, done, values, wanted, stale)
        fetched = await asyncio.gather(*(f for _, _, f in wanted))
        for (i, j, _), value in zip(wanted, fetched, strict=True):
            values[i][j] = value
        flat = [got[0] if socket is not None else tuple(got)
                for (_, socket), got in zip(self.signed.targets, values, strict=True)]
        return flat, stale

    def _read_targets(self, plan: Plan, done: Dispatched, values: list[list[Any]],
                      wanted: list[tuple[int, int, Any]], stale: list[Ref]) -> None:
        """Cached target values into ``values``; computed ones as awaitables into ``wanted``."""
        for nid, socket in self.signed.targets:
            canon = plan.canon[nid]
            sockets = [socket] if socket is not None else \
                range(self.graph[canon].task.num_returns)
            got = []
            for s in sockets:
                value, fetch = self._target_value(plan, done, canon, s, stale)
                if fetch is not None:
                    wanted.append((len(values), len(got), fetch))
                got.append(value)
            values.append(got)

    def _target_value(self, plan: Plan, done: Dispatched, canon: str, socket: int,
                      stale: list[Ref]) -> tuple[Any, Any]:
        """(value, None), or (None, an awaitable fetching it from the executor)."""
        from storage import AS_STORED, CorruptObjectError, ObjectNotFound

        if canon in plan.run_set:
            if done.states.get(canon) in FINISHED:
                return None, self.executor.fetch(done.handles[(canon, socket)])
            return None, None
        if self.ledger.status(canon) in BROKEN:
            return None, None  # failed in an earlier round of this run
        try:
            return self.store.get(plan.keys[canon], socket, device=AS_STORED), None
        except (ObjectNotFound, CorruptObjectError):
            stale.append((plan.keys[canon], socket))
            return None, None
