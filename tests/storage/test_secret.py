"""Pickle keys: where a process finds them, key ids, rotation and ``rekey``.

Rotation as a user does it: objects signed with the old key load while the old
key is listed after the new one; once it is dropped they are a miss (never
unpickled, never a failure); ``verify --rekey`` re-signs them so they load
under the new key alone.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

from runner.cli import main
from storage import CorruptObjectError, Store, open_store
from storage.codecs.pickled import MAGIC_V1
from storage.errors import StorageError
from storage.refs import manifest_path
from storage.rekey import rekey
from storage.secret import key_id, pickle_tag
from tests.storage.helpers import key

OLD, NEW = "old-pickle-key-0123456789abcdef", "new-pickle-key-0123456789abcdef"


def kid(secret: str) -> str:
    return key_id(secret.encode()).hex()


def key_file(tmp_path: Path, *lines: str, mode: int = 0o600) -> str:
    path = tmp_path / "digestflow.keys"
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(mode)
    return str(path)


def _raw(store: Store, k: str, socket: int) -> bytes:
    m = store.manifest(k, socket)
    from storage.reading import read_data

    return bytes(read_data(store.backend, m, store._registry.named(m.codec), writable=False))


def test_key_id_is_a_short_stable_digest_never_the_key(store: Store) -> None:
    assert kid("k") == "3ac6117db0580a60"  # pinned: changing it orphans every stored pickle
    m = open_store(store.uri, secret=OLD).put(key(1), 0, {"a set"})
    assert m.summary["key_id"] == kid(OLD) and len(kid(OLD)) == 16
    raw = _raw(store, key(1), 0)
    assert OLD.encode() not in raw and OLD not in m.to_json().decode()
    assert key_id(OLD.encode()) in raw[:16]  # recorded in the object's own header


def test_old_key_listed_loads_dropped_is_a_miss_rekey_makes_it_current(store: Store) -> None:
    for n in (2, 14):
        open_store(store.uri, secret=OLD).put(key(n), 0, {"signed with the old key"})
    both = open_store(store.uri, secret=[NEW, OLD])
    assert both.get(key(2), 0) == {"signed with the old key"}
    both.put(key(3), 0, {"new write"})
    assert both.manifest(key(3), 0).summary["key_id"] == kid(NEW)  # the current key signs

    with pytest.raises(CorruptObjectError, match=f"signed with pickle key {kid(OLD)}"):
        open_store(store.uri, secret=NEW).get(key(14), 0)
    assert store.contains_many([(key(14), 0)]) == set()  # quarantined: a miss, recomputed

    report = rekey(both)
    assert (report.counts["rekeyed"], report.counts["current"], report.problems) == (1, 1, [])
    new_only = open_store(store.uri, secret=NEW)
    assert new_only.get(key(2), 0) == {"signed with the old key"}
    assert new_only.manifest(key(2), 0).summary["key_id"] == kid(NEW)
    assert new_only.verify_all() == []  # manifest and data were rewritten together
    assert rekey(both).counts["rekeyed"] == 0


def test_rekey_leaves_unknown_and_tampered_pickles_alone(store: Store) -> None:
    open_store(store.uri, secret="a-third-key-nobody-lists-here").put(key(4), 0, {"x"})
    before = store.manifest(key(4), 0)
    report = rekey(open_store(store.uri, secret=[NEW, OLD]), dry_run=False)
    assert report.counts["rekeyed"] == 0
    assert [(k, why) for k, _, why in report.problems] == [
        (key(4), f"signed with key {kid('a-third-key-nobody-lists-here')}, not listed here")]
    assert store.manifest(key(4), 0) == before


def test_pickles_from_before_key_ids_still_load_and_rekey_adds_one(local_store: Store) -> None:
    payload = pickle.dumps({"old format"})
    old = MAGIC_V1 + pickle_tag(OLD.encode(), key(5), 0, payload) + payload
    writer = open_store(local_store.uri, secret=OLD)
    writer.put(key(5), 0, {"placeholder"})
    _overwrite(writer, key(5), 0, old)
    assert open_store(local_store.uri, secret=[NEW, OLD]).get(key(5), 0) == {"old format"}
    # no key id: checked against all listed keys; verify (which moves nothing) says so
    assert [i.problem for i in open_store(local_store.uri, secret=NEW).verify_all()] == [
        "pickle authentication tag is wrong (tampered, or signed with another key)"]
    assert rekey(open_store(local_store.uri, secret=OLD)).counts["rekeyed"] == 1  # gains an id
    assert local_store.manifest(key(5), 0).summary["key_id"] == kid(OLD)


def _overwrite(store: Store, k: str, socket: int, data: bytes) -> None:
    import base64
    import dataclasses

    from storage.codecs import content_digest

    m = store.manifest(k, socket)
    new = dataclasses.replace(m, nbytes=len(data), content_digest=content_digest(data),
                              inline=base64.b64encode(data).decode())
    store.backend.write_bytes(manifest_path(k, socket), new.to_json())


def test_tampered_under_a_listed_key_is_refused_and_quarantined(store: Store) -> None:
    writer = open_store(store.uri, secret=OLD)
    writer.put(key(6), 0, {"x"})
    raw = bytearray(_raw(store, key(6), 0))
    raw[-3] ^= 1
    _overwrite(writer, key(6), 0, bytes(raw))
    with pytest.raises(CorruptObjectError, match="wrong"):  # never loaded; a miss (S5)
        writer.get(key(6), 0)
    assert writer.contains_many([(key(6), 0)]) == set()


def test_key_file_lists_keys_current_first(local_store: Store, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTFLOW_SECRET_FILE", key_file(tmp_path, "# rotated 2026-11", NEW,
                                                          "", OLD))
    open_store(local_store.uri, secret=OLD).put(key(7), 0, {"old"})
    store = open_store(local_store.uri)
    assert store.get(key(7), 0) == {"old"}
    assert store.put(key(8), 0, {"new"}).summary["key_id"] == kid(NEW)
    assert not os.path.exists(os.path.join(local_store.backend.root, "secret.key"))


@pytest.mark.parametrize(("lines", "mode", "error"), [
    ((NEW,), 0o644, "mode 0600"),
    ((f"DIGESTFLOW_SECRET={NEW}",), 0o600, "looks like an env file"),
    (("# nothing else",), 0o600, "holds no key"),
])
def test_bad_key_file_is_refused_clearly(local_store: Store, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch, lines: tuple[str, ...],
                                         mode: int, error: str) -> None:
    monkeypatch.setenv("DIGESTFLOW_SECRET_FILE", key_file(tmp_path, *lines, mode=mode))
    with pytest.raises(StorageError, match=error):
        open_store(local_store.uri).put(key(9), 0, {"x"})
    assert local_store.contains_many([(key(9), 0)]) == set()  # nothing half-written


def test_secret_manager_hook_is_called_once_per_process(local_store: Store, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    (tmp_path / "dfkeys_hook.py").write_text(
        "def keys():\n"
        f"    with open({str(calls)!r}, 'a') as f:\n"
        "        f.write('x')\n"
        f"    return [{NEW!r}, {OLD!r}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DIGESTFLOW_SECRET_PROVIDER", "dfkeys_hook:keys")
    open_store(local_store.uri, secret=OLD).put(key(10), 0, {"old"})
    assert open_store(local_store.uri).get(key(10), 0) == {"old"}
    assert open_store(local_store.uri).put(key(11), 0, {"n"}).summary["key_id"] == kid(NEW)
    assert calls.read_text() == "x"
    monkeypatch.setenv("DIGESTFLOW_SECRET_PROVIDER", "dfkeys_hook:missing")
    with pytest.raises(StorageError, match="DIGESTFLOW_SECRET_PROVIDER='dfkeys_hook:missing'"):
        open_store(local_store.uri).get(key(10), 0)
    sys.modules.pop("dfkeys_hook", None)


def test_verify_rekey_cli(local_store: Store, tmp_path: Path, capsys,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(local_store.uri, secret=OLD).put(key(12), 0, {"old"})
    open_store(local_store.uri, secret=OLD).put(key(13), 0, [1, 2])  # not a pickle: untouched
    monkeypatch.setenv("DIGESTFLOW_SECRET_FILE", key_file(tmp_path, NEW, OLD))
    assert main(["verify", "--rekey", "--store", local_store.uri]) == 0
    out = capsys.readouterr().out
    assert f"re-signed 1 pickle(s) with key {kid(NEW)}; 0 already current, 0 left alone" in out
    assert open_store(local_store.uri, secret=NEW).get(key(12), 0) == {"old"}
