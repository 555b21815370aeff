"""What may address an object or a document: checked before anything touches a path."""

from __future__ import annotations

import numpy as np
import pytest

from storage import StorageError, Store
from tests.storage.helpers import key


def test_a_key_may_be_hex_32_raw_bytes_or_have_hex(local_store: Store) -> None:
    raw = bytes.fromhex(key("raw"))
    local_store.put(raw, 0, "v")
    assert local_store.get(key("raw"), 0) == "v"
    assert local_store.get(bytearray(raw), 0) == "v"
    assert local_store.contains_many([(raw, 0)]) == {(key("raw"), 0)}
    for bad in (raw[:31], raw + b"\x00", bytearray(33), key("raw").encode()):
        with pytest.raises(StorageError, match="key"):
            local_store.get(bad, 0)


def test_socket_bounds(local_store: Store) -> None:
    local_store.put(key("s"), 1023, "last")
    local_store.put(key("s"), np.int64(0), "first")  # any integer type
    assert local_store.get(key("s"), 1023) == "last" and local_store.get(key("s"), 0) == "first"
    with pytest.raises(StorageError, match=r"socket 1024: expected an int in \[0, 1024\)"):
        local_store.put(key("s"), 1024, "x")


@pytest.mark.parametrize("ref", [(key("r"),), (key("r"), 0, 1), key("r"), None])
def test_a_ref_is_a_pair(local_store: Store, ref: object) -> None:
    with pytest.raises(StorageError, match=r"a ref is a \(key, socket\) pair"):
        local_store.contains_many([ref])


def test_document_names(local_store: Store) -> None:
    for name in ("a" * 200, "-leading-dash", "_x", "v1.2-rc_3"):
        local_store.put_doc("runs", name, {"n": 1})
        assert local_store.get_doc("runs", name) == {"n": 1}
    for name in ("a" * 201, ".x", "a/b", "a b", "", "ü"):
        with pytest.raises(StorageError, match=r"invalid name .*\[A-Za-z0-9._-\]"):
            local_store.put_doc("runs", name, {"n": 1})
    with pytest.raises(StorageError, match="invalid kind"):
        local_store.put_doc(".runs", "x", {})
    with pytest.raises(StorageError, match="invalid pin name"):
        local_store.pin("../up", [])


def test_a_manifest_name_under_a_directory_that_is_not_a_key_is_no_object(
    local_store: Store,
) -> None:
    from storage.refs import manifest_path

    local_store.put(key("real"), 0, "v")
    fake = manifest_path(key("real"), 0).replace(key("real"), "not-a-key")
    local_store.backend.write_bytes(fake, b"{}")
    assert [m.ref for m in local_store.iter_manifests()] == [(key("real"), 0)]
    assert local_store.verify_all() == []
