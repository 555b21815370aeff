"""On-disk manifests, pinned per format version (fixtures/manifest-v<N>/).

Each fixture directory holds manifests (and data files) exactly as a store of
that manifest format wrote them. The current format's objects must read back;
an object whose manifest has any other format is a miss, never read as the
current one. Changing what a manifest holds means bumping
``storage.manifest.MANIFEST_FORMAT`` and adding a fixture directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from storage import CorruptObjectError, Manifest, ObjectNotFound, StorageError, Store
from storage.manifest import MANIFEST_FORMAT
from storage.refs import data_path, manifest_path

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_VALUE = {"alpha": [1, 2.5, None], "name": "x"}
BIG_VALUE = np.arange(600, dtype="<i8")


def _fixture(version: int, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"manifest-v{version}" / f"{name}.manifest.json").read_text())


def _install(store: Store, manifest: dict[str, Any], data: bytes | None = None) -> None:
    """Place a manifest (and its data file) where the store keeps that object."""
    key, socket = manifest["key"], manifest["socket"]
    if data is not None:
        store.backend.write_bytes(data_path(key, socket, "npy"), data)
    store.backend.write_bytes(manifest_path(key, socket), json.dumps(manifest).encode())


def test_every_format_up_to_the_current_one_has_a_fixture() -> None:
    versions = sorted(int(p.name.rsplit("v", 1)[1]) for p in FIXTURES.glob("manifest-v*"))
    assert versions and versions[-1] == MANIFEST_FORMAT, (
        f"manifest format {MANIFEST_FORMAT} has no fixtures/manifest-v{MANIFEST_FORMAT}: "
        "write one object of each kind with the new format and pin it"
    )


def test_a_new_manifest_has_the_fields_of_the_pinned_format(local_store: Store) -> None:
    fresh = json.loads(local_store.backend.read_bytes(
        manifest_path(*local_store.put("a" * 64, 0, SMALL_VALUE, task="pkg.small").ref)))
    pinned = _fixture(MANIFEST_FORMAT, "small")
    assert sorted(fresh) == sorted(pinned), (
        "manifests changed shape without a format bump: bump MANIFEST_FORMAT, add a fixture"
    )
    del fresh["created"], pinned["created"]
    assert fresh == pinned


def test_current_format_fixtures_read_back_verified(local_store: Store) -> None:
    _install(local_store, _fixture(MANIFEST_FORMAT, "small"))
    big_data = (FIXTURES / f"manifest-v{MANIFEST_FORMAT}" / "big.npy").read_bytes()
    _install(local_store, _fixture(MANIFEST_FORMAT, "big"), big_data)
    assert local_store.get("a" * 64, 0, verify="always") == SMALL_VALUE
    assert np.array_equal(local_store.get("b" * 64, 1, verify="always"), BIG_VALUE)
    assert local_store.verify_all() == []


@pytest.mark.parametrize("other", [0, MANIFEST_FORMAT + 1, "1", None])
def test_another_format_is_a_miss_not_a_misread(local_store: Store, other: Any) -> None:
    manifest = {**_fixture(MANIFEST_FORMAT, "small"), "format": other}
    _install(local_store, manifest)
    try:
        value = local_store.get("a" * 64, 0)
    except (ObjectNotFound, CorruptObjectError):
        pass
    else:
        pytest.fail(f"a manifest of format {other!r} was read as format {MANIFEST_FORMAT}: "
                    f"{value!r}")
    with pytest.raises(ObjectNotFound):
        local_store.get("a" * 64, 0)
    local_store.put("a" * 64, 0, SMALL_VALUE)  # recomputed: readable again
    assert local_store.get("a" * 64, 0) == SMALL_VALUE


@pytest.mark.parametrize(("name", "ref", "value"), [
    ("small", ("a" * 64, 0), SMALL_VALUE),  # inline
    ("big", ("b" * 64, 1), BIG_VALUE),  # a data file: no ``inline`` field at all (not null)
])
def test_manifest_bytes_are_pinned(local_store: Store, name: str, ref: tuple, value) -> None:
    """Sorted keys, no NaN, the same separators: other readers parse these files."""
    written = local_store.backend.read_bytes(
        manifest_path(*local_store.put(*ref, value, task=f"pkg.{name}").ref))
    pinned = (FIXTURES / f"manifest-v{MANIFEST_FORMAT}" / f"{name}.manifest.json").read_bytes()
    created = json.loads(written)["created"]
    assert written == pinned.replace(
        str(_fixture(MANIFEST_FORMAT, name)["created"]).encode(), repr(created).encode())


def test_a_summary_holding_nan_is_refused_not_written_as_non_json() -> None:
    manifest = Manifest.from_dict({**_fixture(MANIFEST_FORMAT, "small"),
                                   "summary": {"mean": float("nan")}})
    with pytest.raises(ValueError):
        manifest.to_json()


def test_optional_fields_have_defaults(local_store: Store) -> None:
    required = {k: _fixture(MANIFEST_FORMAT, "small")[k]
                for k in ("format", "key", "socket", "codec", "nbytes", "content_digest")}
    manifest = Manifest.from_json(json.dumps(required).encode())
    assert (manifest.summary, manifest.created, manifest.task, manifest.inline) == (
        {}, 0.0, None, None)
    assert Manifest.from_dict({**required, "summary": None}).summary == {}


@pytest.mark.parametrize("raw", [
    b"[]", b"{not json", b'"a string"', b"null",
    json.dumps({**{k: v for k, v in json.loads(
        (FIXTURES / "manifest-v1" / "small.manifest.json").read_text()).items()
        if k != "codec"}}).encode(),
])
def test_malformed_manifests_are_refused(raw: bytes) -> None:
    with pytest.raises(StorageError, match="malformed manifest"):
        Manifest.from_json(raw)


@pytest.mark.parametrize("field,value", [("inline", 5), ("socket", "x"), ("nbytes", None),
                                          ("created", "yesterday"), ("summary", 3)])
def test_a_manifest_with_a_wrongly_typed_field_is_a_miss(local_store: Store, field: str,
                                                         value: Any) -> None:
    bad = {**_fixture(MANIFEST_FORMAT, "small"), field: value}
    local_store.backend.write_bytes(manifest_path("a" * 64, 0), json.dumps(bad).encode())
    with pytest.raises(CorruptObjectError, match="malformed manifest"):
        local_store.get("a" * 64, 0)
    with pytest.raises(ObjectNotFound):
        local_store.get("a" * 64, 0)


@pytest.mark.parametrize("other", [0, MANIFEST_FORMAT + 1, "1"])
def test_manifests_handed_over_as_dicts_check_their_format_too(other: Any) -> None:
    """The cluster index hands manifests to drivers as dicts (``Manifest.from_dict``):
    an index holding another format's entries must not pass them off as current."""
    manifest = {**_fixture(MANIFEST_FORMAT, "small"), "format": other}
    with pytest.raises(StorageError) as info:
        Manifest.from_dict(manifest)
    assert str(info.value) == f"manifest format {other!r} is not supported"


