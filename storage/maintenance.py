"""Whole-store operations: listing, stats, gc and verification.

gc policy: the store's size is the sum of its objects' data bytes. An object's
last use is the later of its creation and its last recorded access (see
``storage.access``). Objects pinned (``Store.pin``) or passed in ``keep`` are
never evicted. Others go oldest-first: all unused for ``older_than`` seconds,
then more until the total is at most ``max_bytes``. Eviction deletes the
manifest first. Temporaries (``tmp/``), data files no manifest refers to (a
writer died between data and manifest) and quarantined objects are removed
once older than ``temp_age`` seconds, and so are aliases (``Store.put``'s
second names of manifests, ``docs/alias.*/``) whose bytes no object left
holds (its object evicted, or rewritten with other content): a local alias
is a hard link, so it would otherwise keep an evicted manifest's inline data.

Safety: these functions take a backend and a codec registry (never a Store),
walk the store without following symlinks, and delete only paths that match
the names digestflow itself writes (``TMP_NAME``, ``_QUARANTINED``, object
data paths); anything else under the root is left alone. Every deletion bumps
the store's epoch (``storage.marker``) so cached indexes learn of it.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from storage import refs
from storage.access import merge_access
from storage.backends import TMP_DIR, TMP_NAME, TMP_SUBDIR, Backend, FileEntry
from storage.errors import StorageError
from storage.layout import object_entries
from storage.manifest import GcReport, Manifest, StoreStats, Usage, VerifyIssue
from storage.marker import bump_epoch
from storage.reading import (
    QUARANTINE_DIR,
    UNREADABLE_FILE,
    Unreadable,
    checked_data,
    codec_of,
    parse_manifest,
    quarantine,
)

_BATCH = 256
_QUARANTINED = re.compile(
    rf"{QUARANTINE_DIR}/[0-9a-f]{{64}}-[0-9]+-[0-9]+/(manifest\.json|reason\.txt|data\.[A-Za-z0-9_]+)"
)
_MANIFEST_EXT = refs.MANIFEST_SUFFIX[1:]
_LEGACY_ALIAS = re.compile(r"docs/resolved\.[0-9a-f]{2}/[0-9a-f]{64}\.json")


def _manifest_paths(entries: Iterable[FileEntry]) -> list[str]:
    """Manifest paths of every layout, the current layout's first."""
    found = [(p[1], e.path) for e in entries
             if (p := refs.parse_object_path(e.path)) is not None and p[2] == _MANIFEST_EXT]
    return [path for _, path in sorted(found, key=lambda lp: lp[0] != refs.LAYOUT)]


def _read_manifests(
    backend: Backend, paths: list[str]
) -> Iterator[tuple[str, Manifest | None, str]]:
    """(path, manifest or None, problem) for each manifest path that could be read."""
    for start in range(0, len(paths), _BATCH):
        for path, raw in backend.read_many(paths[start : start + _BATCH]).items():
            key, socket = refs.parse_manifest_path(path)  # type: ignore[misc]
            try:
                yield path, parse_manifest(raw, key, socket), ""
            except Unreadable as err:
                yield path, None, str(err)


def iter_manifests(backend: Backend) -> Iterator[Manifest]:
    """One valid manifest per object, across layouts: the one a read would use."""
    paths = _manifest_paths(object_entries(backend))
    current = {refs.parse_manifest_path(p) for p in paths if refs.path_layout(p) == refs.LAYOUT}
    paths = [p for p in paths
             if refs.path_layout(p) == refs.LAYOUT or refs.parse_manifest_path(p) not in current]
    return (m for _, m, _ in _read_manifests(backend, paths) if m is not None)


def iter_objects(backend: Backend) -> Iterator[tuple[Manifest, int]]:
    """Every valid manifest with its layout, copies in both layouts included."""
    for path, manifest, _ in _read_manifests(backend, _manifest_paths(object_entries(backend))):
        if manifest is not None:
            yield manifest, refs.path_layout(path)


def data_ref(path: str) -> tuple[refs.Ref, int] | None:
    """The ref and layout whose data file ``path`` is, else None."""
    parsed = refs.parse_object_path(path)
    return None if parsed is None or parsed[2] == _MANIFEST_EXT else (parsed[0], parsed[1])


