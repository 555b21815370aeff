"""Validation of everything that becomes part of a path, and the store layout.

Keys are 64 lowercase hex characters (or an object with ``.hex()``), sockets
ints in ``[0, 1024)``, document kinds and names ``[A-Za-z0-9._-]`` without a
leading dot. Nothing else ever reaches the filesystem, so no traversal.

Layout (relative to the store root)::

    v1/<key[:2]>/<key>/<socket>.<ext>            object data
    v1/<key[:2]>/<key>/<socket>.manifest.json    written last; no manifest, no object
    tmp/                                         local temporaries (renamed into place)
    quarantine/<key>-<socket>-<ns>/              objects that failed verification
    access/<host>-<pid>-<rand>.json              access logs (for LRU gc)
    pins/<name>.json                             named gc roots
    docs/<kind>/<name>.json                      small JSON documents
    locks/<key>.lock                             leases of drivers sharing the store (storage.locks)
    secret.key                                   local HMAC secret (0600)
"""

from __future__ import annotations

import operator
import re
from typing import Any

from storage.errors import StorageError

FORMAT_DIR = "v1"
MAX_SOCKET = 1024
MANIFEST_SUFFIX = ".manifest.json"
LOCK_DIR = "locks"

_HEX = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")

Ref = tuple[str, int]


def key_hex(key: Any) -> str:
    """Return the validated 64-char lowercase hex of a ``Key``, hex string or 32 bytes."""
    if isinstance(key, str):
        text = key
    elif isinstance(key, bytes | bytearray) and len(key) == 32:
        text = bytes(key).hex()
    elif callable(getattr(key, "hex", None)) and not isinstance(key, bytes | bytearray):
        text = key.hex()
    else:
        raise StorageError(
            f"a key must be a keys.Key or 64 lowercase hex chars, got {type(key).__name__}"
        )
    if not isinstance(text, str) or _HEX.fullmatch(text) is None:
        raise StorageError(f"invalid key {text!r}: expected 64 lowercase hex characters")
    return text


def check_socket(socket: Any) -> int:
    """Return ``socket`` as an int in ``[0, 1024)`` or raise ``StorageError``."""
    if isinstance(socket, bool):
        raise StorageError(f"invalid socket {socket!r}: expected an int in [0, {MAX_SOCKET})")
    try:
        value = operator.index(socket)
    except TypeError:
        raise StorageError(
            f"invalid socket {socket!r}: expected an int in [0, {MAX_SOCKET})"
        ) from None
    if not 0 <= value < MAX_SOCKET:
        raise StorageError(f"invalid socket {socket!r}: expected an int in [0, {MAX_SOCKET})")
    return value


def check_ref(ref: Any) -> Ref:
    """Validate a ``(key, socket)`` pair."""
    try:
        key, socket = ref
    except (TypeError, ValueError):
        raise StorageError(f"a ref is a (key, socket) pair, got {ref!r}") from None
    return key_hex(key), check_socket(socket)


def check_name(name: Any, what: str = "name") -> str:
    """Validate a document kind/name or pin name: ``[A-Za-z0-9._-]``, no leading dot."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise StorageError(
            f"invalid {what} {name!r}: use 1-200 characters from [A-Za-z0-9._-], not starting with '.'"
        )
    return name


def key_dir(key: str) -> str:
    return f"{FORMAT_DIR}/{key[:2]}/{key}"


def data_path(key: str, socket: int, ext: str) -> str:
    return f"{key_dir(key)}/{socket}.{ext}"


def manifest_path(key: str, socket: int) -> str:
    return f"{key_dir(key)}/{socket}{MANIFEST_SUFFIX}"


def parse_manifest_path(path: str) -> Ref | None:
    """Return the ref a ``.../<key>/<socket>.manifest.json`` path names, else None."""
    parts = path.rsplit("/", 2)
    if len(parts) < 2 or not parts[-1].endswith(MANIFEST_SUFFIX):
        return None
    key, stem = parts[-2], parts[-1][: -len(MANIFEST_SUFFIX)]
    if _HEX.fullmatch(key) is None or not stem.isdigit():
        return None
    return key, int(stem)


def doc_path(kind: str, name: str) -> str:
    return f"docs/{check_name(kind, 'kind')}/{check_name(name)}.json"


def pin_path(name: str) -> str:
    return f"pins/{check_name(name, 'pin name')}.json"


def lock_path(key: str) -> str:
    return f"{LOCK_DIR}/{key_hex(key)}.lock"