def test_a_manifest_without_a_format_field_reads_as_the_current_format() -> None:
    manifest = {k: v for k, v in _fixture(MANIFEST_FORMAT, "small").items() if k != "format"}
    assert Manifest.from_dict(manifest).ref == ("a" * 64, 0)
    assert Manifest.from_json(json.dumps(manifest).encode()).ref == ("a" * 64, 0)


@pytest.mark.parametrize(("field", "bad", "message"), [
    ("inline", 5, "malformed manifest: inline must be a string, got int"),
    ("nbytes", "many", "malformed manifest: invalid literal for int() with base 10: 'many'"),
])
def test_a_malformed_dict_manifest_says_what_is_wrong(field: str, bad: Any, message: str) -> None:
    with pytest.raises(StorageError) as info:
        Manifest.from_dict({**_fixture(MANIFEST_FORMAT, "small"), field: bad})
    assert str(info.value) == message


_BROKEN_FIELDS = [
    ("format", 2), ("format", "1"), ("format", True), ("key", "A" * 64), ("key", "a" * 63), ("key", 5),
    ("socket", -1), ("socket", 1024), ("socket", "0"), ("codec", ""),
    ("codec", "a b"), ("codec", "x" * 65), ("codec", 5), ("nbytes", -1), ("nbytes", 2**53 + 1),
    ("nbytes", "1"), ("nbytes", 1.5), ("content_digest", "g" * 64), ("content_digest", 5),
    ("summary", 5), ("summary", []), ("created", -1), ("created", 1e12), ("created", "0"),
    ("task", 5), ("task", "x" * 1001), ("inline", 5), ("inline", "x" * 8193),
]


