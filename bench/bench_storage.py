"""Benchmark the storage package against pickle and np.load on the same values.

    .venv/bin/python bench/bench_storage.py [--quick] [--dir DIR]

Values: a float32 tensor (1 GiB; 64 MiB with --quick) and an Arrow table
(10M rows; 1M with --quick). For each: write throughput, read-hit latency
without verification (memory map) and with it (blake3 over the bytes), and the
same value through pickle (and np.save/np.load or raw Arrow IPC) as baselines.
Reads are warm: the files are in the page cache, as for a cache hit on a
worker that just wrote or read them. Times are the best of ``--repeat`` runs.

Small outputs (``--small N``, default 2000; ``--small-only`` runs just this):
the cost of one ``store.put`` of a tiny value (inline in its manifest: one
file) and of a 16 KiB array (a data file and a manifest), each to a new key,
in layout 2 (flat) against layout 1 (a directory per key) as the baseline:
the same put code, writing layout 1 paths, in the same run and directory,
rounds alternating between the two.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from storage import open_store, refs  # noqa: E402

KEY = "5a" * 32


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row(label: str, seconds: float, nbytes: int, base: float | None = None) -> None:
    gbps = nbytes / seconds / 1e9
    ratio = f"{base / seconds:8.1f}x" if base else " " * 9
    print(f"  {label:<38} {seconds * 1e3:10.2f} ms {gbps:8.2f} GB/s {ratio}")


def pickle_file(path: str, value: Any) -> None:
    with open(path, "wb") as f:
        pickle.dump(value, f, protocol=5)


def unpickle_file(path: str) -> Any:
    with open(path, "rb") as f:
        return pickle.load(f)


def fresh_puts(store: Any, socket: int, value: Any, repeat: int) -> float:
    """Best time of ``repeat`` puts, each to a new key (as in real use), then one to KEY."""
    times = []
    for i in range(repeat):
        key = f"{i:064x}"
        start = time.perf_counter()
        store.put(key, socket, value)
        times.append(time.perf_counter() - start)
        store.delete(key)
    store.put(KEY, socket, value)
    return min(times)


def tensor_writes(store: Any, nbytes: int, pkl: str, npy: str, repeat: int) -> None:
    arr = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    row("write: store.put", fresh_puts(store, 0, arr, repeat), nbytes)
    row("write: pickle.dump (baseline)", best(lambda: pickle_file(pkl, arr), repeat), nbytes)
    row("write: np.save (baseline)", best(lambda: np.save(npy, arr), repeat), nbytes)


def bench_tensor(root: str, nbytes: int, repeat: int) -> None:
    store = open_store(os.path.join(root, "store"))
    print(f"\nfloat32 tensor, {nbytes / 2**30:.3f} GiB   (ratio = baseline time / store time)")
    pkl, npy = os.path.join(root, "t.pkl"), os.path.join(root, "t.npy")
    tensor_writes(store, nbytes, pkl, npy, repeat)  # the source array is freed before reads
    unverified = best(lambda: store.get(KEY, 0, verify="never"), max(repeat, 20))
    verified = best(lambda: store.get(KEY, 0, verify="always"), repeat)
    t_unpickle = best(lambda: unpickle_file(pkl), repeat)
    t_npload = best(lambda: np.load(npy), repeat)
    t_npmmap = best(lambda: np.load(npy, mmap_mode="r"), max(repeat, 20))
    row("hit: store.get verify=never (mmap)", unverified, nbytes, t_unpickle)
    row("hit: store.get verify=always", verified, nbytes, t_unpickle)
    row("read: pickle.load (baseline)", t_unpickle, nbytes)
    row("read: np.load (baseline)", t_npload, nbytes)
    row("read: np.load mmap_mode='r' (floor)", t_npmmap, nbytes)
    print(
        f"  store vs np.load: unverified {t_npload / unverified:.0f}x faster, "
        f"verified {t_npload / verified:.2f}x"
    )


def make_table(rows: int) -> pa.Table:
    rng = np.random.default_rng(1)
    return pa.table(
        {
            "id": np.arange(rows, dtype=np.int64),
            "value": rng.random(rows),
            "bucket": rng.integers(0, 1000, rows, dtype=np.int32),
        }
    )


def bench_table(root: str, rows: int, repeat: int) -> None:
    store = open_store(os.path.join(root, "store"))
    table = make_table(rows)
    nbytes = table.nbytes
    print(f"\nArrow table, {rows:,} rows, {nbytes / 2**20:.0f} MiB")
    pkl, ipc = os.path.join(root, "t.pkl"), os.path.join(root, "t.arrow")

    def write_ipc() -> None:
        with pa.OSFile(ipc, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
            w.write(table)

    def read_ipc() -> pa.Table:
        with pa.memory_map(ipc) as source:
            return pa.ipc.open_file(source).read_all()

    row("write: store.put", fresh_puts(store, 1, table, repeat), nbytes)
    row("write: pickle.dump (baseline)", best(lambda: pickle_file(pkl, table), repeat), nbytes)
    row("write: raw Arrow IPC file (floor)", best(write_ipc, repeat), nbytes)
    t_unpickle = best(lambda: unpickle_file(pkl), repeat)
    row(
        "hit: store.get verify=never (mmap)",
        best(lambda: store.get(KEY, 1, verify="never"), max(repeat, 20)),
        nbytes,
        t_unpickle,
    )
    row("hit: store.get verify=always", best(lambda: store.get(KEY, 1), repeat), nbytes, t_unpickle)
    row("read: pickle.load (baseline)", t_unpickle, nbytes)
    row("read: raw Arrow IPC memory map (floor)", best(read_ipc, max(repeat, 20)), nbytes)


@contextlib.contextmanager
def writing_layout(layout: int) -> Iterator[None]:
    """Make the store's path functions name ``layout``'s paths (what older code wrote)."""
    saved = refs.data_path.__defaults__, refs.manifest_path.__defaults__
    refs.data_path.__defaults__ = refs.manifest_path.__defaults__ = (layout,)
    try:
        yield
    finally:
        refs.data_path.__defaults__, refs.manifest_path.__defaults__ = saved


def put_seconds(store: Any, value: Any, n: int, start: int, layout: int) -> float:
    """Seconds per put of ``value`` to ``n`` new keys, writing ``layout``'s paths."""
    with writing_layout(layout):
        begin = time.perf_counter()
        for i in range(start, start + n):
            store.put(f"{i:064x}", 0, value)
        return (time.perf_counter() - begin) / n