def stats(manifests: Iterable[Manifest]) -> StoreStats:
    total, by_codec, by_task = Usage(), {}, {}
    for m in manifests:
        total = total.plus(m.nbytes)
        by_codec[m.codec] = by_codec.get(m.codec, Usage()).plus(m.nbytes)
        task = m.task or "?"
        by_task[task] = by_task.get(task, Usage()).plus(m.nbytes)
    return StoreStats(objects=total.objects, bytes=total.bytes, by_codec=by_codec, by_task=by_task)


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
    backend: Backend,
    registry: Any,
    protected: tuple[set, set],
    limits: tuple[int | None, float | None],
    dry_run: bool,
    temp_age: float,
) -> GcReport:
    """Evict by ``limits`` (max_bytes, older_than) and remove junk; see the module doc."""
    max_bytes, older_than = limits
    now = time.time()
    entries = list(object_entries(backend))
    copies: dict[refs.Ref, list[tuple[str, Manifest]]] = {}
    for path, m, _ in _read_manifests(backend, _manifest_paths(entries)):
        if m is not None:
            copies.setdefault(m.ref, []).append((path, m))
    last = merge_access(backend, dry_run)
    exact, whole = protected
    candidates = sorted(
        (max(max(m.created for _, m in found), last.get(ref, 0.0)), ref)
        for ref, found in copies.items()
        if ref not in exact and ref[0] not in whole
    )
    size = {ref: sum(m.nbytes for _, m in found) for ref, found in copies.items()}
    total = before = sum(size.values())
    evicted: list[refs.Ref] = []
    for used, ref in candidates:
        stale = older_than is not None and now - used > older_than
        if not stale and (max_bytes is None or total <= max_bytes):
            continue
        evicted.append(ref)
        total -= size[ref]
    junk = _junk(backend, entries, now - temp_age)
    gone = set(evicted)
    kept = {ref: found for ref, found in copies.items() if ref not in gone}
    aliases = _dangling_aliases(backend, kept, now - temp_age)
    if not dry_run:
        _evict(backend, registry, [c for ref in evicted for c in copies[ref]])
        for path in junk:
            backend.delete(path)
        for path in aliases:  # hints only: no index holds them, so no epoch bump
            with contextlib.suppress(FileNotFoundError):
                backend.delete(path)
        if evicted or junk:
            bump_epoch(backend)
        with contextlib.suppress(OSError, AttributeError):  # layout 2's fan-out stays
            backend.remove_empty_dirs(refs.FORMAT_DIRS[refs.LEGACY_LAYOUT])  # type: ignore[attr-defined]
            backend.remove_empty_dirs(QUARANTINE_DIR)  # type: ignore[attr-defined]
            backend.remove_empty_dirs(TMP_DIR)  # type: ignore[attr-defined]
    return GcReport(
        evicted=tuple(evicted),
        freed_bytes=before - total,
        bytes_before=before,
        bytes_after=total,
        temporaries=tuple(junk),
        dry_run=dry_run,
        aliases=tuple(aliases),
    )


def _evict(backend: Backend, registry: Any, found: list[tuple[str, Manifest]]) -> None:
    for path, manifest in found:  # the manifest first: the object stops existing, then its data
        backend.delete(path)
        if manifest.inline is None:
            with contextlib.suppress(Unreadable):  # unknown codec: its data becomes an orphan
                ext = codec_of(registry, manifest).ext
                layout = refs.path_layout(path)
                backend.delete(refs.data_path(manifest.key, manifest.socket, ext, layout))


def _junk(backend: Backend, entries: list[FileEntry], cutoff: float) -> list[str]:
    """Our temporaries, quarantined files and data files without a manifest file (in
    their layout), older than ``cutoff``. Only names digestflow writes; nothing else is
    ever listed."""
    present = {e.path for e in entries}
    orphans = [
        e for e in entries
        if (found := data_ref(e.path)) is not None
        and refs.manifest_path(*found[0], found[1]) not in present
    ]
    temps = [e for e in backend.list_files(TMP_DIR) if _is_temp(e.path)]
    quarantined = [e for e in backend.list_files(QUARANTINE_DIR) if _QUARANTINED.fullmatch(e.path)]
    return sorted(e.path for e in orphans + temps + quarantined if e.mtime <= cutoff)


