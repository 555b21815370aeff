"""Properties specific to remote (object store) backends, on the moto S3 server."""

from __future__ import annotations

import uuid

import pytest

from storage import StorageError, open_store
from storage.backends import ArrowBackend
from tests.conftest import subprefix
from tests.layouts import object_names
from tests.storage.helpers import key


def test_s3_uri_goes_through_pyarrow_s3(s3_store_uri: str) -> None:
    store = open_store(subprefix(s3_store_uri, uuid.uuid4().hex))
    assert isinstance(store.backend, ArrowBackend)
    assert type(store.backend.fs).__name__ == "S3FileSystem"
    assert "testing:testing" not in repr(store)


def test_remote_pickle_needs_a_shared_secret(s3_store_uri: str, monkeypatch) -> None:
    store = open_store(subprefix(s3_store_uri, uuid.uuid4().hex))
    store.put(key(1), 0, {"plain": [1, 2]})  # no pickle: fine without a secret
    with pytest.raises(StorageError, match="DIGESTFLOW_SECRET"):
        store.put(key(1), 1, {"a set"})
    assert store.contains_many([(key(1), 1)]) == set()
    assert object_names(store, key(1)) == {"0.manifest.json"}, "no pickle was written"
    monkeypatch.setenv("DIGESTFLOW_SECRET", "shared-by-every-machine-0123456789")
    worker = open_store(store.uri)  # as a worker would, with the same environment
    worker.put(key(1), 1, {"a set"})
    assert open_store(store.uri).get(key(1), 1) == {"a set"}


def test_unopenable_uri_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="cannot open store"):
        open_store("nosuchscheme://x/y").contains_many([(key(1), 0)])
