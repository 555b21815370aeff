"""One conformance suite for the store contract, run on every backend (local, S3)."""

from __future__ import annotations

import base64
import json
import os
import pickle

import blake3
import numpy as np
import pyarrow as pa
import pytest

from storage import (
    CorruptObjectError,
    Manifest,
    ObjectNotFound,
    StorageError,
    Store,
    open_store,
)
from storage.refs import data_path, manifest_path
from tests.layouts import object_names
from tests.storage.helpers import FakeKey, key, nan_with_payload, typed

PLAIN_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**53,
    -(2**200),
    1.0,
    -0.0,
    float("inf"),
    float("-inf"),
    nan_with_payload(),
    "",
    "héllo\udc80",
    b"",
    b"\x00\xff",
    [],
    (),
    {},
    [1, "1", 1.0, True, None],
    (1, (2, (3,))),
    [(), [()]],
    {1: "int key", (1, 2): "tuple key", None: 0, b"b": 1.5, 2.0: [], False: ()},
    {"nested": [{"deep": ({"x": [b"y", -0.0]},)}]},
]


def _raw(store: Store, key_: str, socket: int) -> bytes:
    """The object's stored bytes: inline in its manifest (small) or its data file."""
    m = store.manifest(key_, socket)
    if m.inline is not None:
        return base64.b64decode(m.inline)
    ext = store._registry.named(m.codec).ext
    return store.backend.read_bytes(data_path(key_, socket, ext))


def _overwrite_data(store: Store, key_: str, socket: int, data: bytes, fix_digest: bool) -> None:
    m = store.manifest(key_, socket)
    fixed = m.to_dict()
    if m.inline is not None:
        fixed["inline"] = base64.b64encode(data).decode()
    else:
        store.backend.write_bytes(data_path(key_, socket, store._registry.named(m.codec).ext), data)
    if fix_digest:
        fixed.update(nbytes=len(data), content_digest=blake3.blake3(data).hexdigest())
    store.backend.write_bytes(manifest_path(key_, socket), json.dumps(fixed).encode())


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=[f"plain{i}" for i in range(len(PLAIN_VALUES))])
def test_plain_values_round_trip_exactly(store: Store, value: object) -> None:
    m = store.put(key(1), 0, value)
    assert m.codec == "plain"
    assert typed(store.get(key(1), 0)) == typed(value)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.zeros((0, 5)),
        np.array(3.5),
        np.array([True, False]),
        np.arange(6, dtype=np.complex64),
        np.array(["ab", "c"]),
        np.arange(3).astype("datetime64[ms]"),
        np.ones((2, 3), dtype=">i4"),
        np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]),
        np.float16([1, 2]),
    ],
    ids=lambda a: f"{a.dtype}-{a.shape}",
)
def test_arrays_round_trip_read_only(store: Store, array: np.ndarray) -> None:
    m = store.put(key(2), 3, array)
    assert (m.codec, m.summary["dtype"], m.summary["shape"]) == (
        "numpy",
        str(array.dtype),
        list(array.shape),
    )
    out = store.get(key(2), 3)
    assert out.dtype == array.dtype and out.shape == array.shape
    assert np.array_equal(out, array)
    assert not out.flags.writeable


