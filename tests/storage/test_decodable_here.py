"""Whole objects that this process cannot decode stay in the store.

A store shared by machines that differ (a CUDA node and a CPU laptop, a newer
and an older checkout) holds objects that only some of them can decode. Their
bytes check out (size, digest, pickle tag), so the object is not corrupt: the
reader gets ``NotDecodableHere`` and nothing is moved aside, as opposed to a
tampered or truncated object, which is quarantined and recomputed.
"""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from storage import AS_STORED, NotDecodableHere, ObjectNotFound, Store
from storage.refs import manifest_path
from tests.storage.helpers import key


@pytest.fixture
def vanishing_class(tmp_path, monkeypatch):
    """A module ``vanishing_mod`` with a class ``Thing``; call the result to delete it."""
    module = tmp_path / "vanishing_mod.py"
    module.write_text("class Thing:\n    def __init__(self):\n        self.answer = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "vanishing_mod", raising=False)
    thing = importlib.import_module("vanishing_mod").Thing

    def remove() -> None:
        module.write_text("# Thing was renamed\n")
        sys.modules.pop("vanishing_mod", None)
        importlib.invalidate_caches()

    yield thing, remove
    sys.modules.pop("vanishing_mod", None)


def test_pickle_of_a_class_this_process_lacks_stays_in_the_store(store: Store,
                                                                  vanishing_class) -> None:
    thing, remove = vanishing_class
    store.put(key(1), 0, thing())
    remove()
    with pytest.raises(NotDecodableHere, match=r"cannot decode object .*\(pickle\) here: "
                                               r"AttributeError: .*Thing"):
        store.get(key(1), 0)
    assert store.contains_many([(key(1), 0)]) == {(key(1), 0)}  # not quarantined
    assert not list(store.backend.list_files("quarantine"))
    assert store.verify_all() == []  # the bytes are whole and authentic


def test_tensor_asked_onto_a_device_this_process_lacks_stays_in_the_store(store: Store) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this process has CUDA")
    store.put(key(2), 0, torch.arange(6.0))
    with pytest.raises(NotDecodableHere, match="cannot move it to 'cuda'"):
        store.get(key(2), 0, device="cuda")
    assert torch.equal(store.get(key(2), 0), torch.arange(6.0))  # still there, still whole


def test_as_stored_gives_host_tensors_where_there_is_no_cuda(local_store: Store) -> None:
    """A tensor stored from CUDA is read onto CUDA where CUDA is (checked by
    bench/gpu_check.py on a GPU machine) and onto the host elsewhere, never failing."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this process has CUDA")
    local_store.put(key(3), 0, torch.ones(3))
    manifest = local_store.manifest(key(3), 0).to_dict()
    assert manifest["summary"]["device"] == "cpu"
    manifest["summary"]["device"] = "cuda:0"  # as a GPU worker would have written it
    local_store.backend.write_bytes(manifest_path(key(3), 0), json.dumps(manifest).encode())
    out = local_store.get(key(3), 0, device=AS_STORED)
    assert out.device.type == "cpu" and torch.equal(out, torch.ones(3))


def test_a_corrupt_pickle_is_still_quarantined(store: Store, vanishing_class) -> None:
    """Only authentic bytes get the benefit of the doubt."""
    thing, _ = vanishing_class
    store.put(key(4), 0, thing())
    manifest = store.manifest(key(4), 0)
    store.backend.write_bytes(manifest_path(key(4), 0), json.dumps(
        {**manifest.to_dict(), "content_digest": "0" * 64}).encode())
    with pytest.raises(Exception, match="digest"):
        store.get(key(4), 0)
    with pytest.raises(ObjectNotFound):
        store.get(key(4), 0)
