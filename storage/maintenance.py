"""Whole-store operations: listing, stats, quarantine, gc and verification.

gc policy: the store's size is the sum of its objects' data bytes. An object's
last use is the later of its creation and its last recorded access (see
``storage.access``). Objects pinned (``Store.pin``) or passed in ``keep`` are
never evicted. Others go oldest-first: all unused for ``older_than`` seconds,
then more until the total is at most ``max_bytes``. Eviction deletes the
manifest first. Temporaries (``tmp/``), data files no manifest refers to (a
writer died between data and manifest) and quarantined objects are removed
once older than ``temp_age`` seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from storage import refs
from storage.access import merge_access
from storage.backends import TMP_DIR, Backend, FileEntry
from storage.codecs import content_digest
from storage.errors import StorageError
from storage.manifest import GcReport, Manifest, StoreStats, Usage, VerifyIssue

if TYPE_CHECKING:
    from storage.store import Store

QUARANTINE_DIR = "quarantine"
_BATCH = 256


def _manifest_paths(entries: Iterable[FileEntry]) -> list[str]:
    return [e.path for e in entries if refs.parse_manifest_path(e.path) is not None]


def _read_manifests(backend: Backend, paths: list[str]) -> Iterator[tuple[str, Manifest | None]]:
    for start in range(0, len(paths), _BATCH):
        for path, raw in backend.read_many(paths[start : start + _BATCH]).items():
            try:
                manifest = Manifest.from_json(raw)
            except StorageError:
                yield path, None
                continue
            ok = manifest.ref == refs.parse_manifest_path(path)
            yield path, manifest if ok else None


def iter_manifests(backend: Backend) -> Iterator[Manifest]:
    paths = _manifest_paths(backend.list_files(refs.FORMAT_DIR))
    return (m for _, m in _read_manifests(backend, paths) if m is not None)


def stats(manifests: Iterable[Manifest]) -> StoreStats:
    total, by_codec, by_task = Usage(), {}, {}
    for m in manifests:
        total = total.plus(m.nbytes)
        by_codec[m.codec] = by_codec.get(m.codec, Usage()).plus(m.nbytes)
        task = m.task or "?"
        by_task[task] = by_task.get(task, Usage()).plus(m.nbytes)
    return StoreStats(objects=total.objects, bytes=total.bytes, by_codec=by_codec, by_task=by_task)


def quarantine(backend: Backend, manifest: Manifest, ext: str) -> str:
    """Move an object under ``quarantine/`` (manifest first, so it stops existing)."""
    dest = f"{QUARANTINE_DIR}/{manifest.key}-{manifest.socket}-{time.time_ns()}"
    moves = (
        (refs.manifest_path(manifest.key, manifest.socket), "manifest.json"),
        (refs.data_path(manifest.key, manifest.socket, ext), f"data.{ext}"),
    )
    for src, name in moves:
        try:
            backend.move(src, f"{dest}/{name}")
        except FileNotFoundError:
            continue
        except OSError:
            backend.delete(src)
    return dest


def quarantine_manifest(backend: Backend, key: str, socket: int) -> str:
    """Move an unreadable manifest aside (its data becomes an orphan for gc)."""
    dest = f"{QUARANTINE_DIR}/{key}-{socket}-{time.time_ns()}"
    with contextlib.suppress(FileNotFoundError):
        backend.move(refs.manifest_path(key, socket), f"{dest}/manifest.json")
    return dest


def expand_protected(pinned: Iterable[list], keep: Iterable[Any]) -> tuple[set, set]:
    """Protected ``(hex, socket)`` refs and whole keys, from pins and ``keep``."""
    whole: set[str] = set()
    exact: set[refs.Ref] = set()
    items = [tuple(r) for rows in pinned for r in rows] + list(keep)
    for item in items:
        if isinstance(item, tuple | list) and len(item) == 2 and item[1] is None:
            whole.add(refs.key_hex(item[0]))
        elif isinstance(item, tuple | list):
            exact.add(refs.check_ref(item))
        else:
            whole.add(refs.key_hex(item))
    return exact, whole


def gc(
    store: Store,
    protected: tuple[set, set],
    max_bytes: int | None,
    older_than: float | None,
    dry_run: bool,
    temp_age: float,
) -> GcReport:
    backend, now = store.backend, time.time()
    entries = list(backend.list_files(refs.FORMAT_DIR))
    live = {m.ref: m for _, m in _read_manifests(backend, _manifest_paths(entries)) if m}
    last = merge_access(backend, dry_run)
    exact, whole = protected
    candidates = sorted(
        (max(m.created, last.get(ref, 0.0)), ref)
        for ref, m in live.items()
        if ref not in exact and ref[0] not in whole
    )
    total = before = sum(m.nbytes for m in live.values())
    evicted: list[refs.Ref] = []
    for used, ref in candidates:
        stale = older_than is not None and now - used > older_than
        if not stale and (max_bytes is None or total <= max_bytes):
            continue
        evicted.append(ref)
        total -= live[ref].nbytes
    junk = _junk(store, entries, live, now - temp_age)
    if not dry_run:
        for ref in evicted:  # the manifest first: the object stops existing, then its data
            manifest = live[ref]
            backend.delete(refs.manifest_path(*ref))
            if manifest.inline is None:
                ext = store._registry.named(manifest.codec).ext
                backend.delete(refs.data_path(manifest.key, manifest.socket, ext))
        for path in junk:
            backend.delete(path)
        with contextlib.suppress(OSError, AttributeError):
            backend.remove_empty_dirs(refs.FORMAT_DIR)  # type: ignore[attr-defined]
            backend.remove_empty_dirs(QUARANTINE_DIR)  # type: ignore[attr-defined]
    return GcReport(
        evicted=tuple(evicted),
        freed_bytes=before - total,
        bytes_before=before,
        bytes_after=total,
        temporaries=tuple(junk),
        dry_run=dry_run,
    )


def _junk(store: Store, entries: list[FileEntry], live: dict, cutoff: float) -> list[str]:
    """Temporaries, quarantined files and orphaned data files older than ``cutoff``."""
    wanted = {refs.manifest_path(*ref) for ref in live}
    wanted |= {
        refs.data_path(m.key, m.socket, store._registry.named(m.codec).ext) for m in live.values()
    }
    orphans = [
        e for e in entries if e.path not in wanted and not e.path.endswith(refs.MANIFEST_SUFFIX)
    ]
    extra = list(store.backend.list_files(TMP_DIR)) + list(store.backend.list_files(QUARANTINE_DIR))
    return sorted(e.path for e in orphans + extra if e.mtime <= cutoff)


def verify_all(store: Store, repair: bool) -> list[VerifyIssue]:
    """Size and digest of every object; broken ones are quarantined when ``repair``."""
    backend, issues = store.backend, []
    paths = _manifest_paths(backend.list_files(refs.FORMAT_DIR))
    for path, manifest in _read_manifests(backend, paths):
        if manifest is None:
            key, socket = refs.parse_manifest_path(path)  # type: ignore[misc]
            if repair:
                quarantine_manifest(backend, key, socket)
            issues.append(VerifyIssue(key, socket, "malformed manifest", repair))
            continue
        problem = _verify_one(store, manifest)
        if problem is not None:
            if repair:
                quarantine(backend, manifest, store._registry.named(manifest.codec).ext)
            issues.append(VerifyIssue(manifest.key, manifest.socket, problem, repair))
    return issues


def _verify_one(store: Store, m: Manifest) -> str | None:
    try:
        from storage.store import read_data

        buf = read_data(store.backend, m, store._registry.named(m.codec), writable=False)
    except FileNotFoundError:
        return "data file is missing"
    except (StorageError, ValueError) as err:
        return str(err)
    if len(memoryview(buf)) != m.nbytes:
        return f"data has {len(memoryview(buf))} bytes, manifest says {m.nbytes}"
    if content_digest(buf) != m.content_digest:
        return "content digest mismatch"
    return None