def test_fortran_and_sliced_arrays_round_trip_by_value(store: Store) -> None:
    fortran = np.asfortranarray(np.arange(24.0).reshape(4, 6))
    sliced = np.arange(100, dtype=np.int16).reshape(10, 10)[::3, 7:1:-2]
    store.put(key(3), 0, fortran)
    store.put(key(3), 1, sliced)
    out_f, out_s = store.get(key(3), 0), store.get(key(3), 1)
    assert out_f.flags.f_contiguous and np.array_equal(out_f, fortran)
    assert np.array_equal(out_s, sliced) and out_s.dtype == np.int16


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}),
        lambda: pa.table({"a": [1, 2, None], "b": ["x", None, "z"], "c": [[1], [], None]}),
        lambda: pa.Table.from_batches(
            [pa.record_batch({"a": [1]}), pa.record_batch({"a": [2, 3]})]
        ),
        lambda: pa.record_batch({"x": [1.5, 2.5], "y": [True, False]}),
        lambda: pa.record_batch({"x": pa.array([], pa.float32())}),
    ],
    ids=["empty-table", "nulls-lists", "chunked", "batch", "empty-batch"],
)
def test_arrow_values_round_trip(store: Store, make) -> None:
    value = make()
    m = store.put(key(4), 0, value, task="pkg.make_table")
    out = store.get(key(4), 0)
    assert type(out) is type(value)
    assert out.equals(value) and out.schema == value.schema
    assert m.codec == "arrow" and m.summary["rows"] == value.num_rows and m.task == "pkg.make_table"


def test_pandas_round_trips_index_and_dtypes(store: Store) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "i": pd.array([1, None, 3], dtype="Int64"),
            "f": np.float32([1, 2, 3]),
            "c": pd.Categorical(["a", "b", "a"]),
            "s": ["x", "y", None],
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]).tz_localize("UTC"),
        },
        index=pd.Index([10, 20, 30], name="row"),
    )
    assert store.put(key(5), 0, df).codec == "pandas"
    pd.testing.assert_frame_equal(store.get(key(5), 0), df, check_exact=True)
    multi = df.set_index(
        ["s", "f"]
    )  # (nullable Int64 index levels come back float: a pyarrow limit)
    store.put(key(5), 1, multi)
    pd.testing.assert_frame_equal(store.get(key(5), 1), multi, check_exact=True)


def test_dataframe_arrow_cannot_hold_falls_back_to_pickle(store: Store) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"mixed": [1, "a", b"b"]})
    assert store.put(key(6), 0, df).codec == "pickle"
    pd.testing.assert_frame_equal(store.get(key(6), 0), df)


def test_torch_tensors_bit_exact(store: Store) -> None:
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    bf16 = torch.randn(64, 33, generator=gen).to(torch.bfloat16)
    cases = {
        0: bf16,
        1: bf16.t(),
        2: bf16[::2, 5:],
        3: torch.tensor(1.5, dtype=torch.bfloat16),
        4: torch.empty(0, 3, dtype=torch.bfloat16),
        5: torch.arange(10)[::3],
        6: torch.tensor([True, False]),
        7: torch.randn(3, 3, dtype=torch.complex64, generator=gen),
        8: torch.randn(5, generator=gen).to(torch.float8_e4m3fn),
    }
    for socket, tensor in cases.items():
        m = store.put(key(7), socket, tensor)
        assert m.codec == "torch" and m.summary["dtype"] == str(tensor.dtype).removeprefix("torch.")
        out = store.get(key(7), socket)
        assert out.dtype == tensor.dtype and out.shape == tensor.shape and out.device.type == "cpu"
        width = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[
            tensor.element_size()
        ]
        if tensor.dtype.is_complex:
            assert torch.equal(out, tensor)
        else:
            assert torch.equal(out.view(width), tensor.contiguous().view(width)), socket


def test_torch_tensor_is_writable_without_touching_the_store(store: Store) -> None:
    torch = pytest.importorskip("torch")
    store.put(key(8), 0, torch.ones(4))
    out = store.get(key(8), 0, device="cpu")
    out.add_(1)  # copy-on-write: the stored object is unchanged
    assert torch.equal(store.get(key(8), 0), torch.ones(4))


def test_other_values_are_pickled(store: Store) -> None:
    value = {1, 2, frozenset({3})}
    m = store.put(key(9), 0, value)
    assert m.codec == "pickle" and m.summary["type"] == "builtins.set"
    assert store.get(key(9), 0) == value
    fn = store.put(key(9), 1, lambda x: x + 41)
    assert fn.codec == "pickle" and store.get(key(9), 1)(1) == 42


