"""File contents in keys: ``File(path)`` as a literal input, and ``file_digest``.

A plain path literal keys on the path string only; reading files is I/O and
must be asked for, with ``File``. Files are memory-mapped and streamed into
a multithreaded hasher; ``file_digest`` equals ``digest(<the file's bytes>)``.
The stat cache (``STATS``) makes an unchanged file cost one ``stat``.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Mapping
from typing import Any

from blake3 import blake3

from keys import _format as F
from keys._unencodable import Unencodable
from keys.key import Key


def file_digest(path: str | os.PathLike[str]) -> Key:
    """``digest(open(path, "rb").read())`` without reading the file into memory."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        hasher = blake3(
            F.VALUE_DOMAIN + F.HEADER + F.BYTES + F.length(size), max_threads=blake3.AUTO
        )
        if size:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                if len(mapped) != size:
                    raise OSError(f"{os.fspath(path)!r} changed size while being hashed")
                hasher.update(mapped)
    return Key._trusted(hasher.digest())


class File:
    """A literal input whose file's (or directory's) contents join the key.

    The task receives ``path`` itself. A directory is keyed by its sorted
    relative paths and every file's contents (symlinks followed for files,
    never for directories). Contents are re-hashed only when a file's (size,
    mtime_ns, inode) changed since this process, or the store's stat record
    (``stat_source``), last saw it. The path string does not join the key:
    the same contents in two folders share a result.
    """

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"keys.File needs a str or path, got {type(path).__name__}")
        self.path = path

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __repr__(self) -> str:
        return f"keys.File({os.fspath(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and os.fspath(other.path) == os.fspath(self.path)

    def __hash__(self) -> int:
        return hash(os.fspath(self.path))

    def __reduce__(self) -> tuple[Any, ...]:
        return (File, (self.path,))

    def __digest__(self) -> Any:
        path = os.fspath(self.path)
        try:
            if os.path.isdir(path):
                return ("dir", _dir_entries(path))
            return ("file", content_digest(path))
        except OSError as err:
            raise Unencodable(
                File, f"is keys.File({path!r}), which cannot be read: {err.strerror or err}; "
                "fix the path or create the file before running"
            ) from err


def _dir_entries(root: str) -> tuple[tuple[str, str], ...]:
    entries = []
    for here, dirs, files in os.walk(root):  # never follows directory symlinks
        dirs.sort()
        rel = os.path.relpath(here, root).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        if prefix:
            entries.append((prefix, ""))  # empty directories count too
        for name in sorted(files):
            entries.append((prefix + name, content_digest(os.path.join(here, name))))
    return tuple(entries)


class _StatCache:
    """realpath -> (size, mtime_ns, inode, content digest hex); ``hashed`` counts
    files actually read; ``dirty`` says whether a saved copy is out of date."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, int, int, str]] = {}
        self.hashed = 0
        self.dirty = False
        self.source: Callable[[], Mapping[str, Any]] | None = None


STATS = _StatCache()


def stat_source(load: Callable[[], Mapping[str, Any]] | None) -> None:
    """Where to find saved stat records (a store's), read on the first miss."""
    STATS.source = load


def content_digest(path: str) -> str:
    """Hex digest of a file's contents, from the stat cache when it is unchanged."""
    real = os.path.realpath(path)
    st = os.stat(real)
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    known = STATS.entries.get(real)
    if (known is None or known[:3] != stamp) and STATS.source is not None:
        load, STATS.source = STATS.source, None
        _merge(load())
        known = STATS.entries.get(real)
    if known is not None and known[:3] == stamp:
        return known[3]
    digest = file_digest(real).hex()
    STATS.hashed += 1
    STATS.entries[real] = (*stamp, digest)
    STATS.dirty = True
    return digest


def _merge(saved: Mapping[str, Any]) -> None:
    for real, entry in saved.items():
        try:
            size, mtime, ino, digest = entry
            STATS.entries.setdefault(str(real), (int(size), int(mtime), int(ino), str(digest)))
        except (TypeError, ValueError):
            continue  # a malformed record is ignored: the file is re-hashed