def _dangling_aliases(backend: Backend, kept: dict[refs.Ref, list[tuple[str, Manifest]]],
                      cutoff: float) -> list[str]:
    """Aliases older than ``cutoff`` whose manifest no kept object holds (same ref and
    digest), and the alias documents of an earlier format that nothing reads any more
    (``docs/resolved.<ab>/<64 hex>.json``). An alias that is not a manifest is not one
    digestflow wrote: left alone."""
    entries = [e for e in backend.list_files("docs") if e.mtime <= cutoff]
    legacy = [e.path for e in entries if _LEGACY_ALIAS.fullmatch(e.path)]
    named = [e.path for e in entries if refs.parse_alias_path(e.path) is not None]
    dangling = []
    for start in range(0, len(named), _BATCH):
        for path, raw in backend.read_many(named[start : start + _BATCH]).items():
            try:
                alias = Manifest.from_json(raw)
            except StorageError:
                continue
            held = kept.get(alias.ref, ())
            if not any(m.content_digest == alias.content_digest for _, m in held):
                dangling.append(path)
    return sorted(legacy + dangling)


def _is_temp(path: str) -> bool:
    """``tmp/<TMP_NAME>`` (older writers) or ``tmp/<TMP_SUBDIR>/<TMP_NAME>``."""
    parts = path.split("/")
    if len(parts) == 3 and not TMP_SUBDIR.fullmatch(parts[1]):
        return False
    return len(parts) in (2, 3) and TMP_NAME.fullmatch(parts[-1]) is not None


def verify_all(
    backend: Backend, registry: Any, secret: Callable[[], bytes], repair: bool
) -> list[VerifyIssue]:
    """Every object (in every layout) read as a run would read it (manifest schema, codec,
    size, digest, pickle tag); broken ones are quarantined when ``repair``."""
    issues: list[VerifyIssue] = []
    paths = _manifest_paths(object_entries(backend))
    for path, manifest, problem in _read_manifests(backend, paths):
        key, socket = refs.parse_manifest_path(path)  # type: ignore[misc]
        layout = refs.path_layout(path)
        if manifest is not None:
            problem = _verify_one(backend, registry, secret, manifest, layout) or ""
        if problem:
            if repair:
                quarantine(backend, key, socket, f"verify: {problem}", registry.exts(), layout)
            issues.append(VerifyIssue(key, socket, problem, repair))
    issues += _odd_entries(backend, repair)
    return issues


def _verify_one(backend: Backend, registry: Any, keyring: Callable[[], Any],
                m: Manifest, layout: int) -> str | None:
    try:
        codec = codec_of(registry, m)
        buf = checked_data(backend, m, codec, "always", writable=False, layout=layout)
        if m.codec == "pickle":
            return _pickle_problem(buf, keyring, m)
    except Unreadable as err:
        return str(err)
    return None


def _pickle_problem(buf: Any, keyring: Callable[[], Any], m: Manifest) -> str | None:
    """Why a stored pickle would be refused on read (its tag, checked, never unpickled)."""
    from storage.codecs.pickled import signer, split

    signed = split(buf)
    if signed is None:
        return "pickle has no authentication tag"
    try:
        if signer(signed, keyring(), m.key, m.socket) is None:
            return "pickle authentication tag is wrong (tampered, or signed with another key)"
    except StorageError as err:  # a key this process does not list, or no key at all
        return str(err).split("; treated as a miss")[0]
    return None


def _odd_entries(backend: Backend, repair: bool) -> list[VerifyIssue]:
    """Symlinks, directories and special files where the store expects its own files."""
    if not backend.is_local:
        return []
    out = []
    for layout in refs.LAYOUTS:
        prefix = refs.FORMAT_DIRS[layout]
        # a directory at a data path is reported by its object's manifest check
        named = backend.odd_entries(prefix, _manifest_named)  # type: ignore[attr-defined]
        for path in named:
            found = refs.parse_object_path(path)
            if repair:
                with contextlib.suppress(*UNREADABLE_FILE, OSError):
                    backend.move(path, f"{QUARANTINE_DIR}/odd-{time.time_ns()}/entry")
            key, socket = found[0] if found is not None else ("", -1)
            out.append(VerifyIssue(key, socket, "not a regular file", repair, path=path))
    return out


def _manifest_named(path: str) -> bool:
    return refs.parse_manifest_path(path) is not None
