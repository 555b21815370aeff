"""Where leases are kept: one table per kind of concurrency, chained into one.

A run asks, in order: the table of its own process (runs in one process:
threads, gathered ``run_async`` calls), then the table shared with other
drivers: the cluster's index actor when it has one, else lock files in the
store when the store is on a filesystem. A key is granted only when every
table grants it; a key refused further down is given back to the tables
above, so nothing is held for a key this run will not compute.

Every table answers ``acquire`` with key -> holder: the asking owner where
granted, another owner, or ``STORED`` for a key whose output was recorded in
the meantime (read it, do not run it). Owners are ``"<run id>@<host>:<pid>"``
(see ``owner_id``), so a waiter can say whom it waited for.

Object stores (S3, GCS) get no lock table: ``pyarrow.fs`` cannot express a
conditional put, so drivers that share only such a store may both compute a
key (docs/cluster.md). Their results agree; the second write replaces the
first with the same bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from runner.index import STORED, LeaseTicket

__all__ = ["LeaseTable", "ProcessTable", "LockFileTable", "Chain", "owner_id", "describe_holder",
           "process_table", "lease_tables"]

UNKNOWN = "<unknown holder>"


def _here() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_id(run_id: str) -> str:
    """The lease owner of run ``run_id`` in this process."""
    return f"{run_id}@{_here()}"


def describe_holder(holder: str) -> str:
    """"run X in this process" / "driver host:pid (run X)" for a lease holder."""
    run, sep, where = holder.partition("@")
    if not sep:
        return f"driver {holder}"
    if where == _here():
        return f"run {run} in this process"
    return f"driver {where} (run {run})"


class LeaseTable(Protocol):
    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        """key -> holder; ``renew``: re-assert leases ``owner`` already holds;
        ``reuse=False`` (a refresh): lease recorded keys too, never answer STORED."""
        ...

    async def release(self, keys: Sequence[str], owner: str, *, recorded: bool = False) -> None:
        """Give back ``owner``'s leases; ``recorded``: their outputs are now stored."""
        ...


