"""``Store.put(..., alias=...)`` and ``Store.aliased``: a second name for the manifest a
put writes (early cutoff's content-key aliases), on every backend.

An alias is a hint: it must name exactly the bytes its put wrote, even after the
object is rewritten, and it must never fail or half-write the put it rides on.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest

from storage import StorageError, Store
from storage.refs import alias_path, manifest_path
from tests.processes import kill_when_stalled
from tests.storage.helpers import key

ALIAS = "ab" + "0" * 62 + ".0"


def test_an_alias_names_the_manifest_its_put_wrote(store: Store) -> None:
    written = store.put(key(1), 0, {"x": 1}, task="t", alias=ALIAS)
    aliased = store.aliased(ALIAS)
    assert aliased == written
    assert store.get(aliased.key, aliased.socket) == {"x": 1}


def test_an_alias_keeps_naming_the_bytes_it_was_written_for(store: Store) -> None:
    """Another writer replacing the object (a refresh) leaves the alias on the old
    content: a reader sees that the object no longer holds it, and never gets the new
    bytes under the old content's alias."""
    first = store.put(key(2), 0, np.arange(4 << 20, dtype=np.float32), alias=ALIAS)  # spilled
    second = store.put(key(2), 0, np.zeros(4 << 20, dtype=np.float32))
    assert first.content_digest != second.content_digest
    assert store.aliased(ALIAS).content_digest == first.content_digest
    assert store.manifest(key(2), 0).content_digest == second.content_digest


def test_a_newer_alias_replaces_an_older_one(store: Store) -> None:
    store.put(key(3), 0, "old", alias=ALIAS)
    newer = store.put(key(4), 0, "new", alias=ALIAS)
    assert store.aliased(ALIAS) == newer
    assert store.get(key(3), 0) == "old"  # the older object itself untouched


def test_a_missing_or_malformed_alias_is_none(store: Store) -> None:
    assert store.aliased(ALIAS) is None
    store.backend.write_bytes(alias_path(ALIAS), b"{not a manifest")
    assert store.aliased(ALIAS) is None


def test_on_a_local_store_an_alias_is_a_hard_link(local_store: Store) -> None:
    """One more directory entry, not a second file written."""
    local_store.put(key(5), 0, 7, alias=ALIAS)
    root = local_store.backend.root
    alias, manifest = (os.stat(os.path.join(root, p))
                       for p in (alias_path(ALIAS), manifest_path(key(5), 0)))
    assert alias.st_ino == manifest.st_ino and manifest.st_nlink == 2


def test_an_alias_that_cannot_be_written_never_fails_the_put(local_store: Store) -> None:
    """Something not ours where the alias's directory goes: the object is stored all
    the same, and nothing half-written is left behind."""
    root = local_store.backend.root
    os.makedirs(os.path.join(root, "docs"))
    with open(os.path.join(root, "docs", "alias.ab"), "w") as f:
        f.write("not a directory")
    written = local_store.put(key(6), 0, [1, 2], alias=ALIAS)
    assert local_store.get(key(6), 0) == [1, 2] and written.key == key(6)
    assert local_store.aliased(ALIAS) is None
    assert not any(files for _, _, files in os.walk(os.path.join(root, "tmp")))


