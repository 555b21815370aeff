"""``Store.put(..., alias=...)`` and ``Store.aliased``: a second name for the manifest a
put writes (early cutoff's content-key aliases), on every backend.

An alias is a hint: it must name exactly the bytes its put wrote, even after the
object is rewritten, and it must never fail or half-write the put it rides on.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from storage import Store
from storage.refs import doc_path, manifest_path
from tests.storage.helpers import key

ALIAS = ("resolved.ab", "ab" + "0" * 62 + ".0")


def test_an_alias_names_the_manifest_its_put_wrote(store: Store) -> None:
    written = store.put(key(1), 0, {"x": 1}, task="t", alias=ALIAS)
    aliased = store.aliased(*ALIAS)
    assert aliased == written
    assert store.get(aliased.key, aliased.socket) == {"x": 1}


def test_an_alias_keeps_naming_the_bytes_it_was_written_for(store: Store) -> None:
    """Another writer replacing the object (a refresh) leaves the alias on the old
    content: a reader sees that the object no longer holds it, and never gets the new
    bytes under the old content's alias."""
    first = store.put(key(2), 0, np.arange(4 << 20, dtype=np.float32), alias=ALIAS)  # spilled
    second = store.put(key(2), 0, np.zeros(4 << 20, dtype=np.float32))
    assert first.content_digest != second.content_digest
    assert store.aliased(*ALIAS).content_digest == first.content_digest
    assert store.manifest(key(2), 0).content_digest == second.content_digest


def test_a_newer_alias_replaces_an_older_one(store: Store) -> None:
    store.put(key(3), 0, "old", alias=ALIAS)
    newer = store.put(key(4), 0, "new", alias=ALIAS)
    assert store.aliased(*ALIAS) == newer
    assert store.get(key(3), 0) == "old"  # the older object itself untouched


def test_a_missing_or_malformed_alias_is_none(store: Store) -> None:
    assert store.aliased(*ALIAS) is None
    store.backend.write_bytes(doc_path(*ALIAS), b"{not a manifest")
    assert store.aliased(*ALIAS) is None


def test_on_a_local_store_an_alias_is_a_hard_link(local_store: Store) -> None:
    """One more directory entry, not a second file written."""
    local_store.put(key(5), 0, 7, alias=ALIAS)
    root = local_store.backend.root
    alias, manifest = (os.stat(os.path.join(root, p))
                       for p in (doc_path(*ALIAS), manifest_path(key(5), 0)))
    assert alias.st_ino == manifest.st_ino and manifest.st_nlink == 2


def test_an_alias_that_cannot_be_written_never_fails_the_put(local_store: Store) -> None:
    """Something not ours where the alias's directory goes: the object is stored all
    the same, and nothing half-written is left behind."""
    root = local_store.backend.root
    os.makedirs(os.path.join(root, "docs"))
    with open(os.path.join(root, "docs", ALIAS[0]), "w") as f:
        f.write("not a directory")
    written = local_store.put(key(6), 0, [1, 2], alias=ALIAS)
    assert local_store.get(key(6), 0) == [1, 2] and written.key == key(6)
    assert local_store.aliased(*ALIAS) is None
    assert not any(files for _, _, files in os.walk(os.path.join(root, "tmp")))


def test_where_links_are_refused_the_alias_is_a_copy(
        local_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filesystems without hard links (some network and FUSE mounts) answer EPERM."""
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    written = local_store.put(key(7), 0, "copied", alias=ALIAS)
    assert local_store.aliased(*ALIAS) == written
    root = local_store.backend.root
    assert os.stat(os.path.join(root, manifest_path(key(7), 0))).st_nlink == 1