class ProcessTable:
    """Leases among the runs of this process on one store.

    Thread-safe (runs may live in different threads and event loops) and
    awaitable: ``changed`` wakes a waiter as soon as a key it waits for is
    released or recorded. A recorded key answers ``STORED`` for one TTL, which
    closes the gap between a run's lookup and its ``acquire``.
    """

    def __init__(self, epoch: Callable[[], str] | None = None) -> None:
        self._epoch = epoch  # the store's deletion epoch: a change voids every STORED answer
        self._seen: str | None = None
        self._lock = threading.Lock()
        self._leases: dict[str, tuple[str, float]] = {}
        self._recorded: dict[str, float] = {}  # key -> until when it answers STORED
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        epoch = await asyncio.to_thread(self._epoch) if self._epoch and reuse else None
        now = time.time()
        out = {}
        with self._lock:
            if epoch is not None and epoch != self._seen:  # gc or repair deleted objects
                self._recorded.clear()
                self._seen = epoch
            for key in keys:
                if reuse and self._recorded.get(key, 0.0) > now:
                    out[key] = STORED
                    continue
                holder = self._leases.get(key)
                if holder is None or holder[1] < now or holder[0] == owner:
                    self._leases[key] = (owner, now + ttl)
                    out[key] = owner
                else:
                    out[key] = holder[0]
        return out

    async def release(self, keys: Sequence[str], owner: str, *, recorded: bool = False) -> None:
        wake = []
        with self._lock:
            until = time.time() + 60.0
            for key in keys:
                if self._leases.get(key, ("", 0.0))[0] == owner:
                    del self._leases[key]
                    if recorded:
                        self._recorded[key] = until
                    wake.extend(self._waiters.pop(key, ()))
            if recorded and len(self._recorded) > 100_000:
                now = time.time()
                self._recorded = {k: t for k, t in self._recorded.items() if t > now}
        for loop, fut in wake:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, fut)

    def forget(self, keys: Sequence[str]) -> None:
        """Stop answering STORED for keys whose outputs turned out missing."""
        with self._lock:
            for key in keys:
                self._recorded.pop(key, None)

    async def changed(self, keys: Sequence[str], timeout: float) -> None:
        """Return when one of ``keys`` is released here, or after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            for key in keys:
                self._waiters.setdefault(key, []).append(entry)
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                for key in keys:
                    waiting = self._waiters.get(key)
                    if waiting and entry in waiting:
                        waiting.remove(entry)
                        if not waiting:
                            del self._waiters[key]

    def holders(self) -> dict[str, str]:
        """key -> owner of the live leases (for tests and ``stats``)."""
        now = time.time()
        with self._lock:
            return {k: h for k, (h, until) in self._leases.items() if until >= now}


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_TABLES: dict[str, ProcessTable] = {}
_TABLES_LOCK = threading.Lock()


def process_table(store: Any) -> ProcessTable:
    """The table shared by every run of this process on ``store`` (one per store root)."""
    backend = store.backend
    name = os.path.realpath(backend.root) if backend.is_local else store.uri
    with _TABLES_LOCK:
        if name not in _TABLES:
            _TABLES[name] = ProcessTable(store.epoch)
        return _TABLES[name]


class LockFileTable:
    """``storage.locks.LockFiles`` as a lease table: file work runs off the event loop."""

    def __init__(self, store: Any) -> None:
        from storage.locks import LockFiles

        self.store = store
        self.files = LockFiles(store.backend.root)

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        return await asyncio.to_thread(self._acquire, list(keys), owner, ttl, reuse)

    def _acquire(self, keys: list[str], owner: str, ttl: float, reuse: bool) -> dict[str, str]:
        out = self.files.acquire(keys, owner, ttl)
        granted = [k for k in keys if out[k] == owner] if reuse else []
        # a holder that finished just before we looked: its output is there, read it.
        # Only a readable manifest counts: one that exists but cannot be read is a
        # miss for the index too, and counting it as stored would wait on it forever.
        done = {k for k, _ in self.store.manifests_many([(k, 0) for k in granted])}
        if done:
            self.files.release(done, owner)
            out.update(dict.fromkeys(done, STORED))
        return out

    async def release(self, keys: Sequence[str], owner: str, *, recorded: bool = False) -> None:
        await asyncio.to_thread(self.files.release, list(keys), owner)


class IndexTable:
    """The index's own leases (the cluster's actor) as a lease table."""

    def __init__(self, index: Any) -> None:
        self.index = index

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        return await self.index.acquire(keys, owner, ttl, renew=renew, reuse=reuse)

    async def release(self, keys: Sequence[str], owner: str, *, recorded: bool = False) -> None:
        if not recorded:  # recording a key already ended its lease in the index
            await self.index.release(keys, owner)


class Chain:
    """Tables asked in order; a key is granted only where all of them grant it."""

    def __init__(self, tables: Sequence[LeaseTable], local: ProcessTable | None = None) -> None:
        self.tables = list(tables)
        self.local = local

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        return await self._acquire(0, list(dict.fromkeys(keys)), owner, ttl,
                                   renew=renew, reuse=reuse)

    async def acquire_soon(self, keys: Sequence[str], owner: str, ttl: float, *,
                           reuse: bool = True) -> tuple[dict[str, str], LeaseTicket | None]:
        """``acquire``, except that a cluster index still starting is asked without waiting
        for it: (key -> holder as known now, a ticket for the keys the index decides).
        The ticket's answer also gives the keys it refused back to the tables above."""
        last = len(self.tables) - 1
        table = self.tables[last] if self.tables else None
        if not isinstance(table, IndexTable):
            return await self.acquire(keys, owner, ttl, reuse=reuse), None
        out = await self._acquire(0, list(dict.fromkeys(keys)), owner, ttl, reuse=reuse,
                                  stop=last)
        pending = [k for k, h in out.items() if h == owner]
        if not pending:
            return out, None
        ticket = table.index.acquire_soon(pending, owner, ttl, reuse=reuse)
        if ticket is None:  # the index answers at once: ask it
            out.update(await self._acquire(last, pending, owner, ttl, reuse=reuse))
            return out, None
        return out, LeaseTicket(handle=ticket.handle,
                                answer=self._give_back(ticket.answer, pending, last, owner))

    async def _give_back(self, answer: Awaitable[dict[str, str]], pending: list[str],
                         upto: int, owner: str) -> dict[str, str]:
        """The index's answer; the keys it refused (all of them if it died) are released
        from the tables above it."""
        try:
            refused = await answer
        except BaseException:
            refused = dict.fromkeys(pending, UNKNOWN)
            raise
        finally:
            for above in self.tables[:upto]:
                if refused:
                    await above.release(list(refused), owner)
        return refused

    async def _acquire(self, start: int, pending: list[str], owner: str, ttl: float, *,
                       renew: bool = False, reuse: bool = True,
                       stop: int | None = None) -> dict[str, str]:
        """Ask tables ``start`` to ``stop`` (exclusive) about ``pending``; a key refused by
        one is given back to every table before it."""
        out: dict[str, str] = {}
        for i in range(start, len(self.tables) if stop is None else stop):
            if not pending:
                break
            holders = await self.tables[i].acquire(pending, owner, ttl, renew=renew,
                                                   reuse=reuse)
            refused = [k for k in pending if holders.get(k) != owner]
            for key in refused:
                out[key] = holders.get(key) or UNKNOWN
            for above in self.tables[:i]:  # held for nothing now: let others in
                if refused:
                    await above.release(refused, owner)
            pending = [k for k in pending if holders.get(k) == owner]
        out.update(dict.fromkeys(pending, owner))
        return out

    async def release(self, keys: Sequence[str], owner: str, *, recorded: bool = False) -> None:
        for table in reversed(self.tables):
            await table.release(keys, owner, recorded=recorded)

    async def changed(self, keys: Sequence[str], timeout: float) -> None:
        """Sleep ``timeout`` s, waking early when a run of this process releases a key."""
        if self.local is not None:
            await self.local.changed(keys, timeout)
        else:
            await asyncio.sleep(timeout)

    def forget(self, keys: Sequence[str]) -> None:
        if self.local is not None:
            self.local.forget(keys)


def lease_tables(store: Any, index: Any, *, shared_index: bool) -> Chain:
    """The chain for a run on ``store``: this process, then the cluster's index
    (``shared_index``: drivers share its actor) or the store's lock files."""
    local = process_table(store)
    tables: list[LeaseTable] = [local]
    if shared_index:
        tables.append(IndexTable(index))
    elif store.backend.is_local:
        tables.append(LockFileTable(store))
    return Chain(tables, local=local)
