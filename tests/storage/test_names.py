"""Object names: digestflow recognises exactly the names it writes (S6: gc and verify
delete only those), and a bad key is refused with what it was."""

from __future__ import annotations

import pytest

from storage import StorageError
from storage.refs import data_path, key_hex, manifest_path, parse_object_path

KEY = "ab" + "0" * 62


@pytest.mark.parametrize("layout", [1, 2])
def test_names_digestflow_writes_parse_back(layout: int) -> None:
    assert parse_object_path(manifest_path(KEY, 1023, layout)) == ((KEY, 1023), layout,
                                                                   "manifest.json")
    assert parse_object_path(data_path(KEY, 0, "npy", layout)) == ((KEY, 0), layout, "npy")


@pytest.mark.parametrize("path", [
    f"v2/ab/{KEY}.1024.npy",                  # socket past the last one
    f"v2/ab/{KEY}.01.npy",                    # not how a socket is written
    f"v2/cd/{KEY}.0.npy",                     # a key outside its fan-out directory
    f"v1/ab/{KEY}/1024.manifest.json",
    f"v1/ab/{KEY}/007.npy",
    f"v1/cd/{KEY}/0.npy",
])
def test_names_digestflow_never_writes_are_not_its_own(path: str) -> None:
    assert parse_object_path(path) is None


@pytest.mark.parametrize(("bad", "named"), [(5, "int"), (None, "NoneType"), (b"x", "bytes")])
def test_a_key_of_the_wrong_type_is_named_in_the_error(bad, named: str) -> None:
    with pytest.raises(StorageError, match=f"got {named}$"):
        key_hex(bad)
