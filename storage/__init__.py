"""digestflow storage: a content-addressed store of task outputs. No Ray.

    store = open_store("s3://bucket/prefix?endpoint_override=host:9000&scheme=http")
    manifest = store.put(key, 0, table, task="pkg.load")
    table = store.get(key, 0)          # ObjectNotFound on a miss

See docs/storage.md for the layout, codecs, integrity and the pickle threat model.
"""

from __future__ import annotations

from storage.codecs.base import AS_STORED
from storage.errors import (
    CorruptObjectError,
    NotDecodableHere,
    ObjectNotFound,
    StorageError,
    UntrustedPickleError,
)
from storage.manifest import GcReport, Manifest, StoreStats, Usage, VerifyIssue
from storage.store import Store, open_store

__all__ = [
    "AS_STORED",
    "CorruptObjectError",
    "GcReport",
    "Manifest",
    "NotDecodableHere",
    "ObjectNotFound",
    "StorageError",
    "Store",
    "StoreStats",
    "UntrustedPickleError",
    "Usage",
    "VerifyIssue",
    "open_store",
]
