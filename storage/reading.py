"""Reading one object, and moving an unreadable one aside.

Shared by ``Store`` (the read path) and ``maintenance`` (verify, gc), so the
two agree on what "readable" means: a schema-valid manifest at the right
address, a known codec, a regular data file of the manifest's size whose
blake3 matches, and (for pickles) a valid authentication tag. Whatever breaks
one of these is an ``Unreadable`` with a one-line reason; the caller moves the
object to ``quarantine/<key>-<socket>-<ns>/`` (with the reason in
``reason.txt``) so it becomes a miss and is recomputed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from storage import refs
from storage.codecs import content_digest
from storage.errors import StorageError
from storage.inline import decode_inline
from storage.manifest import Manifest
from storage.marker import bump_epoch

QUARANTINE_DIR = "quarantine"
UNREADABLE_FILE = (IsADirectoryError, NotADirectoryError, PermissionError)


class Unreadable(Exception):
    """An object that exists but cannot be read; ``str()`` says why."""


def parse_manifest(raw: bytes, key: str, socket: int) -> Manifest:
    """The manifest in ``raw`` if it is valid and names ``(key, socket)``, else Unreadable."""
    try:
        manifest = Manifest.from_json(raw)
    except StorageError as err:
        raise Unreadable(str(err)) from None
    if manifest.ref != (key, socket):
        raise Unreadable(f"malformed manifest: it names {manifest.key}/{manifest.socket}")
    return manifest


def codec_of(registry: Any, manifest: Manifest) -> Any:
    try:
        return registry.named(manifest.codec)
    except StorageError as err:
        raise Unreadable(str(err)) from None


def read_data(backend: Any, manifest: Manifest, codec: Any, writable: bool | None = None,
              layout: int = refs.LAYOUT) -> Any:
    """The object's bytes: from its manifest when inline, else mapped from its data file
    (in the ``layout`` its manifest was found in)."""
    writable = codec.writable if writable is None else writable
    if manifest.inline is not None:
        return decode_inline(manifest.inline, writable)
    return backend.map(refs.data_path(manifest.key, manifest.socket, codec.ext, layout), writable)


def checked_data(backend: Any, manifest: Manifest, codec: Any, policy: str,
                 writable: bool | None = None, layout: int = refs.LAYOUT) -> Any:
    """The object's bytes, size- (and with ``policy="always"``, digest-) checked."""
    try:
        buf = read_data(backend, manifest, codec, writable, layout)
    except FileNotFoundError:
        raise Unreadable("its data file is missing") from None
    except (ValueError, OSError) as err:
        raise Unreadable(f"its data cannot be read ({type(err).__name__}: {err})") from None
    size = len(memoryview(buf))
    if size != manifest.nbytes:
        raise Unreadable(f"it has {size} bytes, its manifest says {manifest.nbytes}")
    if policy == "always" and content_digest(buf) != manifest.content_digest:
        raise Unreadable("its content digest does not match its manifest")
    return buf


def quarantine(backend: Any, key: str, socket: int, reason: str,
               exts: Iterable[str], layout: int = refs.LAYOUT) -> str:
    """Move ``(key, socket)``'s manifest in ``layout`` (first, so the object stops
    existing), then its data file (one per ``exts``, the codecs' extensions), under
    ``quarantine/``; delete what cannot be moved. Returns where. Data under an
    extension no codec here writes is left as an orphan for ``gc``."""
    dest = f"{QUARANTINE_DIR}/{key}-{socket}-{time.time_ns()}"
    moves = [(refs.manifest_path(key, socket, layout), "manifest.json")]
    moves += [(refs.data_path(key, socket, ext, layout), f"data.{ext}") for ext in sorted(exts)]
    moved = False
    for src, name in moves:
        try:
            backend.move(src, f"{dest}/{name}")
            moved = True
        except FileNotFoundError:
            continue
        except OSError:  # e.g. quarantine/ is not a real directory: never write through it
            with contextlib.suppress(OSError):
                backend.delete(src)
    if moved:
        with contextlib.suppress(OSError):
            backend.write_bytes(f"{dest}/reason.txt", reason.encode("utf-8", "replace")[:4096])
    bump_epoch(backend)
    return dest


def clear_way(backend: Any, path: str) -> None:
    """Move aside whatever is not a directory on the way to ``path``, and ``path`` itself
    if it is not a regular file (a local store only: object stores have no directories)."""
    if not backend.is_local:
        return
    import os
    import stat

    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        rel = "/".join(parts[:depth])
        try:
            mode = os.lstat(os.path.join(backend.root, rel)).st_mode
        except OSError:
            return
        wanted = stat.S_ISREG if depth == len(parts) else stat.S_ISDIR
        if not wanted(mode):
            with contextlib.suppress(OSError):
                os.renames(os.path.join(backend.root, rel), os.path.join(
                    backend.root, QUARANTINE_DIR, f"odd-{time.time_ns()}", "entry"))
            return
