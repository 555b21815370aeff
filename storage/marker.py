"""A store knows it is a store: the marker file, and the deletion epoch.

Marker: ``<root>/digestflow-store.json`` holds ``{"digestflow": "store",
"layout": N}``. Opening a store checks it once per process: a missing or empty
directory (or an empty bucket prefix) becomes a store and gets the marker (the
current layout, 2); a directory written by an older digestflow (only our own
top-level names, with ``v1/``) is adopted as layout 1; anything else is
refused, so ``gc`` and ``verify`` never run over a directory that is not ours.
A marker with a newer layout is refused.

Layout: a store marked layout 1 may hold objects at layout 1 paths
(``storage.refs``): reads fall back to them, writes go to layout 2, and
``storage.migrate`` moves them and then marks the store layout 2, after which
reads look at layout 2 paths only. ``store_layout`` remembers each store's
layout per process (a worker reads the marker once); a process that still
remembers 1 after a migration only pays a useless fallback on misses.

Epoch: ``<root>/epoch`` holds a random token rewritten whenever digestflow
deletes or quarantines objects (``gc``, ``verify --repair``, ``delete``, a
corrupt object found on read). An index that caches "this object exists" (the
cluster index actor) compares the token on each lookup and forgets everything
when it changed, so deletions reach it without Ray in the deleting process.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from typing import Any

from storage.errors import StorageError
from storage.refs import FORMAT_DIRS, LAYOUT, LEGACY_LAYOUT

MARKER = "digestflow-store.json"
EPOCH_FILE = "epoch"
LAYOUT_VERSION = LAYOUT
OWN_TOP_NAMES = frozenset({
    *FORMAT_DIRS.values(), "tmp", "quarantine", "access", "pins", "docs", "locks", "secret.key", MARKER,
    EPOCH_FILE, "index",
})
_MAX_MARKER = 4096
_checked: set[tuple[str, str]] = set()  # (uri, mode) already checked in this process
_layouts: dict[str, int] = {}  # where -> the layout its marker gave, in this process


def marker_bytes(layout: int = LAYOUT_VERSION) -> bytes:
    return json.dumps({"digestflow": "store", "layout": layout}).encode()


def ensure_store(backend: Any, where: str, *, readonly: bool = False) -> None:
    """Check that ``backend``'s root is a digestflow store, making it one if it is empty.

    Raises ``StorageError`` naming ``where`` and the fix otherwise. Checked once
    per process and mode; ``readonly`` skips the writability check.
    """
    memo = (where, "r" if readonly else "w")
    if memo in _checked or (where, "w") in _checked:
        return
    if backend.is_local:
        _ensure_local(backend.root, where, readonly)
    else:
        _ensure_remote(backend, where)
    _checked.add(memo)


def _ensure_local(root: str, where: str, readonly: bool) -> None:
    try:
        st = os.stat(root)
    except FileNotFoundError:
        st = None
    except OSError as err:
        raise StorageError(f"store {where!r} cannot be opened: {err}") from err
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise StorageError(f"store {where!r} is not a directory; give a new or empty directory "
                           "(or an existing digestflow store) as --store / DIGESTFLOW_STORE")
    if st is None:
        _create_local(root, where)
        return
    marker = os.path.join(root, MARKER)
    if os.path.lexists(marker):
        _layouts[where] = _check_marker(_read_local_marker(marker, where), where)
    else:
        names = set(os.listdir(root))
        if names and not _adoptable(names):
            raise _not_a_store(where, sorted(names - OWN_TOP_NAMES)[:3])
        _write_local_marker(root, where, _adopted_layout(names))
    if not readonly and not os.access(root, os.W_OK | os.X_OK):
        raise StorageError(f"store {where!r} is not writable by this user; fix its "
                           "permissions or choose another store")


def _create_local(root: str, where: str) -> None:
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as err:
        raise StorageError(f"cannot create store {where!r}: {err}") from err
    _write_local_marker(root, where, LAYOUT_VERSION)


def _write_local_marker(root: str, where: str, layout: int) -> None:
    path = os.path.join(root, MARKER)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    _layouts[where] = layout
    try:
        with open(tmp, "xb") as f:
            f.write(marker_bytes(layout))
        os.replace(tmp, path)
    except OSError as err:
        raise StorageError(f"store {where!r} is not writable ({err}); fix its permissions "
                           "or choose another store") from err


def _read_local_marker(path: str, where: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        raise StorageError(f"store {where!r}: its marker {MARKER} is unreadable ({err})") from err
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StorageError(f"store {where!r}: its marker {MARKER} is not a regular file")
        return os.read(fd, _MAX_MARKER + 1)
    finally:
        os.close(fd)


def _ensure_remote(backend: Any, where: str) -> None:
    if not backend.root.strip("/"):
        raise StorageError(f"store {where!r} names no bucket: use e.g. s3://BUCKET/PREFIX")
    try:
        raw = backend.read_bytes(MARKER)
    except FileNotFoundError:
        raw = None
    except OSError as err:
        raise StorageError(f"store {where!r} cannot be read: {err}") from err
    if raw is not None:
        _layouts[where] = _check_marker(raw, where)
        return
    names = _remote_top_names(backend)
    if names and not _adoptable(names):
        raise _not_a_store(where, sorted(names - OWN_TOP_NAMES)[:3])
    _layouts[where] = _adopted_layout(names)
    try:
        backend.write_bytes(MARKER, marker_bytes(_layouts[where]))
    except OSError as err:
        raise StorageError(f"store {where!r} is not writable: {err}") from err


def _remote_top_names(backend: Any) -> set[str]:
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(backend.root, recursive=False, allow_not_found=True)
    try:
        infos = backend.fs.get_file_info(selector)
    except OSError as err:
        raise StorageError(f"cannot list store {backend.root!r}: {err}") from err
    return {info.base_name for info in infos}


def _adoptable(names: set[str]) -> bool:
    """A store whose marker is missing (written before markers existed): our names only,
    objects included."""
    return bool(names & set(FORMAT_DIRS.values())) and names <= OWN_TOP_NAMES


def _adopted_layout(names: set[str]) -> int:
    """Layout 1 for a store written before markers (it holds layout 1 objects)."""
    return LEGACY_LAYOUT if FORMAT_DIRS[LEGACY_LAYOUT] in names else LAYOUT_VERSION


def store_layout(backend: Any, where: str) -> int:
    """The layout the marker of store ``where`` gives, read once per process (1 when it
    cannot be read: falling back to layout 1 paths costs a lookup, never an object)."""
    layout = _layouts.get(where)
    if layout is None:
        try:
            layout = _check_marker(backend.read_bytes(MARKER), where)
        except (OSError, StorageError):
            layout = LEGACY_LAYOUT
        _layouts[where] = layout
    return layout


def set_layout(backend: Any, where: str, layout: int) -> None:
    """Mark store ``where`` as ``layout`` (``storage.migrate``, once no older object is
    left)."""
    backend.write_bytes(MARKER, marker_bytes(layout))
    _layouts[where] = layout


def _check_marker(raw: bytes, where: str) -> int:
    try:
        if len(raw) > _MAX_MARKER:
            raise ValueError("too large")
        doc = json.loads(raw)
        layout = doc["layout"] if doc.get("digestflow") == "store" else None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        layout = None
    if not isinstance(layout, int) or isinstance(layout, bool):
        raise StorageError(f"store {where!r}: its marker {MARKER} is malformed; if this "
                           f"directory is a digestflow store, replace the marker with "
                           f"{marker_bytes().decode()}")
    if layout > LAYOUT_VERSION:
        raise StorageError(f"store {where!r} has layout {layout}, newer than this digestflow "
                           f"understands ({LAYOUT_VERSION}): upgrade digestflow")
    return max(layout, LEGACY_LAYOUT)


def _not_a_store(where: str, foreign: list[str]) -> StorageError:
    shown = ", ".join(repr(n) for n in foreign)
    return StorageError(
        f"{where!r} is not a digestflow store: it is not empty and has no {MARKER} "
        f"(it holds {shown}). digestflow never writes into or cleans a directory that is "
        "not its own: give a new or empty directory as --store / DIGESTFLOW_STORE"
    )


def bump_epoch(backend: Any) -> None:
    """Record that objects were deleted: indexes that cache existence start over."""
    try:
        backend.write_bytes(EPOCH_FILE, secrets.token_hex(8).encode())
    except OSError:
        pass  # an index then learns of the deletion only by a failed read: still safe


def read_epoch(backend: Any) -> str:
    try:
        return backend.read_bytes(EPOCH_FILE)[:64].decode("ascii", "replace")
    except OSError:
        return ""


def forget_checked() -> None:
    """Forget which stores were checked (tests that rebuild a store in place)."""
    _checked.clear()
    _layouts.clear()