def test_manifest_records_what_was_written(store: Store) -> None:
    m = store.put(key(10), 2, np.arange(5), task="pkg.f")
    raw = _raw(store, key(10), 2)
    assert m == store.manifest(key(10), 2) == Manifest.from_dict(m.to_dict())
    assert m.nbytes == len(raw) and m.content_digest == blake3.blake3(raw).hexdigest()
    assert (m.key, m.socket, m.task, m.summary["shape"]) == (key(10), 2, "pkg.f", [5])
    assert m.created > 0


def test_keys_objects_and_hex_strings_address_the_same_object(store: Store) -> None:
    store.put(FakeKey(key(11)), 0, "v")
    assert store.get(key(11), 0) == "v"
    assert store.contains_many([(FakeKey(key(11)), 0)]) == {(key(11), 0)}


def test_real_keys_key_is_accepted(store: Store) -> None:
    from keys import Key

    k = Key.fromhex(key(11))
    store.put(k, 5, [1])
    assert store.get(key(11), 5) == [1] and store.manifest(k, 5).key == key(11)


def test_bad_manifest_is_corrupt_then_missing(store: Store) -> None:
    store.put(key(22), 0, "v")
    store.backend.write_bytes(manifest_path(key(22), 0), b"{not json")
    assert [i.problem.split(":")[0] for i in store.verify_all()] == ["malformed manifest"]
    with pytest.raises(CorruptObjectError, match="malformed manifest"):
        store.get(key(22), 0)
    with pytest.raises(ObjectNotFound):
        store.get(key(22), 0)


def test_missing_object_is_a_typed_miss(store: Store) -> None:
    with pytest.raises(ObjectNotFound):
        store.get(key(12), 0)
    with pytest.raises(KeyError):
        store.manifest(key(12), 0)
    store.put(key(12), 0, None)
    assert store.get(key(12), 0) is None  # None is a real value, not a miss
    with pytest.raises(ObjectNotFound):
        store.get(key(12), 1)


def test_contains_many_and_manifests_many(store: Store) -> None:
    present = {(key(i), i % 3) for i in range(20)}
    for k, s in present:
        store.put(k, s, s)
    absent = {(key(i), 3) for i in range(20)} | {(key(99), 0)}
    asked = list(present | absent)
    assert store.contains_many(asked) == present
    assert store.contains_many([]) == set()
    many = store.manifests_many(asked)
    assert set(many) == present and all(many[r].ref == r for r in present)


def test_delete_one_socket_or_all(store: Store) -> None:
    for s in range(3):
        store.put(key(13), s, s)
    store.delete(key(13), 1)
    assert store.contains_many([(key(13), s) for s in range(3)]) == {(key(13), 0), (key(13), 2)}
    store.delete(key(13))
    assert store.contains_many([(key(13), s) for s in range(3)]) == set()


def test_corrupted_byte_is_detected_and_quarantined(store: Store) -> None:
    store.put(key(14), 0, np.arange(1000, dtype=np.int64))
    raw = bytearray(_raw(store, key(14), 0))
    raw[-5] ^= 0x01
    _overwrite_data(store, key(14), 0, bytes(raw), fix_digest=False)
    with pytest.raises(CorruptObjectError, match="digest"):
        store.get(key(14), 0)
    with pytest.raises(ObjectNotFound):  # moved aside: now a plain miss
        store.get(key(14), 0)
    assert any(e.path.startswith("quarantine/") for e in store.backend.list_files("quarantine"))


def test_truncation_is_detected_even_without_verification(store: Store) -> None:
    store.put(key(15), 0, np.arange(100))
    _overwrite_data(store, key(15), 0, _raw(store, key(15), 0)[:-8], fix_digest=False)
    with pytest.raises(CorruptObjectError, match="bytes"):
        store.get(key(15), 0, verify="never")


