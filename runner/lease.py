"""Single-flight across drivers (X2): lease the keys a run is about to execute.

Before dispatch, the driver asks the index in one batched call to lease the
keys of the nodes it must run. Nodes whose key another live driver holds are
not run here: they and their descendants are held back while the driver
polls the index (batched, with backoff) until the holder's outputs appear;
the next planning round then reads them as cached inputs. A lease has a TTL
and is renewed while the run lives, so the keys of a crashed driver are
retaken after at most one TTL (X4), and a holder that ends without recording
a key (it failed) releases it so a waiter takes it over.

Policy: leases are used only with ``cache="use"`` (a run that neither reads
nor writes the cache has nothing to share) and only for caching tasks. An
index without ``acquire`` (e.g. ``StoreIndex``) grants everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from runner.graph import Graph
from runner.index import STORED
from runner.plan import Plan

Ref = tuple[str, int]

DEFAULT_TTL = 60.0  # seconds; DIGESTFLOW_LEASE_TTL overrides
MAX_POLL = 1.0  # seconds between polls of a waiting driver, at most


class Leases:
    """The keys this run holds; see the module docstring for the protocol."""

    def __init__(self, index: Any, *, enabled: bool = True, ttl: float | None = None,
                 owner: str | None = None) -> None:
        self.index = index
        self.enabled = enabled and callable(getattr(index, "acquire", None))
        self.ttl = ttl or float(os.environ.get("DIGESTFLOW_LEASE_TTL") or DEFAULT_TTL)
        self.owner = owner or uuid.uuid4().hex
        self.held: set[str] = set()
        self.waited = 0  # refs this run waited for (another driver computed them)
        self._renewer: asyncio.Task[None] | None = None

    async def claim(self, graph: Graph, plan: Plan) -> tuple[Plan, list[Ref]]:
        """Lease ``plan.run``'s keys: (the plan to dispatch now, refs to wait for)."""
        leasable = [n for n in plan.run if graph[n].task.opts.cache]
        if not self.enabled or not leasable:
            return plan, []
        holders = await self._acquire(plan.keys[n] for n in leasable)
        foreign = [n for n in leasable if holders.get(plan.keys[n]) != self.owner]
        if not foreign:
            return plan, []
        blocked = set(foreign)
        for nid in plan.run:  # topological: a node waits if any running parent waits
            if plan.parents(graph, nid) & blocked:
                blocked.add(nid)
        now = replace(plan, run=[n for n in plan.run if n not in blocked])
        refs = [(plan.keys[n], s) for n in foreign for s in range(graph[n].task.num_returns)]
        self.waited += len(refs)
        return now, refs

    async def wait(self, refs: Sequence[Ref]) -> None:
        """Return when every ref is in the index, or when a lease on one passed to us."""
        pending = list(refs)
        delay = 0.02
        while pending:
            found = await self.index.lookup(pending)
            pending = [r for r in pending if r not in found]
            if not pending:
                return
            holders = await self._acquire(sorted({k for k, _ in pending}))
            if any(h == self.owner for h in holders.values()):
                return  # a holder is gone: the next round runs its keys here
            gone = [r for r in pending if holders.get(r[0]) == STORED]
            if gone:  # recorded, yet a socket is missing: let the next round recompute
                await self.index.forget(gone)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL)

    async def close(self) -> None:
        """Stop renewing and give back every lease not yet settled by a record."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self.held:
            held, self.held = sorted(self.held), set()
            with contextlib.suppress(Exception):  # expiry frees them anyway
                await self.index.release(held, self.owner)

    async def _acquire(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> holder; keys granted to this run are renewed until ``close``."""
        keys = list(dict.fromkeys(keys))
        holders = await self.index.acquire(keys, self.owner, self.ttl)
        granted = {k for k in keys if holders.get(k) == self.owner}
        self.held |= granted
        if granted and self._renewer is None:
            self._renewer = asyncio.ensure_future(self._renew())
        return holders

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            if self.held:
                held = sorted(self.held)
                holders = await self.index.acquire(held, self.owner, self.ttl)
                self.held -= {k for k in held if holders.get(k) != self.owner}
