"""The cluster-wide index: a detached Ray actor per store, shared by all drivers.

State: (key hex, socket) -> manifest dict, filled by ``record`` and by
batched store checks on lookup misses, so a fresh actor (after a restart, or
for a store written by another cluster) rebuilds itself from the store, the
source of truth. The actor's name carries ``INDEX_VERSION`` so upgraded code
never talks to an old actor. Leases give single-flight across drivers: the
first driver to ask computes a key, others wait for its record.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import blake3
import ray

from runner.index import STORED

INDEX_VERSION = "2"  # 2: leases answer STORED for recorded keys
NAMESPACE = "digestflow"

Ref = tuple[str, int]


class IndexActor:
    """Actor body; see module docstring. All methods take and return batches."""

    def __init__(self, store_uri: str) -> None:
        from storage import open_store

        self.store = open_store(store_uri)
        self.entries: dict[Ref, dict[str, Any]] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        self.stored: set[str] = set()  # keys with a recorded output: never leased again
        self.calls = 0

    def lookup(self, refs: Sequence[Ref]) -> dict[Ref, dict[str, Any]]:
        self.calls += 1
        found = {ref: self.entries[ref] for ref in refs if ref in self.entries}
        misses = [ref for ref in refs if ref not in found]
        if misses:
            for ref, manifest in self.store.manifests_many(misses).items():
                found[ref] = self.entries[ref] = manifest.to_dict()
                self.stored.add(ref[0])
        return found

    def record(self, manifests: Sequence[dict[str, Any]]) -> int:
        self.calls += 1
        for m in manifests:
            ref = (m["key"], m["socket"])
            self.entries[ref] = m
            self.stored.add(m["key"])
            self.leases.pop(m["key"], None)
        return len(self.entries)

    def forget(self, refs: Sequence[Ref]) -> None:
        for ref in refs:
            self.entries.pop(tuple(ref), None)
            self.stored.discard(ref[0])

    def acquire(self, keys: Sequence[str], owner: str, ttl: float) -> dict[str, str]:
        """Lease each key to ``owner`` unless another live owner holds it.

        Returns key -> owner holding the lease (``owner`` itself when granted),
        or ``STORED`` for a recorded key: a driver that looked it up just before
        the holder recorded it must read it, not compute it again.
        """
        self.calls += 1
        now = time.time()
        out = {}
        for key in keys:
            if key in self.stored:
                out[key] = STORED
                continue
            holder = self.leases.get(key)
            if holder is None or holder[1] < now or holder[0] == owner:
                self.leases[key] = (owner, now + ttl)
                out[key] = owner
            else:
                out[key] = holder[0]
        return out

    def release(self, keys: Sequence[str], owner: str) -> None:
        for key in keys:
            if self.leases.get(key, ("", 0))[0] == owner:
                del self.leases[key]

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self.entries), "leases": len(self.leases), "calls": self.calls}


def index_name(store_uri: str) -> str:
    digest = blake3.blake3(store_uri.encode()).hexdigest()[:16]
    return f"digestflow-index-v{INDEX_VERSION}-{digest}"


def get_index_actor(store_uri: str) -> Any:
    """The store's index actor, created on first use; detached so it outlives drivers."""
    actor_cls = ray.remote(IndexActor)
    return actor_cls.options(
        name=index_name(store_uri),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=-1,
    ).remote(store_uri)


class RayIndex:
    """The runner's Index protocol over the actor: one actor call per batch."""

    def __init__(self, store_uri: str) -> None:
        self.actor = get_index_actor(store_uri)
        self.lookups = 0

    async def lookup(self, refs: Sequence[Ref]) -> dict[Ref, Any]:
        from storage import Manifest

        self.lookups += 1
        found = await self.actor.lookup.remote(list(refs))
        return {tuple(ref): Manifest.from_dict(m) for ref, m in found.items()}

    async def record(self, manifests: Sequence[dict[str, Any]]) -> None:
        await self.actor.record.remote(list(manifests))

    async def forget(self, refs: Sequence[Ref]) -> None:
        await self.actor.forget.remote(list(refs))

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float) -> dict[str, str]:
        return await self.actor.acquire.remote(list(keys), owner, ttl)

    async def release(self, keys: Sequence[str], owner: str) -> None:
        await self.actor.release.remote(list(keys), owner)
