"""The index actor's table: (key, socket) -> manifest, compact enough for 10M keys an actor.

A Python dict of ``(hex key, socket) -> manifest dict`` costs ~1.1 KiB an entry
(a 64-char key string, a tuple, a 9-field dict with its own strings). Here a
key is its 32 bytes, and its value the manifest's fields but the key and socket
(which the lookup already knows) as one small pickle: a ``bytes`` for socket 0
alone (nearly every task), else a ``{socket: bytes}`` dict. Values cross Ray
as those bytes and the driver decodes them (``decode``): no dict per manifest
is pickled, and a manifest is built in ~1 us instead of ``from_dict``'s ~3 us.

The pickles hold only str, int, float, bytes, None and the JSON values of a
summary, and are made by ``encode`` alone, from a ``Manifest`` (which has
validated what it holds); nothing read from a store is ever unpickled here.

A key is in the table when any of its sockets was recorded or found; that is
also "stored" for leases. Dropping a key drops all its sockets (an index may
forget, never invent: a forgotten socket is read from the store again).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from dataclasses import fields

from storage import Manifest

__all__ = ["ManifestTable", "decode", "decode_found", "encode"]

Ref = tuple[str, int]
_FIELDS = tuple(f.name for f in fields(Manifest))
_CARRIED = ("codec", "nbytes", "content_digest", "summary", "created", "task", "inline")
assert _FIELDS == ("key", "socket", *_CARRIED), "cluster.entries must follow Manifest's fields"


def encode(m: Manifest) -> bytes:
    """A manifest as the table keeps it: the fields but key and socket, the digest binary."""
    return pickle.dumps((m.codec, m.nbytes, bytes.fromhex(m.content_digest), m.summary,
                         m.created, m.task, m.inline), protocol=5)


def decode(ref: Ref, raw: bytes) -> Manifest:
    """The manifest of ``ref`` from its table bytes (made by ``encode``, so already valid)."""
    codec, nbytes, digest, summary, created, task, inline = pickle.loads(raw)  # noqa: S301
    manifest = object.__new__(Manifest)  # frozen: set its fields as its own __init__ would
    object.__setattr__(manifest, "__dict__", {
        "key": ref[0], "socket": ref[1], "codec": codec, "nbytes": nbytes,
        "content_digest": digest.hex(), "summary": summary, "created": created, "task": task,
        "inline": inline})
    return manifest


def decode_found(refs: Sequence[Ref], answers: Sequence[bytes | None]) -> dict[Ref, Manifest]:
    """A lookup's answer (one entry per asked ref, ``None`` where absent) as manifests."""
    return {tuple(ref): decode(ref, raw)  # type: ignore[misc]
            for ref, raw in zip(refs, answers, strict=True) if raw is not None}


class ManifestTable:
    """``(hex key, socket) -> encoded manifest`` over 32-byte binary keys; see module doc."""

    def __init__(self) -> None:
        self._rows: dict[bytes, bytes | dict[int, bytes]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        self._rows.clear()

    def get_many(self, refs: Iterable[Ref]) -> list[bytes | None]:
        """The encoded manifest of each ref, ``None`` where the table has none."""
        rows, out = self._rows, []
        for key, socket in refs:
            row = rows.get(bytes.fromhex(key))
            if type(row) is bytes:
                out.append(row if socket == 0 else None)
            else:
                out.append(None if row is None else row.get(socket))
        return out

    def put(self, key: str, socket: int, raw: bytes) -> None:
        kb = bytes.fromhex(key)
        row = self._rows.get(kb)
        if socket == 0 and (row is None or type(row) is bytes):
            self._rows[kb] = raw
        elif row is None:
            self._rows[kb] = {socket: raw}
        elif type(row) is bytes:
            self._rows[kb] = {0: row, socket: raw}
        else:
            row[socket] = raw

    def has_key(self, key: str) -> bool:
        """Whether any socket of ``key`` is in the table."""
        return bytes.fromhex(key) in self._rows

    def drop_key(self, key: str) -> None:
        self._rows.pop(bytes.fromhex(key), None)
