"""Validation of everything that becomes part of a path, and the store layout.

Keys are 64 lowercase hex characters (or an object with ``.hex()``), sockets
ints in ``[0, 1024)``, document kinds and names ``[A-Za-z0-9._-]`` without a
leading dot. Nothing else ever reaches the filesystem, so no traversal.

Layout 2 (relative to the store root; what this code writes)::

    v2/<key[:2]>/<key>.<socket>.<ext>            object data
    v2/<key[:2]>/<key>.<socket>.manifest.json    written last; no manifest, no object
    tmp/w<pid>/                                  local temporaries (renamed into place)
    quarantine/<key>-<socket>-<ns>/              objects that failed verification
    access/<host>-<pid>-<rand>.json              access logs (for LRU gc)
    pins/<name>.json                             named gc roots
    docs/<kind>/<name>.json                      small JSON documents
    docs/alias.<name[:2]>/<name>.json            a second name of a manifest (Store.put's alias)
    locks/<key>.lock                             leases of drivers sharing the store (storage.locks)
    secret.key                                   local HMAC secret (0600)

Layout 1 (written by digestflow before layout 2; read, gc'd, verified and
migrated, never written) had one directory per key, which cost a ``mkdir``
per stored output::

    v1/<key[:2]>/<key>/<socket>.<ext>
    v1/<key[:2]>/<key>/<socket>.manifest.json

Every path function takes the ``layout`` (default: ``LAYOUT``); the parsers
recognise both layouts and return None for any other name.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from storage.errors import StorageError

LAYOUT = 2  # the layout objects are written in
LEGACY_LAYOUT = 1
LAYOUTS = (LAYOUT, LEGACY_LAYOUT)  # reading order: the current layout wins
FORMAT_DIRS = {2: "v2", 1: "v1"}
FORMAT_DIR = FORMAT_DIRS[LAYOUT]
MAX_SOCKET = 1024
MANIFEST_SUFFIX = ".manifest.json"
LOCK_DIR = "locks"
ALIAS_KIND = "alias"  # documents docs/alias.<fan-out>/ are manifests' second names

_HEX = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
_EXT = r"(manifest\.json|[A-Za-z0-9_]+)"
_ALIAS_PATH = re.compile(r"docs/alias\.([A-Za-z0-9._-]{1,2})/([A-Za-z0-9_-][A-Za-z0-9._-]{0,199})\.json")
_OBJECT_PATHS = (  # (pattern, layout); groups: fan-out, key, socket, ext
    (re.compile(rf"v2/([0-9a-f]{{2}})/([0-9a-f]{{64}})\.([0-9]{{1,4}})\.{_EXT}"), 2),
    (re.compile(rf"v1/([0-9a-f]{{2}})/([0-9a-f]{{64}})/([0-9]{{1,4}})\.{_EXT}"), 1),
)

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


def fanout_dir(key: str, layout: int = LAYOUT) -> str:
    """The directory of ``key``'s fan-out (first key byte); layout 2 stores objects in it."""
    return f"{FORMAT_DIRS[layout]}/{key[:2]}"


def legacy_key_dir(key: str) -> str:
    """Layout 1's directory of one key."""
    return f"{FORMAT_DIRS[LEGACY_LAYOUT]}/{key[:2]}/{key}"


def data_path(key: str, socket: int, ext: str, layout: int = LAYOUT) -> str:
    if layout == LAYOUT:
        return f"{FORMAT_DIR}/{key[:2]}/{key}.{socket}.{ext}"
    return f"{legacy_key_dir(key)}/{socket}.{ext}"


def manifest_path(key: str, socket: int, layout: int = LAYOUT) -> str:
    return data_path(key, socket, MANIFEST_SUFFIX[1:], layout)


def object_name_prefix(key: str, socket: int | None, layout: int = LAYOUT) -> tuple[str, str]:
    """(directory, file name prefix) of the files of ``key`` (one socket or all)."""
    tail = "" if socket is None else f"{socket}."
    if layout == LAYOUT:
        return fanout_dir(key), f"{key}.{tail}"
    return legacy_key_dir(key), tail


def parse_object_path(path: str) -> tuple[Ref, int, str] | None:
    """``((key, socket), layout, ext)`` of an object file path in either layout, where
    ext is ``manifest.json`` for a manifest; None for every other name."""
    for pattern, layout in _OBJECT_PATHS:
        m = pattern.fullmatch(path)
        if m is not None:
            fan, key, socket, ext = m.groups()
            if key[:2] != fan or str(int(socket)) != socket or int(socket) >= MAX_SOCKET:
                return None  # "01" or a misplaced key is not a name digestflow writes
            return (key, int(socket)), layout, ext
    return None


def parse_manifest_path(path: str) -> Ref | None:
    """The ref a manifest path (either layout) names, else None."""
    parsed = parse_object_path(path)
    return parsed[0] if parsed is not None and parsed[2] == MANIFEST_SUFFIX[1:] else None


def path_layout(path: str) -> int:
    """The layout of an object path (its format directory)."""
    return LEGACY_LAYOUT if path.startswith(f"{FORMAT_DIRS[LEGACY_LAYOUT]}/") else LAYOUT


def doc_path(kind: str, name: str) -> str:
    return f"docs/{check_name(kind, 'kind')}/{check_name(name)}.json"


def alias_path(name: str) -> str:
    """Where ``Store.put(..., alias=name)`` publishes the manifest it writes (fanned out
    by the name's first two characters, so writers do not share one directory)."""
    name = check_name(name, "alias")
    return f"docs/{ALIAS_KIND}.{name[:2]}/{name}.json"


def parse_alias_path(path: str) -> str | None:
    """The alias name ``path`` is the file of, else None."""
    m = _ALIAS_PATH.fullmatch(path)
    return m.group(2) if m is not None and m.group(2)[:2] == m.group(1) else None


def pin_path(name: str) -> str:
    return f"pins/{check_name(name, 'pin name')}.json"


def lock_path(key: str) -> str:
    return f"{LOCK_DIR}/{key_hex(key)}.lock"
