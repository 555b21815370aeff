"""Finding objects across layouts: the current one (2) first, then layout 1.

``storage.refs`` names the paths of each layout; this module answers "where
is this object" for a store that may still hold layout 1 objects (its marker
says layout 1: written by an older digestflow, not yet migrated). Such a store
costs one more stat or read per miss, and only until ``storage.migrate`` has
run; a store marked layout 2 is read at layout 2 paths only. Writes always go
to the current layout. Whole-store walks (gc, verify, ``iter_manifests``)
list every layout whatever the marker says, so nothing that can exist on disk
is overlooked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from storage import refs
from storage.backends import Backend, FileEntry
from storage.refs import Ref


class UnreadableManifest(Exception):
    """A manifest path holds something that cannot be read (a directory, no permission)."""

    def __init__(self, kind: str, layout: int) -> None:
        super().__init__(kind)
        self.kind = kind
        self.layout = layout


def read_layouts(marker_layout: int) -> tuple[int, ...]:
    """The layouts a read looks in, in order, for a store whose marker says this."""
    return (refs.LAYOUT,) if marker_layout >= refs.LAYOUT else refs.LAYOUTS


def object_paths(key: str, socket: int, exts: Iterable[str]) -> list[str]:
    """Every path a write of ``(key, socket)`` may create: manifest and data files."""
    return [refs.manifest_path(key, socket)] + [
        refs.data_path(key, socket, ext) for ext in sorted(exts)
    ]


def find_manifest(
    backend: Backend, key: str, socket: int, layouts: tuple[int, ...]
) -> tuple[bytes, int] | None:
    """The raw manifest of ``(key, socket)`` and its layout, from the first layout that
    has one; None if none has. Raises ``UnreadableManifest`` for one that is there but
    cannot be read."""
    for layout in layouts:
        try:
            return backend.read_bytes(refs.manifest_path(key, socket, layout)), layout
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError) as err:
            raise UnreadableManifest(type(err).__name__, layout) from err
    return None


def exists_many(backend: Backend, refs_: Iterable[Ref], layouts: tuple[int, ...]) -> set[Ref]:
    """Which of ``refs_`` have a manifest file in one of ``layouts``: a batch per layout,
    each only for those the previous ones lacked."""
    missing, found = list(refs_), set()
    for layout in layouts:
        if not missing:
            break
        paths = {refs.manifest_path(*r, layout): r for r in missing}
        found |= {paths[p] for p in backend.exists_many(paths)}
        missing = [r for r in missing if r not in found]
    return found


def read_manifests(
    backend: Backend, refs_: Iterable[Ref], layouts: tuple[int, ...]
) -> dict[Ref, bytes]:
    """Raw manifests of those of ``refs_`` that have one (the first layout's wins)."""
    missing, out = list(refs_), {}
    for layout in layouts:
        if not missing:
            break
        paths = {refs.manifest_path(*r, layout): r for r in missing}
        for path, raw in backend.read_many(paths).items():
            out[paths[path]] = raw
        missing = [r for r in missing if r not in out]
    return out


def object_entries(backend: Backend) -> Iterator[FileEntry]:
    """Every file under the format directories of every layout (gc, verify, listing)."""
    for layout in refs.LAYOUTS:
        yield from backend.list_files(refs.FORMAT_DIRS[layout])


def object_files(backend: Backend, key: str, socket: int | None) -> list[str]:
    """The files of ``key`` (one socket, or all) in every layout, manifests first; only
    names digestflow writes."""
    out = []
    for layout in refs.LAYOUTS:
        directory, prefix = refs.object_name_prefix(key, socket, layout)
        for entry in backend.list_files(directory):
            name = entry.path.rsplit("/", 1)[-1]
            parsed = refs.parse_object_path(entry.path)
            if name.startswith(prefix) and parsed is not None and parsed[0][0] == key:
                out.append(entry.path)
    return sorted(out, key=lambda p: (not p.endswith(refs.MANIFEST_SUFFIX), p))
