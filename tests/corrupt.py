"""Damage a stored object the way a bad disk would, inline (small) or in its data file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from storage import open_store
from storage.refs import data_path, manifest_path


def flip_stored_byte(store_uri: str, key: str, socket: int = 0) -> None:
    """Flip one bit of the object's bytes, leaving its manifest's digest as it was."""
    store = open_store(store_uri)
    manifest = store.manifest(key, socket)
    root = Path(store_uri)
    if manifest.inline is not None:
        data = bytearray(base64.b64decode(manifest.inline))
        data[-1] ^= 0x01
        doc = {**manifest.to_dict(), "inline": base64.b64encode(bytes(data)).decode()}
        (root / manifest_path(key, socket)).write_text(json.dumps(doc))
        return
    path = root / data_path(key, socket, store._registry.named(manifest.codec).ext)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
