"""Ways to damage one stored object, as a bad disk, a hostile user or a foreign tool would.

Each function takes the store root and the object's (key, socket) and leaves
the store so that this object cannot be read; ``DAMAGE`` names them all.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

from storage import open_store
from storage.codecs import content_digest
from storage.refs import LAYOUTS, data_path, manifest_path

CANARY_ENV = "DIGESTFLOW_TEST_CANARY"


class Canary:
    """Unpickling this creates the directory it names: proof that a pickle was loaded."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _layout(root: Path, key: str, socket: int) -> int:
    """The layout the object's manifest is in (a store not yet migrated has layout 1)."""
    return next((layout for layout in LAYOUTS
                 if os.path.lexists(root / manifest_path(key, socket, layout))), LAYOUTS[0])


def _manifest(root: Path, key: str, socket: int) -> Path:
    return root / manifest_path(key, socket, _layout(root, key, socket))


def _data(root: Path, key: str, socket: int) -> Path:
    doc = json.loads(_manifest(root, key, socket).read_text())
    ext = open_store(root)._registry.named(doc["codec"]).ext
    return root / data_path(key, socket, ext, _layout(root, key, socket))


def _edit(root: Path, ref: tuple[str, int], **fields) -> None:
    path = _manifest(root, *ref)
    doc = {**json.loads(path.read_text()), **fields}
    path.write_text(json.dumps(doc))


def flip_byte(root: Path, key: str, socket: int) -> None:
    path = _data(root, key, socket)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def truncate(root: Path, key: str, socket: int) -> None:
    path = _data(root, key, socket)
    path.write_bytes(path.read_bytes()[:-16])


def huge_number(root: Path, key: str, socket: int) -> None:
    text = _manifest(root, key, socket).read_text()
    doc = json.loads(text)
    _manifest(root, key, socket).write_text(
        text.replace(f'"nbytes": {doc["nbytes"]}', '"nbytes": 1e999'))


def deep_nesting(root: Path, key: str, socket: int) -> None:
    _manifest(root, key, socket).write_bytes(b"[" * 200_000 + b"]" * 200_000)


def wrong_types(root: Path, key: str, socket: int) -> None:
    _edit(root, (key, socket), socket=str(socket), nbytes=[1], summary="x")


def other_address(root: Path, key: str, socket: int) -> None:
    _edit(root, (key, socket), key="ab" * 32)


def unknown_codec(root: Path, key: str, socket: int) -> None:
    _edit(root, (key, socket), codec="zstd-from-the-future")


def manifest_is_a_directory(root: Path, key: str, socket: int) -> None:
    path = _manifest(root, key, socket)
    path.unlink()
    path.mkdir()
    (path / "stray").write_text("not a manifest")


def data_is_a_directory(root: Path, key: str, socket: int) -> None:
    path = _data(root, key, socket)
    path.unlink()
    path.mkdir()


def manifest_is_a_fifo(root: Path, key: str, socket: int) -> None:
    """Reading it would block forever; an unreadable file of any kind must be a miss."""
    path = _manifest(root, key, socket)
    path.unlink()
    os.mkfifo(path)


def manifest_is_a_symlink(root: Path, key: str, socket: int) -> None:
    path = _manifest(root, key, socket)
    outside = root.parent / "elsewhere.json"
    shutil.copy(path, outside)
    path.unlink()
    path.symlink_to(outside)


def tampered_pickle(root: Path, key: str, socket: int) -> None:
    """A planted payload behind a copied tag, with the digest made consistent: integrity
    passes, authenticity must not, and the payload must never run."""
    doc = json.loads(_manifest(root, key, socket).read_text())
    inline = doc.get("inline")
    stored = base64.b64decode(inline) if inline else _data(root, key, socket).read_bytes()
    payload = stored[:40] + pickle.dumps(Canary(os.environ[CANARY_ENV]))  # MAGIC + a stale tag
    fields = {"nbytes": len(payload), "content_digest": content_digest(payload)}
    if inline:
        fields["inline"] = base64.b64encode(payload).decode()
    else:
        _data(root, key, socket).write_bytes(payload)
    _edit(root, (key, socket), **fields)


def foreign_secret_pickle(root: Path, key: str, socket: int) -> None:
    """The same value, stored by a machine with another DIGESTFLOW_SECRET."""
    store = open_store(root, secret="another-machines-secret-0123456789")
    store.put(key, socket, {"a value this store must never serve"})


DAMAGE: dict[str, Callable[[Path, str, int], None]] = {
    f.__name__: f
    for f in (flip_byte, truncate, huge_number, deep_nesting, wrong_types, other_address,
              unknown_codec, manifest_is_a_directory, data_is_a_directory, manifest_is_a_fifo,
              manifest_is_a_symlink)
}
PICKLE_DAMAGE: dict[str, Callable[[Path, str, int], None]] = {
    f.__name__: f for f in (tampered_pickle, foreign_secret_pickle)
}