def test_tampered_pickle_is_refused(store: Store) -> None:
    store.put(key(16), 0, {"a set"})
    raw = bytearray(_raw(store, key(16), 0))
    raw[-3] ^= 0x01  # digest fixed too: integrity passes, authenticity must not
    _overwrite_data(store, key(16), 0, bytes(raw), fix_digest=True)
    assert [i.problem for i in store.verify_all()] == [
        "pickle authentication tag is wrong (tampered, or signed with another key)"]
    with pytest.raises(CorruptObjectError, match="DIGESTFLOW_SECRET"):  # a miss, moved aside
        store.get(key(16), 0)
    with pytest.raises(ObjectNotFound):
        store.get(key(16), 0)


class _Canary:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_pickle_without_tag_is_refused_and_never_run(store: Store, tmp_path) -> None:
    canary = str(tmp_path / "pickle-ran")
    store.put(key(17), 0, {"placeholder"})
    _overwrite_data(store, key(17), 0, pickle.dumps(_Canary(canary)), fix_digest=True)
    with pytest.raises(CorruptObjectError, match="no authentication tag"):
        store.get(key(17), 0, verify="never")
    assert not os.path.exists(canary)


def test_pickle_signed_with_another_secret_is_refused(store: Store) -> None:
    other = open_store(store.uri, secret="a-different-secret-abcdefghijkl")
    other.put(key(18), 0, {"x"})
    with pytest.raises(CorruptObjectError, match="not among this process's keys"):
        store.get(key(18), 0)  # quarantined: a miss, recomputed, not a failure
    assert store.contains_many([(key(18), 0)]) == set()


def test_pickle_moved_to_another_key_is_refused(store: Store) -> None:
    store.put(key(19), 0, {"x"})
    store.put(key(20), 0, {"y"})
    _overwrite_data(store, key(20), 0, _raw(store, key(19), 0), fix_digest=True)
    with pytest.raises(CorruptObjectError, match="authentication tag"):
        store.get(key(20), 0)


@pytest.mark.parametrize(
    "bad_key",
    [
        "../" * 21 + "a",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "/" + "a" * 63,
        12,
        b"short",
    ],
)
def test_invalid_keys_are_rejected(store: Store, bad_key: object) -> None:
    with pytest.raises(StorageError, match="key"):
        store.put(bad_key, 0, 1)
    with pytest.raises(StorageError):
        store.get(bad_key, 0)


@pytest.mark.parametrize("bad_socket", [-1, 1024, True, "0", 1.0, None])
def test_invalid_sockets_are_rejected(store: Store, bad_socket: object) -> None:
    with pytest.raises(StorageError, match="socket"):
        store.put(key(21), bad_socket, 1)
    with pytest.raises(StorageError, match="socket"):
        store.contains_many([(key(21), bad_socket)])


def test_documents(store: Store) -> None:
    store.put_doc("runs", "run-1.a_b", {"nodes": 3, "ok": True})
    store.put_doc("runs", "run-2", {"nodes": 1})
    assert store.get_doc("runs", "run-1.a_b") == {"nodes": 3, "ok": True}
    assert store.list_docs("runs") == ["run-1.a_b", "run-2"]
    assert store.list_docs("recipes") == []
    with pytest.raises(ObjectNotFound):
        store.get_doc("runs", "nope")
    for kind, name in [
        ("runs", "../x"),
        ("runs", ".."),
        ("runs", ".hidden"),
        ("a/b", "x"),
        ("runs", ""),
    ]:
        with pytest.raises(StorageError):
            store.put_doc(kind, name, {})


def _filled(store: Store, n: int) -> list[tuple[str, int]]:
    refs = [(key(100 + i), 0) for i in range(n)]
    for r in refs:
        store.put(*r, np.zeros(1000, dtype=np.uint8))
    return refs


def test_gc_evicts_least_recently_used_until_under_budget(store: Store) -> None:
    refs = _filled(store, 5)
    size = store.manifest(*refs[0]).nbytes
    store.get(*refs[0])  # now the most recently used
    report = store.gc(max_bytes=2 * size, dry_run=True)
    assert report.dry_run and set(report.evicted) == set(refs[1:4])
    assert store.contains_many(refs) == set(refs)  # dry run removed nothing
    report = store.gc(max_bytes=2 * size)
    assert report.evicted == tuple(refs[1:4])
    assert (report.bytes_before, report.bytes_after, report.freed_bytes) == (
        5 * size,
        2 * size,
        3 * size,
    )
    assert store.contains_many(refs) == {refs[0], refs[4]}
    assert store.stats().bytes == 2 * size


