"""Local-store properties: memory-mapped zero-copy reads, crash safety, secret file."""

from __future__ import annotations

import gc
import multiprocessing
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from storage import ObjectNotFound, StorageError, Store, open_store
from storage.backends import LocalBackend
from storage.refs import data_path
from storage.secret import key_file_secret
from tests.layouts import object_paths
from tests.processes import REPO, kill_when_stalled
from tests.storage.helpers import key


def _mappings_of(path: str) -> list[tuple[int, int]]:
    real = os.path.realpath(path)
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip() == real:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                spans.append((start, end))
    return spans


def _inside_file_map(address: int, path: str) -> bool:
    return any(start <= address < end for start, end in _mappings_of(path))


def _data_file(store: Store, k: str, socket: int, ext: str) -> str:
    return os.path.join(store.backend.root, data_path(k, socket, ext))


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_array_is_a_read_only_view_of_the_file_map(local_store: Store) -> None:
    local_store.put(key(1), 0, np.arange(100_000, dtype=np.float64))
    arr = local_store.get(key(1), 0)
    assert not arr.flags.writeable and not arr.flags.owndata
    assert _inside_file_map(arr.ctypes.data, _data_file(local_store, key(1), 0, "npy"))
    with pytest.raises(ValueError):
        arr[0] = 1


def test_arrow_columns_point_into_the_file_map(local_store: Store) -> None:
    local_store.put(key(2), 0, pa.table({"x": np.arange(50_000), "s": ["a"] * 50_000}))
    table = local_store.get(key(2), 0)
    path = _data_file(local_store, key(2), 0, "arrow")
    for column in table.columns:
        assert _inside_file_map(column.chunk(0).buffers()[1].address, path)


def test_torch_tensor_maps_the_file_copy_on_write(local_store: Store) -> None:
    torch = pytest.importorskip("torch")
    local_store.put(key(3), 0, torch.arange(10_000, dtype=torch.bfloat16))
    tensor = local_store.get(key(3), 0)
    path = _data_file(local_store, key(3), 0, "npy")
    assert _inside_file_map(tensor.data_ptr(), path)
    before = open(path, "rb").read()
    tensor.mul_(2)
    assert open(path, "rb").read() == before


def test_reading_a_large_array_does_not_load_it(local_store: Store) -> None:
    n = 50 * 1024 * 1024  # 200 MB of float32
    local_store.put(key(4), 0, np.ones(n, dtype=np.float32))
    gc.collect()
    before = _rss()
    arr = local_store.get(key(4), 0, verify="never")
    grown = _rss() - before
    assert arr.shape == (n,) and arr[-1] == 1.0
    assert grown < 20 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MiB"


_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import storage
    from storage.backends import LocalBackend
    from storage.codecs import base
    root, phase, key = sys.argv[1:4]

    def stall():
        print("STALLED", flush=True)
        time.sleep(120)

    if phase == "data":
        write = base.HashingWriter.write
        def slow(self, data):
            n = write(self, data)
            if self.nbytes > 1 << 20:
                stall()
            return n
        base.HashingWriter.write = slow
    else:
        write_bytes = LocalBackend.write_bytes
        def slow_manifest(self, path, data, also=None):
            if path.endswith(".manifest.json"):
                stall()
            return write_bytes(self, path, data, also)
        LocalBackend.write_bytes = slow_manifest
    storage.open_store(root).put(key, 0, np.ones(4 << 20, dtype=np.float32))
""")


@pytest.mark.parametrize("phase", ["data", "manifest"])
def test_killed_writer_leaves_nothing_readable_and_gc_cleans_up(
    local_store: Store, phase: str
) -> None:
    kill_when_stalled(_WRITER, local_store.backend.root, phase, key(5))
    assert local_store.contains_many([(key(5), 0)]) == set()
    with pytest.raises(ObjectNotFound):
        local_store.get(key(5), 0)
    leftovers = [e.path for e in local_store.backend.list_files("tmp")]
    leftovers += object_paths(local_store)
    assert len(leftovers) == 1, leftovers
    assert local_store.gc().temporaries == ()  # too recent: could be a live writer
    assert local_store.gc(temp_age=0).temporaries == tuple(leftovers)
    assert not list(local_store.backend.list_files("tmp")) and not object_paths(local_store)


def test_secret_key_file_is_private_and_checked(local_store: Store) -> None:
    local_store.put(key(6), 0, {"needs a pickle"})
    path = os.path.join(local_store.backend.root, "secret.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(StorageError, match="chmod 600"):
        open_store(local_store.uri).get(key(6), 0)


def _make_secret(path: str) -> bytes:
    return key_file_secret(path)


def test_concurrent_secret_creation_agrees(tmp_path) -> None:
    path = str(tmp_path / "root" / "secret.key")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        secrets = pool.map(_make_secret, [path] * 8)
    assert len(set(secrets)) == 1 and len(secrets[0]) == 32
    assert sorted(os.listdir(tmp_path / "root")) == ["secret.key"]


def test_env_secret_is_used_instead_of_a_key_file(local_store: Store, monkeypatch) -> None:
    monkeypatch.setenv("DIGESTFLOW_SECRET", "from-the-environment-0123456789")
    local_store.put(key(7), 0, {1})
    assert not os.path.exists(os.path.join(local_store.backend.root, "secret.key"))
    assert open_store(local_store.uri, secret="from-the-environment-0123456789").get(key(7), 0) == {
        1
    }


def test_default_location_env_and_file_uri(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert open_store().uri == str(tmp_path / ".digestflow")
    monkeypatch.setenv("DIGESTFLOW_STORE", str(tmp_path / "elsewhere"))
    assert open_store().uri == str(tmp_path / "elsewhere")
    by_uri = open_store(f"file://{tmp_path}/via-uri")
    by_uri.put(key(8), 0, [1, 2])
    assert isinstance(by_uri.backend, LocalBackend)
    assert open_store(tmp_path / "via-uri").get(key(8), 0) == [1, 2]


def test_unknown_verify_policy_is_rejected(local_store: Store) -> None:
    local_store.put(key(9), 0, 1)
    with pytest.raises(StorageError, match="verify"):
        local_store.get(key(9), 0, verify="sometimes")


def test_storage_imports_neither_torch_nor_pandas(local_store: Store) -> None:
    local_store.put(key(10), 0, pa.table({"a": [1]}))  # pa.array itself imports pandas
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import storage
        s = storage.open_store(sys.argv[1])
        k = sys.argv[2]
        s.get(k, 0)
        for i, v in enumerate([np.arange(3), {"a": (1,)}, {1}], start=1):
            s.put(k, i, v)
            s.get(k, i)
        print(sorted(m for m in ("torch", "pandas") if m in sys.modules))
    """)
    out = subprocess.run(
        [sys.executable, "-c", script, local_store.uri, key(10)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stderr
