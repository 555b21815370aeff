"""The cluster-wide index: a detached Ray actor per store, shared by all drivers.

State: a compact table (key, socket) -> encoded manifest (``cluster.entries``:
~350 B a key), filled by ``record`` and by batched store checks on lookup
misses, so a fresh actor (after a restart, or for a store written by another
cluster) rebuilds itself from the store, the source of truth. A lookup answers
the encoded manifests, one per asked ref, and the driver decodes them. The
actor's name carries ``INDEX_VERSION`` so upgraded code never talks to an old
actor. Leases give single-flight across drivers: the
first driver to ask computes a key, others wait for its record.

Leases live in memory, so a restarted actor has none. Their holders re-assert
them at their next renewal (every TTL/3); until then (half a TTL after the
restart) the actor grants no new lease, answering ``RESTARTING``: the asker
waits and asks again, instead of computing a key a live holder computes.

Segments: what the actor learns (recorded, or read from the store on a
miss) is saved in the store as index segments (``storage.segments``) every
``SEGMENT_ROWS`` rows or ``SEGMENT_SECONDS`` s, and a new actor starts from
the segments of the store's current deletion epoch, so a restart does not
read again, one manifest at a time, what the last actor knew. Rows not yet
saved are simply forgotten; a torn, corrupt or stale segment is dropped.
The segments load on a background thread (10M keys take minutes), so a
restarted actor answers at once: until they are in, a lookup miss is read
from the store, as on an empty actor. What the actor learns meanwhile
(records, store reads, forgets) wins over a loaded row of the same key, and
a deletion meanwhile (a new epoch) drops the load.

Deletions: whatever deletes from the store (``gc``, ``verify --repair``,
``delete``, a quarantine on read) changes the store's epoch token; the actor
reads it on each lookup and acquire and drops everything it cached when it
changed, so it never answers "exists" for an object that was deleted.

Failure: ``RayIndex`` survives its actor. An actor killed restartably comes
back by itself (empty, rebuilt from the store); one killed for good is
created again; if that fails too the run continues with the store itself as
its index (``StoreIndex``). No Ray exception from the index reaches ``run``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import blake3
import ray

from cluster.entries import ManifestTable, decode_found, encode
from runner.index import STORED, LeaseTicket, StoreIndex
from storage import Manifest
from storage.segments import read_segments, write_segment

# 5: answers a run's first leases with the keys refused (``refused``);
# 6: lookups answer encoded manifests (cluster.entries), one per ref
INDEX_VERSION = "6"
NAMESPACE = "digestflow"

Ref = tuple[str, int]
RESTARTING = "<index restarted>"  # acquire's holder while holders re-assert after a restart
SEGMENT_ROWS = 50_000  # rows learned before they are saved as a segment, or:
SEGMENT_SECONDS = 60.0  # seconds, checked on each record or lookup
LOAD_BATCH = 20_000  # segment rows merged into the table per hold of the actor's lock
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Run an actor method under the lock the background segment load also takes."""
    @functools.wraps(method)
    def run(self: IndexActor, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return run  # type: ignore[return-value]


class IndexActor:
    """Actor body; see module docstring. All methods take and return batches."""

    def __init__(self, store_uri: str, reborn: bool = False) -> None:
        from storage import open_store

        self.store = open_store(store_uri)
        self.born = time.time()
        self.reborn = reborn or _reconstructed()  # leases of live holders are missing
        self.entries = ManifestTable()  # a key in it is recorded: leased again only to refresh
        self.leases: dict[str, tuple[str, float]] = {}
        self.calls = 0
        self.epoch = self.store.epoch()
        self.pending: list[bytes] = []  # manifest JSON learned since the last segment
        self.saved_at, self.saving = time.time(), True
        self._lock = threading.RLock()
        self._touched: set[str] | None = set()  # keys learned or forgotten while loading
        self._loaded = threading.Event()
        threading.Thread(target=self._load_segments, args=(self.epoch,), daemon=True,
                         name="digestflow-index-segments").start()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Whether the saved segments are loaded (or failed to load): waits up to
        ``timeout`` s. Lookups never need to wait: they read misses from the store."""
        return self._loaded.wait(timeout)

    def _sync(self) -> None:
        """Forget everything cached if something was deleted from the store since."""
        epoch = self.store.epoch()
        if epoch != self.epoch:
            self.entries.clear()
            self.pending.clear()
            self.epoch = epoch

    def _learn(self, manifest: Manifest) -> bytes:
        raw = encode(manifest)
        self.entries.put(manifest.key, manifest.socket, raw)
        if self._touched is not None:  # newer than any saved row: the load leaves it
            self._touched.add(manifest.key)
        if self.saving:
            self.pending.append(manifest.to_json())
        return raw

    def _load_segments(self, epoch: str) -> None:
        """Background thread: the segments saved under ``epoch`` into the table, in
        batches, oldest segment first (a newer row wins), never over a key the actor
        learned or forgot meanwhile; dropped if the epoch changed (a deletion)."""
        try:
            batch: list[Manifest] = []
            for manifest in read_segments(self.store.backend, epoch):
                batch.append(manifest)
                if len(batch) >= LOAD_BATCH:
                    if not self._merge(batch, epoch):
                        return
                    batch = []
            self._merge(batch, epoch)
        except Exception as err:  # noqa: BLE001 - a cache: the store answers the rest
            log.warning("index of %r: segments not loaded (%s); refilling from the store",
                        self.store, err)
        finally:
            with self._lock:
                self._touched = None
            self._loaded.set()

    def _merge(self, manifests: list[Manifest], epoch: str) -> bool:
        rows = [(m.key, m.socket, encode(m)) for m in manifests]  # outside the lock
        with self._lock:
            if self.epoch != epoch:
                return False
            touched = self._touched or ()
            for key, socket, raw in rows:
                if key not in touched:
                    self.entries.put(key, socket, raw)
        return True

    @_locked
    def save(self, force: bool = True) -> None:
        """Write what was learned since the last segment as a new one (``force=False``:
        only once ``SEGMENT_ROWS`` rows or ``SEGMENT_SECONDS`` s have gathered)."""
        if not self.pending or not (force or len(self.pending) >= SEGMENT_ROWS
                                    or time.time() - self.saved_at >= SEGMENT_SECONDS):
            return
        rows, self.pending, self.saved_at = self.pending, [], time.time()
        try:
            write_segment(self.store.backend, self.epoch, rows)
        except Exception as err:  # noqa: BLE001 - a read-only store, a full disk: no segments
            self.saving = False
            log.warning("index of %r: segments not saved (%s); a restart will refill from "
                        "the store", self.store, err)

    @_locked
    def lookup(self, refs: Sequence[Ref]) -> list[bytes | None]:
        """The encoded manifest of each ref (``cluster.entries.decode``), ``None`` if absent."""
        self.calls += 1
        self._sync()
        found = self.entries.get_many(refs)
        misses = [i for i, raw in enumerate(found) if raw is None]
        if misses:
            fresh = self.store.manifests_many([refs[i] for i in misses])
            for i in misses:
                key, socket = refs[i]
                manifest = fresh.get((key, socket))
                if manifest is not None:
                    found[i] = self._learn(manifest)
            self.save(force=False)
        return found

    @_locked
    def record(self, manifests: Sequence[dict[str, Any]]) -> int:
        self.calls += 1
        for m in manifests:
            manifest = Manifest.from_dict(m)  # checked here, so every answer decodes
            self._learn(manifest)
            self.leases.pop(manifest.key, None)
        self.save(force=False)
        return len(self.entries)

    @_locked
    def forget(self, refs: Sequence[Ref]) -> None:
        """Drop every socket of each ref's key: it is no longer "stored" for leases."""
        for key, _socket in refs:
            self.entries.drop_key(key)
            if self._touched is not None:  # a loaded row must not bring it back
                self._touched.add(key)

    @_locked
    def acquire(self, keys: Sequence[str], owner: str, ttl: float, renew: bool = False,
                reuse: bool = True) -> dict[str, str]:
        """Lease each key to ``owner`` unless another live owner holds it.

        Returns key -> owner holding the lease (``owner`` itself when granted),
        or ``STORED`` for a recorded key (unless ``reuse=False``, a refresh): a
        driver that looked it up just before the holder recorded it must read
        it, not compute it again. ``renew``: the owner re-asserts its leases,
        granted even in the grace period after a restart.
        """
        self.calls += 1
        self._sync()
        now = time.time()
        grace = self.reborn and not renew and now < self.born + ttl / 2
        out = {}
        for key in keys:
            if reuse and self.entries.has_key(key):
                out[key] = STORED
                continue
            holder = self.leases.get(key)
            if holder is None and grace:
                out[key] = RESTARTING
            elif holder is None or holder[1] < now or holder[0] == owner:
                self.leases[key] = (owner, now + ttl)
                out[key] = owner
            else:
                out[key] = holder[0]
        return out

    @_locked
    def refused(self, keys: Sequence[str], owner: str, ttl: float,
                reuse: bool = True) -> dict[str, str]:
        """``acquire``, answering only the keys not granted (usually none): the answer
        every task of a run's first round checks before it runs."""
        return {k: h for k, h in self.acquire(keys, owner, ttl, reuse=reuse).items()
                if h != owner}

    @_locked
    def release(self, keys: Sequence[str], owner: str) -> None:
        for key in keys:
            if self.leases.get(key, ("", 0))[0] == owner:
                del self.leases[key]

    @_locked
    def stats(self) -> dict[str, Any]:
        return {"entries": len(self.entries), "leases": len(self.leases), "calls": self.calls,
                "segments": "loaded" if self._loaded.is_set() else "loading"}


def _reconstructed() -> bool:
    """Whether Ray restarted this actor (its state, leases included, is gone)."""
    if not ray.is_initialized():  # the class used directly: asking would start a Ray
        return False
    try:
        with warnings.catch_warnings():  # it reads the deprecated ``actor_id`` itself
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(ray.get_runtime_context().was_current_actor_reconstructed)
    except Exception:  # noqa: BLE001 - not inside an actor (the class used directly)
        return False


def index_name(store_uri: str) -> str:
    digest = blake3.blake3(store_uri.encode()).hexdigest()[:16]
    return f"digestflow-index-v{INDEX_VERSION}-{digest}"


_ACTOR_CLASS: list[Any] = []


def find_or_start_index_actor(store_uri: str) -> tuple[Any, bool]:
    """(the store's index actor, whether it is new): a live actor is found by name; else
    one is started, and its first answer is a worker process away (~0.5 s)."""
    try:
        return ray.get_actor(index_name(store_uri), namespace=NAMESPACE), False
    except ValueError:  # none yet (or it died for good): start one
        return get_index_actor(store_uri), True


def get_index_actor(store_uri: str) -> Any:
    """The store's index actor, created on first use; detached so it outlives drivers.

    The Ray actor class is made once per process: making it costs ~20 ms (every run
    opens its index)."""
    if not _ACTOR_CLASS:
        _ACTOR_CLASS.append(ray.remote(IndexActor))
    return _ACTOR_CLASS[0].options(
        name=index_name(store_uri),
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=-1,
    ).remote(store_uri)


class RayIndex:
    """The runner's Index protocol over the actor: one actor call per batch.

    A dead actor is created again once; after that the store is the index, and
    leases are the store's lock files (a local store) or this process's only.

    An actor this run had to start (none was running for the store) knows
    nothing the store does not until it first answers, which takes a worker
    process's start (~0.5 s): meanwhile lookups read the store itself, and the
    run's first leases are asked with ``acquire_soon``, so its tasks are
    dispatched while the actor starts.
    """

    def __init__(self, store_uri: str) -> None:
        self.store_uri = store_uri
        self.actor: Any = None
        self.answered = False  # the actor has answered a call: it is up
        self.fallback: StoreIndex | None = None
        self.fallback_leases: Any = None  # lock files, once fallen back on a local store
        self._store: Any = None
        self.lookups = 0
        self._recreate()

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call the actor; on its death recreate it once, then fall back to the store."""
        for attempt in range(2):
            if self.fallback is not None:
                break
            try:
                out = await getattr(self.actor, method).remote(*args, **kwargs)
                self.answered = True
                return out
            except (ray.exceptions.RayActorError, ray.exceptions.ActorUnschedulableError):
                if attempt == 0:
                    self._recreate()
        return await getattr(self._fall_back(), method)(*args, **kwargs)

    def _recreate(self) -> None:
        try:
            self.actor, new = find_or_start_index_actor(self.store_uri)
            self.answered = not new
        except (ray.exceptions.RayError, ValueError):
            self._fall_back()

    def acquire_soon(self, keys: Sequence[str], owner: str, ttl: float, *,
                     reuse: bool = True) -> LeaseTicket | None:
        """Leases from an actor that has not answered yet, asked without waiting for it;
        None once it has (``acquire`` is one round trip then) or after a fallback."""
        if self.answered or self.fallback is not None:
            return None
        ref = self.actor.refused.remote(list(keys), owner, ttl, reuse=reuse)
        return LeaseTicket(handle=ref, answer=self._answer(ref))

    async def _answer(self, ref: Any) -> dict[str, str]:
        refused = await ref
        self.answered = True
        return refused

    def _store_now(self) -> Any:
        if self._store is None:
            from storage import open_store

            self._store = open_store(self.store_uri)
        return self._store

    @property
    def shares_leases(self) -> bool:
        """Whether leases taken here reach other drivers through the actor."""
        return self.fallback is None

    def _fall_back(self) -> StoreIndex:
        if self.fallback is None:
            from runner.lease_tables import LockFileTable

            store = self._store_now()
            if store.backend.is_local:  # other drivers on this store still see these
                self.fallback_leases = LockFileTable(store)
            self.fallback = StoreIndex(store)
        return self.fallback

    async def lookup(self, refs: Sequence[Ref]) -> dict[Ref, Any]:
        self.lookups += 1
        refs = list(refs)
        if not self.answered and self.fallback is None:  # a new actor would ask the store
            return dict(self._store_now().manifests_many(refs))
        found = await self._call("lookup", refs)
        return found if isinstance(found, dict) else decode_found(refs, found)  # dict: the store

    async def record(self, manifests: Sequence[dict[str, Any]]) -> None:
        await self._call("record", list(manifests))

    async def forget(self, refs: Sequence[Ref]) -> None:
        await self._call("forget", list(refs))

    async def acquire(self, keys: Sequence[str], owner: str, ttl: float, *,
                      renew: bool = False, reuse: bool = True) -> dict[str, str]:
        held = await self._call("acquire", list(keys), owner, ttl, renew=renew, reuse=reuse)
        if self.fallback_leases is not None:  # the actor is gone for good: lock files
            held = await self.fallback_leases.acquire(keys, owner, ttl, reuse=reuse)
        return held

    async def release(self, keys: Sequence[str], owner: str) -> None:
        await self._call("release", list(keys), owner)
        if self.fallback_leases is not None:
            await self.fallback_leases.release(keys, owner)
