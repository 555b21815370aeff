"""Single-flight (X2): lease the keys a run is about to execute.

Before dispatch, the run asks its ``LeaseTable`` (``Leases``, over the lease
tables of ``runner.lease_tables``: this process, then the cluster's index
actor or the store's lock files) in one batched call per table to lease the
keys of the nodes it must run. Nodes whose key another run or driver holds
are not run here: they and their descendants are held back (``hold_back``)
while the run polls the index (batched, with
backoff, woken at once when a run of this process releases a key) until the
holder's outputs appear; the next planning round then reads them as cached
inputs. A lease has a TTL and is renewed while the run lives, so the keys of
a crashed driver are retaken after at most one TTL (X4), and a holder that
ends without recording a key (it failed) releases it so a waiter takes it
over. A recorded key's lease ends at once (``recorded``).

A run's first round does not wait for a cluster index that is still
starting (``claim_soon``): the index's answer comes back as a handle every
task of the round carries and checks before running; a task whose key was
refused ends as ``held``, and the next round waits for that key as for any
foreign one.

Policy: leases are taken with ``cache="use"`` and ``"refresh"`` (both write:
a refresh recomputes once, the others wait for it), never with ``"read"`` or
``"off"`` (they write nothing another run could read), and only for caching
tasks. ``StoreIndex`` alone (no tables) grants every lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Protocol

from runner.graph import Graph
from runner.index import STORED
from runner.plan import Plan

Ref = tuple[str, int]

DEFAULT_TTL = 60.0  # seconds; DIGESTFLOW_LEASE_TTL overrides
MAX_POLL = 1.0  # seconds between polls of a waiting driver, at most
LEASED_MODES = ("use", "refresh")  # cache modes that write, so others can wait for them


class LeaseTable(Protocol):
    """What a run needs of single flight; ``Leases`` implements it."""

    async def claim(self, keys: Sequence[str]) -> set[str]:
        """Lease ``keys`` to this run; returns those it must not compute (held elsewhere)."""
        ...

    async def claim_soon(self, keys: Sequence[str]) -> tuple[set[str], Any]:
        """``claim`` without waiting for an index still starting: (keys held elsewhere as
        known now, None or a handle every dispatched task checks before running)."""
        ...

    async def wait(self, refs: Sequence[Ref]) -> None:
        """Return when ``refs`` are stored, or when this run may compute them after all."""
        ...

    async def close(self) -> None:
        """Give back every lease this run still holds."""
        ...

    async def recorded(self, keys: Iterable[str]) -> None:
        """Outputs of ``keys`` are stored and recorded: their leases end now."""
        ...

    async def forget(self, refs: Sequence[Ref]) -> None:
        """Outputs at ``refs`` turned out missing: no table may call them stored."""
        ...

    def fresh(self, manifest: Any) -> bool:
        """Whether a found output may be read (a refresh reads only newer ones)."""
        ...

    def waited_for(self) -> dict[str, str]:
        """key -> holder, for every key this run waited for."""
        ...


def run_leases(store: Any, index: Any, *, cache: str, run_id: str, started: float) -> Leases:
    """The leases of one run: this process's table, then the cluster's index (when
    drivers share it) or the store's lock files; off unless the run writes."""
    from runner.lease_tables import lease_tables, owner_id

    table = lease_tables(store, index, shared_index=index.shares_leases)
    return Leases(index, enabled=cache in LEASED_MODES, owner=owner_id(run_id), table=table,
                  fresh_after=started if cache == "refresh" else None)


def hold_back(graph: Graph, plan: Plan, foreign: set[str]) -> tuple[Plan, list[Ref]]:
    """(the plan to dispatch now, refs to wait for): nodes whose key is ``foreign`` and
    everything below them wait."""
    nodes = [n for n in plan.run if plan.keys[n] in foreign]
    now, _ = plan.without(graph, nodes)
    refs = [(plan.keys[n], s) for n in nodes for s in range(graph[n].task.num_returns)]
    return now, refs


