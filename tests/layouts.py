"""Store layouts in tests: where an object's files are, and turning a store into one
written by an older digestflow (layout 1), through the layout 1 path code of
``storage.refs``. Tests name files through these helpers, never by hard-coded
paths, so a layout change shows as one edit here."""

from __future__ import annotations

from typing import Any

from storage import Store, refs
from storage.layout import object_entries, object_files
from storage.marker import MARKER, forget_checked, marker_bytes


def object_names(store: Store, key: str, socket: int | None = None) -> set[str]:
    """``<socket>.<ext>`` of each file of ``key`` (one socket or all), in every layout."""
    names = set()
    for path in object_files(store.backend, key, socket):
        (_, found_socket), _, ext = refs.parse_object_path(path)  # type: ignore[misc]
        names.add(f"{found_socket}.{ext}")
    return names


def object_paths(store: Store) -> list[str]:
    """Every object file (manifests and data) of every layout, relative to the root."""
    return sorted(e.path for e in object_entries(store.backend))


def layouts_present(store: Store) -> set[int]:
    """The layouts that hold at least one manifest."""
    return {p[1] for path in object_paths(store)
            if (p := refs.parse_object_path(path)) is not None and p[2] == "manifest.json"}


def to_layout_1(store: Store, only: Any = None) -> int:
    """Move every layout 2 object file (or those of the refs in ``only``) to its layout 1
    path, as an older digestflow would have written it, and mark the store layout 1.
    Returns how many files moved."""
    moved = 0
    for path in object_paths(store):
        parsed = refs.parse_object_path(path)
        if parsed is None or parsed[1] != refs.LAYOUT:
            continue
        (key, socket), _, ext = parsed
        if only is not None and (key, socket) not in only:
            continue
        store.backend.move(path, refs.data_path(key, socket, ext, refs.LEGACY_LAYOUT))
        moved += 1
    store.backend.write_bytes(MARKER, marker_bytes(refs.LEGACY_LAYOUT))
    forget_checked()  # this process re-reads the marker, as a fresh one would
    return moved
