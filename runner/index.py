"""The index protocol: which (key, socket) objects exist, in one batched call.

``StoreIndex`` asks the store directly (no Ray); ``cluster.RayIndex`` keeps
the same answers in a detached actor shared by every driver of a cluster.
The store is always the source of truth: an index may forget, never invent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Ref = tuple[str, int]
STORED = "<stored>"  # acquire's answer for a key already recorded: read it, do not run it


@dataclass(frozen=True, kw_only=True)
class LeaseTicket:
    """Leases asked of an index that has not answered yet, without waiting for it.

    ``handle``: what the executor hands each task of the round, which checks it
    before running (on Ray, the ObjectRef of the answer: a task starts only once
    it exists); ``answer``: the same answer for the driver, key -> holder for
    every key not granted (usually none). It raises if the index died meanwhile,
    and then every task that checks the handle fails as ``held``: the next round
    asks again.
    """

    handle: Any
    answer: Awaitable[dict[str, str]]


class Index(Protocol):
    lookups: int  # round trips so far, for benchmarks and tests
    shares_leases: bool  # its leases reach other drivers (a cluster's index actor)

    async def lookup(self, refs: Sequence[Ref]) -> dict[Ref, Any]:
        """Manifests of the refs that exist (absent refs are simply missing)."""
        ...

    async def record(self, manifests: Sequence[dict[str, Any]]) -> None: ...

    async def forget(self, refs: Sequence[Ref]) -> None: ...

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        """Lease ``keys`` to ``owner`` for ``ttl`` s (renewed by asking again, ``renew``).

        Returns key -> holder: ``owner`` where granted, another owner (or
        ``STORED``, unless ``reuse=False``) where that key must not be computed
        here (see runner.lease).
        """
        ...

    async def release(self, keys: Sequence[str], owner: str) -> None: ...

    def acquire_soon(self, keys: Sequence[str], owner: str, ttl: float, *,
                     reuse: bool = True) -> LeaseTicket | None:
        """``acquire`` without waiting for an index still starting; None where ``acquire``
        answers at once (then the run calls it)."""
        ...


class StoreIndex:
    """An index that is the store itself: one ``manifests_many`` per lookup."""

    shares_leases = False

    def __init__(self, store: Any) -> None:
        self.store = store
        self.lookups = 0

    async def lookup(self, refs: Sequence[Ref]) -> dict[Ref, Any]:
        self.lookups += 1
        return dict(self.store.manifests_many(refs))

    async def record(self, manifests: Sequence[dict[str, Any]]) -> None:
        return None  # the worker's put already made them visible

    async def forget(self, refs: Sequence[Ref]) -> None:
        return None

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        return dict.fromkeys(keys, owner)  # no shared lease table: everything is granted

    async def release(self, keys: Sequence[str], owner: str) -> None:
        return None

    def acquire_soon(self, keys: Sequence[str], owner: str, ttl: float, *,
                     reuse: bool = True) -> LeaseTicket | None:
        return None