class Leases:
    """The keys this run holds; see the module docstring for the protocol.

    ``table``: where leases live (default: the index's own); ``fresh_after``:
    for ``cache="refresh"``, outputs recorded before this time do not end a
    wait and recorded keys are leased again (a refresh recomputes them).
    """

    def __init__(self, index: Any, *, enabled: bool = True, ttl: float | None = None,
                 owner: str | None = None, table: Any = None,
                 fresh_after: float | None = None) -> None:
        from runner.lease_tables import Chain, IndexTable

        self.index = index
        self.table = table if table is not None else Chain([IndexTable(index)])
        self.enabled = enabled
        self.ttl = ttl or float(os.environ.get("DIGESTFLOW_LEASE_TTL") or DEFAULT_TTL)
        self.owner = owner or uuid.uuid4().hex
        self.fresh_after = fresh_after
        self.held: set[str] = set()
        self._waited_for: dict[str, str] = {}
        self._renewer: threading.Thread | None = None
        self._closing = threading.Event()
        self._held_lock = threading.Lock()
        self._pending: asyncio.Future[None] | None = None  # a ticket's answer, being taken

    async def claim(self, keys: Sequence[str]) -> set[str]:
        """Lease ``keys``; returns the keys another run holds (or already stored)."""
        if not self.enabled or not keys:
            return set()
        await self._settled()
        return self._foreign(keys, await self._acquire(keys))

    async def claim_soon(self, keys: Sequence[str]) -> tuple[set[str], Any]:
        """``claim`` for a run's first round, not waiting for a cluster index that is still
        starting: (the keys known now to be held elsewhere, and None or the handle each
        task of the round checks before it runs: a key refused then fails its task as
        held, and the next round waits for it like any foreign key)."""
        if not self.enabled or not keys:
            return set(), None
        await self._settled()
        keys = list(dict.fromkeys(keys))
        holders, ticket = await self.table.acquire_soon(keys, self.owner, self.ttl,
                                                        reuse=self.fresh_after is None)
        if ticket is None:
            self._hold([k for k in keys if holders.get(k) == self.owner])
            return self._foreign(keys, holders), None
        pending = [k for k in keys if holders.get(k) == self.owner]
        self._pending = asyncio.ensure_future(self._take(ticket.answer, pending))
        return {k for k in keys if holders.get(k) != self.owner}, ticket.handle

    async def _take(self, answer: Awaitable[dict[str, str]], pending: list[str]) -> None:
        """Hold the keys a ticket's answer granted; note whom the refused ones wait for."""
        try:
            refused = await answer
        except Exception:  # noqa: BLE001 - the index died: nothing granted, asked again later
            return
        self._foreign(list(refused), refused)
        self._hold([k for k in pending if k not in refused])

    async def _settled(self) -> None:
        """Wait for the answer of a ticket still out, so ``held`` is complete."""
        if self._pending is not None:
            await self._pending
            self._pending = None

    def _foreign(self, keys: Sequence[str], holders: dict[str, str]) -> set[str]:
        foreign = {k for k in keys if holders.get(k) != self.owner}
        for key in foreign:
            if holders[key] != STORED:
                self._waited_for[key] = holders[key]
        return foreign

    def waited_for(self) -> dict[str, str]:
        return dict(self._waited_for)

    async def wait(self, refs: Sequence[Ref]) -> None:
        """Return when every ref is in the index, or when a lease on one passed to us."""
        pending = list(refs)
        delay = 0.02
        while pending:
            found = await self.index.lookup(pending)
            pending = [r for r in pending if not self.fresh(found.get(r))]
            if not pending:
                return
            holders = await self._acquire(sorted({k for k, _ in pending}))
            if any(h == self.owner for h in holders.values()):
                return  # a holder is gone: the next round runs its keys here
            gone = [r for r in pending if holders.get(r[0]) == STORED]
            if gone:  # recorded, yet a socket is missing: let the next round recompute
                await self.forget(gone)
                return
            await self.table.changed(sorted({k for k, _ in pending}), delay)
            delay = min(delay * 1.5, MAX_POLL)

    async def forget(self, refs: Sequence[Ref]) -> None:
        """Outputs at ``refs`` turned out missing: neither the lease tables nor the
        index may answer that they are stored until the store says so again."""
        self.table.forget(sorted({k for k, _ in refs}))
        await self.index.forget(refs)

    def fresh(self, manifest: Any) -> bool:
        """Whether a found output ends a wait (for a refresh: written since it began)."""
        if manifest is None:
            return False
        return self.fresh_after is None or manifest.created >= self.fresh_after

    async def recorded(self, keys: Iterable[str]) -> None:
        """Outputs of ``keys`` are stored and recorded: their leases end now."""
        await self._settled()
        with self._held_lock:
            done = [k for k in keys if k in self.held]
            self.held -= set(done)
        if done:
            await self.table.release(done, self.owner, recorded=True)

    async def close(self) -> None:
        """Stop renewing and give back every lease not yet settled by a record."""
        await self._settled()
        if self._renewer is not None:
            self._closing.set()
            await asyncio.to_thread(self._renewer.join)
            self._renewer = None
        with self._held_lock:
            held, self.held = sorted(self.held), set()
        if held:
            with contextlib.suppress(Exception):  # expiry frees them anyway
                await self.table.release(held, self.owner)

    async def _acquire(self, keys: Iterable[str]) -> dict[str, str]:
        """key -> holder; keys granted to this run are renewed until ``close``."""
        keys = list(dict.fromkeys(keys))
        holders = await self.table.acquire(keys, self.owner, self.ttl,
                                           reuse=self.fresh_after is None)
        self._hold([k for k in keys if holders.get(k) == self.owner])
        return holders

    def _hold(self, granted: list[str]) -> None:
        """Granted keys are held, and renewed until ``close``."""
        with self._held_lock:
            self.held |= set(granted)
        if granted and self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="digestflow-leases",
                                             daemon=True)
            self._renewer.start()

    def _renew(self) -> None:
        """Re-assert held leases every TTL/3 (also re-creating them in a restarted
        index). A thread with its own event loop: a run whose loop is busy (a long
        inline task) still holds its keys while its process lives."""
        loop = asyncio.new_event_loop()
        try:
            while not self._closing.wait(self.ttl / 3):
                with self._held_lock:
                    held = sorted(self.held)
                if not held:
                    continue
                try:
                    holders = loop.run_until_complete(self.table.acquire(
                        held, self.owner, self.ttl, renew=True, reuse=self.fresh_after is None))
                except Exception:  # noqa: BLE001 - an unreachable table: retry next period
                    continue
                with self._held_lock:
                    self.held -= {k for k in held if holders.get(k) != self.owner}
        finally:
            loop.close()