@pytest.mark.parametrize(("field", "bad"), _BROKEN_FIELDS)
def test_each_schema_rule_alone_makes_a_manifest_malformed(field: str, bad: Any) -> None:
    """One field broken, every other one valid: the parser of untrusted manifest bytes
    refuses it (S5: the store then treats the object as a miss, never reads it)."""
    raw = json.dumps({**_fixture(MANIFEST_FORMAT, "small"), field: bad}).encode()
    with pytest.raises(StorageError, match="malformed manifest"):
        Manifest.from_json(raw)


@pytest.mark.parametrize(("field", "edge"), [
    ("socket", 1023), ("nbytes", 2**53), ("nbytes", 0), ("codec", "x" * 64),
    ("created", 1e11), ("created", 0), ("task", "x" * 1000), ("task", None),
    ("inline", "x" * 8192), ("inline", None), ("summary", None),
])
def test_values_at_the_schema_edges_are_accepted(field: str, edge: Any) -> None:
    raw = json.dumps({**_fixture(MANIFEST_FORMAT, "small"), field: edge}).encode()
    read = getattr(Manifest.from_json(raw), field)
    assert read == ({} if field == "summary" else edge)


def test_what_makes_a_manifest_malformed_is_named() -> None:
    small = _fixture(MANIFEST_FORMAT, "small")

    def message(raw: bytes) -> str:
        with pytest.raises(StorageError) as info:
            Manifest.from_json(raw)
        return str(info.value)

    assert message(json.dumps({**small, "socket": 1024}).encode()) == (
        "malformed manifest: socket: 1024 is greater than the maximum of 1023")
    assert message(b"[]") == "malformed manifest: manifest: [] is not of type 'object'"
    created_nan = json.dumps({**small, "created": 0.5}).replace("0.5", "NaN").encode()
    assert message(created_nan) == "malformed manifest: created is not a finite number"
    long_codec = message(json.dumps({**small, "codec": "x" * 300}).encode())
    assert long_codec.startswith("malformed manifest: codec: 'xxx")
    assert len(long_codec) == len("malformed manifest: codec: ") + 200, "bounded"


def test_manifest_size_bound_and_unparsable_bytes() -> None:
    from storage.manifest import MAX_MANIFEST_BYTES

    raw = json.dumps(_fixture(MANIFEST_FORMAT, "small")).encode()
    at_bound = raw + b" " * (MAX_MANIFEST_BYTES - len(raw))
    assert Manifest.from_json(at_bound).ref == ("a" * 64, 0), "the bound itself is allowed"
    with pytest.raises(StorageError) as info:
        Manifest.from_json(at_bound + b" ")
    assert str(info.value) == f"malformed manifest: {MAX_MANIFEST_BYTES + 1} bytes is too large"
    with pytest.raises(StorageError) as info:
        Manifest.from_json(b"{not json")
    assert str(info.value) == ("malformed manifest: not JSON (Expecting property name enclosed "
                               "in double quotes: line 1 column 2 (char 1))")


