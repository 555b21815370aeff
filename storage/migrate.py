"""Moving a layout 1 store's objects to layout 2, then marking the store layout 2.

Until it runs, a store marked layout 1 works as it is: reads fall back to
layout 1 paths, writes go to layout 2 (``storage.layout``). ``migrate`` moves
each layout 1 object, one fan-out directory at a time, in steps that keep the
object readable throughout and that are each safe to repeat:

1. unless a valid layout 2 manifest already exists (a run or an earlier
   attempt wrote it: that copy wins), the data file, if any, is published at
   its layout 2 path (a hard link locally, a server-side copy on object
   stores; temp + rename), then the manifest's bytes, unchanged, at its layout
   2 path, atomically: data before manifest, as ``Store.put`` writes;
2. the layout 1 manifest is deleted (the object now exists once), then its
   data file.

Killed at any point, a rerun resumes: an object has a layout 1 manifest until
step 2, and both copies describe the same bytes while they coexist, so
nothing is lost and nothing is read wrongly. A layout 1 object that cannot be
read (malformed manifest, missing data) is quarantined, as a read would do.
Once no layout 1 manifest is left, the layout 1 data files whose object is in
layout 2 (left by a kill inside step 2) are removed, and the marker says
layout 2; from then on reads no longer look at layout 1 paths. Stop
digestflow processes older than layout 2 before migrating: one could still
write layout 1 objects, which the next ``migrate`` (or gc) then handles.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage import refs
from storage.marker import set_layout, store_layout
from storage.reading import UNREADABLE_FILE, Unreadable, codec_of, parse_manifest, quarantine

if TYPE_CHECKING:
    from storage.store import Store

__all__ = ["MigrateReport", "migrate"]

OLD = refs.LEGACY_LAYOUT
_MANIFEST_EXT = refs.MANIFEST_SUFFIX[1:]


@dataclass
class MigrateReport:
    """What ``migrate`` did (or, with ``dry_run``, would do)."""

    layout_before: int
    layout_after: int
    moved: int = 0  # objects now at layout 2 paths
    duplicates: int = 0  # layout 1 copies dropped (or gone): layout 2 already had them
    quarantined: int = 0  # layout 1 objects that could not be read
    leftovers: int = 0  # layout 1 data files removed after their object moved
    remaining: int = 0  # layout 1 manifests still there (the marker then stays at 1)
    dry_run: bool = False


def migrate(store: Store, *, dry_run: bool = False, threads: int | None = None) -> MigrateReport:
    """Move every layout 1 object of ``store`` to layout 2; see the module docstring."""
    from storage.store import _redact  # a cycle at import time otherwise

    where = _redact(store.uri)
    backend = store.backend
    before = store_layout(backend, where)
    report = MigrateReport(layout_before=before, layout_after=before, dry_run=dry_run)
    workers = threads or (1 if backend.is_local else 16)
    with ThreadPoolExecutor(workers, thread_name_prefix="digestflow-migrate") as pool:
        for fan in _fanouts(backend):
            manifests = _old_manifests(backend, fan)
            if dry_run:
                report.moved += len(manifests)
                continue
            for outcome in pool.map(lambda p: _move_one(store, p), manifests):
                setattr(report, outcome, getattr(report, outcome) + 1)
    if dry_run:
        return report
    report.remaining = sum(len(_old_manifests(backend, fan)) for fan in _fanouts(backend))
    if report.remaining == 0:
        report.leftovers = _remove_leftovers(store)
        with contextlib.suppress(OSError, AttributeError):
            backend.remove_empty_dirs(refs.FORMAT_DIRS[OLD])  # type: ignore[attr-defined]
        if before < refs.LAYOUT:
            set_layout(backend, where, refs.LAYOUT)
        report.layout_after = refs.LAYOUT
    return report


def _fanouts(backend: object) -> list[str]:
    """The layout 1 fan-out directories (``v1/<ab>``) that may hold objects."""
    return [refs.fanout_dir(f"{i:02x}", OLD) for i in range(256)]


def _old_manifests(backend: object, fan: str) -> list[str]:
    return sorted(e.path for e in backend.list_files(fan)  # type: ignore[attr-defined]
                  if (p := refs.parse_object_path(e.path)) is not None and p[2] == _MANIFEST_EXT)


def _move_one(store: Store, path: str) -> str:
    """Move the object whose layout 1 manifest is ``path``; the report field to count."""
    backend = store.backend
    key, socket = refs.parse_manifest_path(path)  # type: ignore[misc]
    try:
        raw = backend.read_bytes(path)
    except (FileNotFoundError, NotADirectoryError):
        return "duplicates"  # another migrate moved it meanwhile
    except (OSError, ValueError) as err:
        return _unreadable(store, key, socket, f"its manifest cannot be read ({err})")
    try:
        manifest = parse_manifest(raw, key, socket)
        ext = None if manifest.inline is not None else codec_of(store._registry, manifest).ext
    except Unreadable as err:
        return _unreadable(store, key, socket, str(err))
    outcome = "duplicates" if _has_current(store, key, socket) else "moved"
    if outcome == "moved":
        if ext is not None:
            try:
                backend.copy(refs.data_path(key, socket, ext, OLD),
                             refs.data_path(key, socket, ext))
            except (FileNotFoundError, *UNREADABLE_FILE):
                return _unreadable(store, key, socket, "its data file is missing or not a file")
        backend.write_bytes(refs.manifest_path(key, socket), raw)
    backend.delete(path)
    if ext is not None:
        backend.delete(refs.data_path(key, socket, ext, OLD))
    return outcome


def _has_current(store: Store, key: str, socket: int) -> bool:
    """Whether a valid layout 2 manifest of ``(key, socket)`` exists."""
    try:
        parse_manifest(store.backend.read_bytes(refs.manifest_path(key, socket)), key, socket)
        return True
    except (OSError, ValueError, Unreadable):
        return False


def _unreadable(store: Store, key: str, socket: int, problem: str) -> str:
    quarantine(store.backend, key, socket, f"migrate: {problem}", store._registry.exts(), OLD)
    return "quarantined"


def _remove_leftovers(store: Store) -> int:
    """Layout 1 data files whose object has a layout 2 manifest (a kill between the two
    deletions of step 2 leaves one); other layout 1 orphans are left to gc's age rule."""
    backend = store.backend
    entries = list(backend.list_files(refs.FORMAT_DIRS[OLD]))
    present = {e.path for e in entries}
    removed = 0
    for entry in entries:
        parsed = refs.parse_object_path(entry.path)
        if parsed is None or parsed[2] == _MANIFEST_EXT:
            continue
        ref = parsed[0]
        if refs.manifest_path(*ref, OLD) in present or not _has_current(store, *ref):
            continue
        backend.delete(entry.path)
        removed += 1
    return removed