def bench_small_puts(root: str, n: int, rounds: int) -> None:
    print(f"\nsmall outputs: {n} puts to new keys per round, best of {rounds} rounds "
          "(ratio = layout 1 time / layout 2 time)")
    values = {"tiny value (inline, 1 file)": [1, 2, 3],
              "16 KiB array (data + manifest)": np.zeros(2048)}
    for label, value in values.items():
        best: dict[int, float] = {}
        for r in range(rounds):
            for layout in (1, 2) if r % 2 == 0 else (2, 1):
                store = open_store(os.path.join(root, f"small-{layout}-{r}-{label[:4]}"))
                store.put(KEY, 0, value)  # the store exists, tmp/ too
                t = put_seconds(store, value, n, 0, layout)
                best[layout] = min(best.get(layout, t), t)
        print(f"  {label:<32} layout 1 (baseline) {best[1] * 1e6:7.1f} us/put   "
              f"layout 2 {best[2] * 1e6:7.1f} us/put   {best[1] / best[2]:5.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB tensor, 1M rows")
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000, help="puts per small-output round")
    parser.add_argument("--small-only", action="store_true", help="only the small outputs")
    args = parser.parse_args(argv)
    tensor_bytes = 64 * 2**20 if args.quick else 2**30
    rows = 1_000_000 if args.quick else 10_000_000
    root = tempfile.mkdtemp(prefix="digestflow-bench-", dir=args.dir)
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, pyarrow {pa.__version__}, "
        f"{os.cpu_count()} CPUs, dir {root}"
    )
    try:
        bench_small_puts(root, args.small, max(args.repeat, 4))
        if args.small_only:
            return
        bench_tensor(root, tensor_bytes, args.repeat)
        bench_table(root, rows, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