class _NoSlowPath:
    """Stands in for the jsonschema validator: reaching it fails the test."""

    def iter_errors(self, data: Any) -> Any:
        raise AssertionError(f"a valid manifest went to the slow general validator: {data}")


_EDGES = [
    ("socket", 0), ("socket", 1023), ("nbytes", 2**53), ("nbytes", 0), ("codec", "x" * 64),
    ("codec", "a"), ("created", 1e11), ("created", 0), ("created", 17), ("task", "x" * 1000),
    ("task", None), ("inline", "x" * 8192), ("inline", None), ("summary", None),
    ("summary", {}),
]


@pytest.mark.parametrize(("field", "edge"), _EDGES)
def test_valid_manifests_are_parsed_on_the_fast_path(monkeypatch, field: str, edge: Any) -> None:
    """Manifests are parsed on every lookup and read; the general schema validator is
    ~20x slower, so a valid manifest, edge values included, never needs it."""
    import storage.manifest

    monkeypatch.setattr(storage.manifest, "_validator", _NoSlowPath())
    raw = json.dumps({**_fixture(MANIFEST_FORMAT, "small"), field: edge}).encode()
    assert getattr(Manifest.from_json(raw), field) == ({} if field == "summary" else edge)


def test_what_the_store_writes_is_parsed_on_the_fast_path(monkeypatch, local_store: Store
                                                          ) -> None:
    import pyarrow as pa

    import storage.manifest

    monkeypatch.setattr(storage.manifest, "_validator", _NoSlowPath())
    values = [SMALL_VALUE, BIG_VALUE, pa.table({"a": [1, 2, 3]}), b"raw bytes", "text",
              {1, 2}, None]
    for socket, value in enumerate(values):
        local_store.put("cd" * 32, socket, value, task="t")
    for socket in range(len(values)):
        assert local_store.manifest("cd" * 32, socket).socket == socket


def test_a_manifest_without_a_format_field_is_parsed_on_the_fast_path(monkeypatch) -> None:
    import storage.manifest

    monkeypatch.setattr(storage.manifest, "_validator", _NoSlowPath())
    data = {k: v for k, v in _fixture(MANIFEST_FORMAT, "small").items() if k != "format"}
    assert Manifest.from_json(json.dumps(data).encode()).socket == data["socket"]


@pytest.mark.parametrize("created", [1e11 + 0.5, 1e11 + 1])
def test_created_just_past_its_bound_is_refused(created: float) -> None:
    raw = json.dumps({**_fixture(MANIFEST_FORMAT, "small"), "created": created}).encode()
    with pytest.raises(StorageError, match="malformed manifest"):
        Manifest.from_json(raw)


def test_a_malformed_manifest_without_created_is_refused_cleanly() -> None:
    """``created`` is optional: its absence never turns a malformed manifest into a
    crash; the error still names what is wrong."""
    data = {k: v for k, v in _fixture(MANIFEST_FORMAT, "small").items() if k != "created"}
    with pytest.raises(StorageError, match="malformed manifest.*socket"):
        Manifest.from_json(json.dumps({**data, "socket": -1}).encode())


@pytest.mark.parametrize(("field", "value"), [("format", 1.0), ("socket", 3.0), ("nbytes", 10.0)])
def test_integral_numbers_written_as_floats_read_as_ints(field: str, value: float) -> None:
    """Another JSON writer may spell 3 as 3.0; the schema accepts it, and a float
    ``created`` beside it is no reason to refuse the manifest."""
    data = {**_fixture(MANIFEST_FORMAT, "small"), field: value, "created": 1796039947.5}
    read = Manifest.from_json(json.dumps(data).encode())
    assert read.created == 1796039947.5
    if field != "format":
        assert getattr(read, field) == int(value)
