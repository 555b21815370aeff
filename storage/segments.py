"""Index segments: the cluster index's table, saved in the store so a restart need not re-read it.

A segment is one immutable file ``index/v1/<time ns>-<random>.seg`` holding
the manifests an index actor learned (recorded or read), as the store's own
manifest JSON:

    MAGIC | u16 len + deletion epoch | u32 rows | rows (u32 len + manifest JSON)
    | blake3 of everything before (32 bytes)

Written through the backend's atomic write (a temporary name renamed into
place locally; a single PUT on object stores), so a writer killed mid-write
leaves no segment, or a whole one. A segment is a cache, like the actor: an
index may forget, never invent. Reading one checks, in order, the magic (an
unknown one is skipped, left for the digestflow that wrote it), the digest
(a torn or corrupt file is deleted: the index refills from the store), the
epoch (a segment written before the store's latest deletion may name deleted
objects: deleted), and each row as any manifest read from the store
(``Manifest.from_json``: bounded, schema-checked; never a pickle).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import struct
import time
from collections.abc import Iterable, Iterator
from typing import Any

import blake3

from storage.errors import StorageError
from storage.manifest import Manifest

__all__ = ["SEGMENT_DIR", "read_segments", "write_segment"]

SEGMENT_DIR = "index/v1"
MAGIC = b"digestflow-index-segment\n"
_DIGEST = 32
log = logging.getLogger(__name__)


class _Stale(StorageError):
    """A whole, readable segment from before the store's latest deletion."""


def write_segment(backend: Any, epoch: str, rows: Iterable[bytes]) -> str:
    """Save manifest JSON ``rows`` (``Manifest.to_json``) learned under ``epoch``; its path."""
    rows = list(rows)
    tag = epoch.encode("ascii", "replace")[:64]
    parts = [MAGIC, struct.pack("<H", len(tag)), tag, struct.pack("<I", len(rows))]
    for row in rows:
        parts += (struct.pack("<I", len(row)), row)
    body = b"".join(parts)
    path = f"{SEGMENT_DIR}/{time.time_ns():020d}-{secrets.token_hex(4)}.seg"
    with backend.open_atomic(path) as f:
        f.write(body)
        f.write(blake3.blake3(body).digest())
    return path


def read_segments(backend: Any, epoch: str) -> Iterator[Manifest]:
    """Every manifest of every readable segment written under ``epoch``; others go."""
    for entry in sorted(backend.list_files(SEGMENT_DIR), key=lambda e: e.path):
        if not entry.path.endswith(".seg"):
            continue
        try:
            rows = _rows(backend.read_bytes(entry.path), epoch)
        except (OSError, StorageError) as err:
            (log.info if isinstance(err, _Stale) else log.warning)(
                "index segment %s dropped: %s", entry.path, err)
            with contextlib.suppress(OSError):
                backend.delete(entry.path)
            continue
        if rows is not None:
            yield from rows


def _rows(raw: bytes, epoch: str) -> list[Manifest] | None:
    """The segment's manifests; ``None`` for another format; ``StorageError`` to drop it."""
    if not raw.startswith(MAGIC):
        if MAGIC.startswith(raw):  # empty, or cut inside the magic
            raise StorageError("torn (shorter than its header)")
        return None
    body, digest = raw[:-_DIGEST], raw[-_DIGEST:]
    if len(raw) < len(MAGIC) + _DIGEST or blake3.blake3(body).digest() != digest:
        raise StorageError("torn or corrupt (digest mismatch)")
    try:
        at = len(MAGIC)
        (n,) = struct.unpack_from("<H", body, at)
        tag = body[at + 2:at + 2 + n].decode("ascii", "replace")
        at += 2 + n
        (count,) = struct.unpack_from("<I", body, at)
        at += 4
        out = []
        for _ in range(count):
            (n,) = struct.unpack_from("<I", body, at)
            out.append(Manifest.from_json(body[at + 4:at + 4 + n]))
            at += 4 + n
    except struct.error as err:
        raise StorageError(f"malformed: {err}") from None
    if at != len(body):
        raise StorageError("malformed: trailing bytes")
    if tag != epoch:
        raise _Stale("written before the store's latest deletion")
    return out
