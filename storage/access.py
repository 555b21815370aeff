"""Cheap last-access tracking for LRU gc.

A read never writes per object. Each ``Store`` keeps an in-memory map of the
refs it served -> last access time and writes it, cumulatively, as one small
file ``access/<host>-<pid>-<token>.json`` at most every ``interval`` seconds
(on a get), on ``flush()``, before ``gc`` and at interpreter exit. ``gc`` merges
all access files (max time per ref), writes the merge as one file and removes
the files it read. A ref never read counts as used when it was created.
A flush racing a merge can lose a few recent touches: gc is then slightly less
precise, never wrong about what exists.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import socket as _socket
import threading
import time
import weakref

from storage.backends import Backend
from storage.refs import Ref

ACCESS_DIR = "access"
_LIVE: weakref.WeakSet[AccessLog] = weakref.WeakSet()


class AccessLog:
    """Touched refs of this process, flushed as one small file now and then."""

    def __init__(self, backend: Backend, interval: float = 60.0) -> None:
        self._backend = backend
        self._interval = interval
        self._seen: dict[Ref, float] = {}
        self._dirty = False
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        host = _socket.gethostname().replace("/", "_")[:40] or "host"
        self._path = f"{ACCESS_DIR}/{host}-{os.getpid()}-{secrets.token_hex(4)}.json"
        _LIVE.add(self)

    def touch(self, ref: Ref) -> None:
        with self._lock:
            self._seen[ref] = time.time()
            self._dirty = True
            due = time.monotonic() - self._last_flush >= self._interval
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            rows = [[k, s, t] for (k, s), t in self._seen.items()]
            self._dirty = False
            self._last_flush = time.monotonic()
        with contextlib.suppress(OSError):
            self._backend.write_bytes(self._path, _dump(rows))


def _dump(rows: list[list]) -> bytes:
    return json.dumps({"v": 1, "refs": rows}, separators=(",", ":")).encode()


def merge_access(backend: Backend, dry_run: bool = False) -> dict[Ref, float]:
    """Last access per ref over all access files; compacts them into one unless ``dry_run``."""
    files = [e.path for e in backend.list_files(ACCESS_DIR) if e.path.endswith(".json")]
    merged: dict[Ref, float] = {}
    for raw in backend.read_many(files).values():
        with contextlib.suppress(ValueError, TypeError, KeyError, RecursionError):
            for key, sock, when in json.loads(raw)["refs"]:
                ref = (str(key), int(sock))
                merged[ref] = max(merged.get(ref, 0.0), float(when))
    if not dry_run and len(files) > 1:
        out = f"{ACCESS_DIR}/merged-{secrets.token_hex(6)}.json"
        backend.write_bytes(out, _dump([[k, s, t] for (k, s), t in merged.items()]))
        for path in files:
            backend.delete(path)
    return merged


@atexit.register
def _flush_all() -> None:
    for log in list(_LIVE):
        with contextlib.suppress(Exception):
            log.flush()