def test_where_links_are_refused_the_alias_is_a_copy(
        local_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filesystems without hard links (some network and FUSE mounts) answer EPERM."""
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)
    written = local_store.put(key(7), 0, "copied", alias=ALIAS)
    assert local_store.aliased(ALIAS) == written
    root = local_store.backend.root
    assert os.stat(os.path.join(root, manifest_path(key(7), 0))).st_nlink == 1


def _alias(n: int) -> str:
    return f"{n:02x}" + "1" * 62 + ".0"


def test_gc_removes_the_aliases_of_what_it_evicts_and_keeps_the_rest(store: Store) -> None:
    """An evicted object's alias goes with it (locally it would keep the evicted
    manifest's inline bytes alive); a kept object's alias stays; dry_run only says."""
    store.put(key(10), 0, "evicted", alias=_alias(10))
    kept = store.put(key(11), 0, "kept", alias=_alias(11))
    dry = store.gc(older_than=0, keep=[key(11)], dry_run=True, temp_age=0)
    assert dry.aliases == (alias_path(_alias(10)),)
    assert store.aliased(_alias(10)) is not None  # a dry run deletes nothing
    report = store.gc(older_than=0, keep=[key(11)], temp_age=0)
    assert report.evicted == ((key(10), 0),) and report.aliases == (alias_path(_alias(10)),)
    assert store.aliased(_alias(10)) is None
    assert store.aliased(_alias(11)) == kept and store.get(key(11), 0) == "kept"


def test_gc_removes_an_alias_whose_object_holds_other_bytes_now(store: Store) -> None:
    store.put(key(12), 0, "first", alias=_alias(12))
    store.put(key(12), 0, "rewritten")
    again = store.put(key(13), 0, "same", alias=_alias(13))
    store.put(key(13), 0, "same")  # rewritten with the same bytes: the alias still holds
    assert store.gc(max_bytes=10**9, temp_age=0).aliases == (alias_path(_alias(12)),)
    assert store.aliased(_alias(12)) is None and store.aliased(_alias(13)) == again


def test_gc_keeps_fresh_aliases_and_files_it_did_not_write(store: Store) -> None:
    """A dangling alias younger than temp_age (its object may be on its way) stays, and
    so does a file in an alias directory that is not a manifest. The alias documents
    of the earlier cutoff format, which nothing reads any more, go."""
    store.put(key(14), 0, "x", alias=_alias(14))
    store.delete(key(14))
    foreign = "docs/alias.ab/notes.json"
    store.backend.write_bytes(foreign, b'{"mine": "not digestflow\'s"}')
    legacy = f"docs/resolved.ab/{'ab' * 32}.json"
    store.backend.write_bytes(legacy, b'{"key": "' + b"cd" * 32 + b'", "digests": []}')
    store.put_doc("runs", "r1", {"run": 1})
    assert store.gc(max_bytes=10**9).aliases == ()  # temp_age 600 s: all fresh
    assert store.gc(max_bytes=10**9, temp_age=0).aliases == tuple(
        sorted([alias_path(_alias(14)), legacy]))
    assert store.backend.read_bytes(foreign).startswith(b'{"mine"')
    assert store.get_doc("runs", "r1") == {"run": 1}


_KILLED_BETWEEN = textwrap.dedent("""
    import sys, time
    import storage
    from storage.backends import LocalBackend

    root, key, alias = sys.argv[1:4]
    publish = LocalBackend._publish_also

    def publish_then_stall(self, *args):
        done = publish(self, *args)
        print("STALLED", flush=True)  # the alias is out, the manifest not yet in place
        time.sleep(120)
        return done

    LocalBackend._publish_also = publish_then_stall
    storage.open_store(root).put(key, 0, "never stored", alias=alias)
""")


def test_a_writer_killed_between_alias_and_object_leaves_a_miss_that_gc_clears(
        local_store: Store) -> None:
    """A worker SIGKILLed after publishing a cutoff alias but before its object is in
    place: the alias names an object that does not exist, so early cutoff misses and
    computes (never serves anything), and gc removes the alias and the temporary."""
    from runner import task
    from runner.cutoff import find_reusable

    @task
    def make() -> str:
        return "computed"

    rkey = "ab" + "2" * 62
    kill_when_stalled(_KILLED_BETWEEN, local_store.backend.root, key(20), f"{rkey}.0")
    assert local_store.aliased(f"{rkey}.0").key == key(20)  # the alias got out
    assert not local_store.contains_many([(key(20), 0)])
    assert find_reusable(local_store, rkey, make) is None
    report = local_store.gc(max_bytes=10**9, temp_age=0)
    assert report.aliases == (alias_path(f"{rkey}.0"),) and len(report.temporaries) == 1
    assert local_store.aliased(f"{rkey}.0") is None


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
def test_an_alias_name_that_could_leave_its_directory_is_refused(
        local_store: Store, name: str) -> None:
    """Refused before anything is written, naming what was wrong."""
    with pytest.raises(StorageError, match=f"invalid alias {name!r}"):
        local_store.put(key(30), 0, 1, alias=name)
    assert not local_store.contains_many([(key(30), 0)])
