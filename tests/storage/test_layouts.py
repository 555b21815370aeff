"""Store layouts: layout 2 (flat, no directory per key), stores written by an older
digestflow (layout 1: a pinned store from tests/storage/fixtures/store-layout-1, written
by digestflow before layout 2, or one moved there by tests/layouts.py), reads that fall
back to them, ``migrate``, and gc/verify/pins/rekey over a store holding both."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from storage import ObjectNotFound, Store, open_store, refs
from storage.marker import MARKER, forget_checked
from storage.migrate import migrate
from storage.rekey import rekey
from tests.layouts import layouts_present, object_names, object_paths, to_layout_1
from tests.storage.helpers import key

FIXTURE = Path(__file__).parent / "fixtures" / "store-layout-1"
FIXTURE_VALUES = {  # what digestflow wrote into the fixture before layout 2 existed
    ("11" * 32, 0): [1, "two", 3.0],
    ("22" * 32, 0): np.arange(1000, dtype=np.int32),
    ("22" * 32, 1): pa.table({"x": np.arange(600, dtype=np.int64)}),
    ("33" * 32, 0): "x" * 5000,
}


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, pa.Table):
        return isinstance(b, pa.Table) and a.equals(b)
    return type(a) is type(b) and a == b


def _marker_layout(store: Store) -> int:
    return json.loads(store.backend.read_bytes(MARKER))["layout"]


def _fixture_copy(tmp_path: Path) -> Path:
    root = tmp_path / "old-store"
    shutil.copytree(FIXTURE, root)
    forget_checked()
    return root


def test_layout_2_has_no_directory_per_key(local_store: Store) -> None:
    keys = [key(i) for i in range(40)]
    for k in keys:
        local_store.put(k, 0, np.arange(2000))  # a data file and a manifest each
        local_store.put(k, 1, "small")
    paths = object_paths(local_store)
    assert len(paths) == 3 * len(keys)
    assert all(p.count("/") == 2 and p.startswith("v2/") for p in paths), paths[:3]
    root = Path(local_store.backend.root)
    dirs = {p.relative_to(root).as_posix() for p in (root / "v2").iterdir()}
    assert dirs == {f"v2/{k[:2]}" for k in keys}, "only fan-out directories, one per key byte"
    assert _marker_layout(local_store) == refs.LAYOUT == 2


def test_pinned_layout_1_store_is_read_then_migrated(tmp_path: Path) -> None:
    root = _fixture_copy(tmp_path)
    before = {p: (root / p).read_bytes() for p in object_paths(open_store(root))}
    store = open_store(root)
    assert _marker_layout(store) == 1 and layouts_present(store) == {1}
    for (k, s), value in FIXTURE_VALUES.items():
        assert _same(store.get(k, s), value), "a layout 1 object reads without migrating"
    assert store.contains_many(FIXTURE_VALUES) == set(FIXTURE_VALUES)
    assert store.verify_all() == []
    report = migrate(store)
    assert (report.moved, report.duplicates, report.quarantined, report.remaining) == (4, 0, 0, 0)
    assert (report.layout_before, report.layout_after) == (1, 2) and _marker_layout(store) == 2
    assert layouts_present(store) == {2} and not (root / "v1").exists()
    forget_checked()
    fresh = open_store(root)
    for (k, s), value in FIXTURE_VALUES.items():
        assert _same(fresh.get(k, s), value)
        old = before[refs.manifest_path(k, s, refs.LEGACY_LAYOUT)]
        assert (root / refs.manifest_path(k, s)).read_bytes() == old, "manifest moved as is"
    assert fresh.verify_all() == []
    again = migrate(fresh)
    assert (again.moved, again.remaining, again.layout_after) == (0, 0, 2), "idempotent"


def test_a_store_from_before_markers_with_layout_1_is_adopted(tmp_path: Path) -> None:
    root = _fixture_copy(tmp_path)
    (root / MARKER).unlink()
    store = open_store(root)
    assert _marker_layout(store) == 1, "adopted as what it holds"
    assert store.get("11" * 32, 0) == [1, "two", 3.0]


def test_writes_go_to_layout_2_and_win_over_layout_1(tmp_path: Path) -> None:
    store = open_store(_fixture_copy(tmp_path))
    store.put("11" * 32, 0, "rewritten")
    store.put("44" * 32, 0, np.arange(3000))
    assert object_names(store, "44" * 32) == {"0.manifest.json", "0.npy"}
    assert layouts_present(store) == {1, 2}
    assert store.get("11" * 32, 0) == "rewritten", "the current layout's copy wins"
    assert [m.task for m in store.iter_manifests() if m.key == "11" * 32] == [None]
    report = migrate(store)
    assert (report.moved, report.duplicates) == (3, 1)
    assert store.get("11" * 32, 0) == "rewritten" and store.get("44" * 32, 0).sum() > 0
    assert store.stats().objects == 5


def test_layout_2_store_never_looks_at_layout_1_paths(local_store: Store) -> None:
    local_store.put(key(1), 0, "moved behind its back")
    to_layout_1(local_store)
    store = open_store(local_store.uri)
    assert store.get(key(1), 0) == "moved behind its back"
    store.backend.write_bytes(MARKER, json.dumps({"digestflow": "store", "layout": 2}).encode())
    forget_checked()
    with pytest.raises(ObjectNotFound):
        open_store(local_store.uri).get(key(1), 0)


def test_unreadable_layout_1_objects_are_quarantined_by_migrate(tmp_path: Path) -> None:
    root = _fixture_copy(tmp_path)
    (root / refs.manifest_path("11" * 32, 0, 1)).write_text("{not json")
    (root / refs.data_path("33" * 32, 0, "json", 1)).unlink()
    store = open_store(root)
    report = migrate(store)
    assert (report.moved, report.quarantined, report.remaining) == (2, 2, 0)
    assert store.contains_many(FIXTURE_VALUES) == {("22" * 32, 0), ("22" * 32, 1)}
    assert len(list((root / "quarantine").iterdir())) == 2
    assert store.verify_all() == [] and _marker_layout(store) == 2


def test_mixed_store_gc_verify_pins_and_rekey(store: Store) -> None:
    """Every whole-store tool sees objects in both layouts, on every backend."""
    big = {key(i): np.full(1000, i) for i in range(6)}
    for k, v in big.items():
        store.put(k, 0, v)
    store.put(key(10), 0, {"a pickle"})
    to_layout_1(store, only={(key(i), 0) for i in (0, 1, 2)} | {(key(10), 0)})
    store = open_store(store.uri, secret=store._explicit_secret)
    assert layouts_present(store) == {1, 2}
    assert store.stats().objects == 7 and store.verify_all() == []
    assert rekey(store).counts["current"] == 1
    assert store.get(key(10), 0) == {"a pickle"}
    store.pin("keep", [key(0), key(3)])  # one in each layout
    report = store.gc(max_bytes=0)
    assert set(report.evicted) == {(k, 0) for k in big if k not in (key(0), key(3))} | {
        (key(10), 0)}
    assert {p.split("/")[0] for p in object_paths(store)} == {"v1", "v2"}
    assert all(np.array_equal(store.get(k, 0), big[k]) for k in (key(0), key(3)))
    store.unpin("keep")
    assert store.gc(max_bytes=0).bytes_after == 0 and object_paths(store) == []


def test_verify_repairs_damage_in_layout_1(store: Store) -> None:
    store.put(key(1), 0, np.arange(2000))
    store.put(key(2), 0, np.arange(2000))
    to_layout_1(store)
    store = open_store(store.uri, secret=store._explicit_secret)
    path = refs.data_path(key(1), 0, "npy", refs.LEGACY_LAYOUT)
    raw = bytearray(store.backend.read_bytes(path))
    raw[-1] ^= 0xFF
    store.backend.write_bytes(path, bytes(raw))
    assert [(i.key, i.socket) for i in store.verify_all()] == [(key(1), 0)]
    assert store.verify_all(repair=True)[0].repaired and store.verify_all() == []
    assert store.contains_many([(key(1), 0), (key(2), 0)]) == {(key(2), 0)}
    report = migrate(store)
    assert (report.moved, report.remaining, report.layout_after) == (1, 0, 2)
    assert np.array_equal(open_store(store.uri).get(key(2), 0), np.arange(2000))


def test_delete_removes_every_layout(store: Store) -> None:
    store.put(key(1), 0, np.arange(2000))
    store.put(key(1), 1, "one")
    to_layout_1(store)
    store = open_store(store.uri, secret=store._explicit_secret)
    store.put(key(1), 0, np.arange(3000))
    store.delete(key(1), 0)
    assert store.contains_many([(key(1), 0), (key(1), 1)]) == {(key(1), 1)}
    store.delete(key(1))
    assert object_names(store, key(1)) == set() and object_paths(store) == []