def test_gc_never_evicts_pinned_or_kept_objects(store: Store) -> None:
    refs = _filled(store, 4)
    store.pin("release", [refs[0]])
    store.pin("whole-key", [refs[1][0]])
    assert store.pins() == {"release": [refs[0]], "whole-key": [(refs[1][0], None)]}
    report = store.gc(max_bytes=0, keep=[refs[2]])
    assert set(report.evicted) == {refs[3]}
    assert store.contains_many(refs) == set(refs[:3])
    store.unpin("release")
    store.gc(max_bytes=0, keep=[refs[2]])
    assert store.contains_many(refs) == {refs[1], refs[2]}


def test_gc_older_than(store: Store) -> None:
    refs = _filled(store, 2)
    assert store.gc(older_than=3600).evicted == ()
    assert set(store.gc(older_than=0).evicted) == set(refs)


def test_gc_removes_orphans_and_temporaries(store: Store) -> None:
    store.put(key(30), 0, "kept")
    orphan = data_path(key(31), 0, "npy")  # data whose writer died before the manifest
    store.backend.write_bytes(orphan, b"half an object")
    assert store.contains_many([(key(31), 0)]) == set()
    assert store.gc().temporaries == ()  # younger than temp_age: might be a live writer
    report = store.gc(temp_age=0)
    assert orphan in report.temporaries and report.evicted == ()
    assert object_names(store, key(31)) == set()
    assert store.get(key(30), 0) == "kept"


def test_stats_iter_manifests_and_verify_all(store: Store) -> None:
    store.put(key(40), 0, np.arange(10), task="a")
    store.put(key(40), 1, "text", task="a")
    store.put(key(41), 0, pa.table({"x": [1]}), task="b")
    stats = store.stats()
    assert (
        stats.objects == 3
        and stats.by_task["a"].objects == 2
        and set(stats.by_codec) == {"numpy", "plain", "arrow"}
    )
    assert stats.bytes == sum(m.nbytes for m in store.iter_manifests())
    assert store.verify_all() == []
    raw = bytearray(_raw(store, key(41), 0))
    raw[10] ^= 0xFF
    _overwrite_data(store, key(41), 0, bytes(raw), fix_digest=False)
    issues = store.verify_all()
    assert [(i.key, i.socket, i.repaired) for i in issues] == [(key(41), 0, False)]
    assert store.contains_many([(key(41), 0)]) == {(key(41), 0)}
    assert store.verify_all(repair=True)[0].repaired
    assert store.contains_many([(key(41), 0)]) == set() and store.verify_all() == []


def test_store_pickles_small_and_works_after_unpickling(store: Store) -> None:
    store.put(key(50), 0, np.arange(3))
    blob = pickle.dumps(store)
    assert len(blob) < 600
    clone = pickle.loads(blob)
    assert np.array_equal(clone.get(key(50), 0), np.arange(3))
    clone.put(key(50), 1, {"pickled"})
    assert store.get(key(50), 1) == {"pickled"}


def test_small_objects_live_in_their_manifest(store: Store) -> None:
    small = store.put(key(60), 0, [1, "two", 3.0])
    big = store.put(key(61), 0, np.zeros(10_000))
    assert small.inline is not None and big.inline is None
    assert object_names(store, key(60)) == {"0.manifest.json"}, "a small object is one file"
    assert object_names(store, key(61)) == {"0.manifest.json", "0.npy"}
    assert store.get(key(60), 0) == [1, "two", 3.0]
    assert store.get(key(61), 0).sum() == 0
    assert store.manifest(key(60), 0) == small, "the manifest round-trips its inline data"
