"""Benchmark for ``keys``: graph signing time and large-array digest throughput.

Run from the repo root: ``.venv/bin/python bench/bench_keys.py [--quick]``.
Prints seconds to sign chain / random-DAG (mean in-degree 2) / wide fan-in
(one sink node with N-1 parents) graphs, the time(2N)/time(N) ratio, digest
throughput in GB/s for a float32 array against plain blake3 (1 thread and
AUTO) and hashlib.md5 over the same buffer, and the key size.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from blake3 import blake3  # noqa: E402

import keys  # noqa: E402


@dataclass(slots=True)
class Node:
    id: str
    identity: str
    literals: dict[str, Any]
    links: dict[str, tuple[str, int]]


def _node(i: int, links: dict[str, tuple[str, int]]) -> Node:
    # Every node: one of 10 task identities, a distinct int literal and a shared float.
    return Node(str(i), f"bench.tasks.step{i % 10}@v=1", {"seed": i, "alpha": 0.5}, links)


def chain(n: int) -> list[Node]:
    return [_node(i, {"prev": (str(i - 1), 0)} if i else {}) for i in range(n)]


def random_dag(n: int) -> list[Node]:
    rng = random.Random(n)
    return [
        _node(i, {f"in{j}": (str(rng.randrange(i)), j) for j in range(min(i, 2))}) for i in range(n)
    ]


def fan_in(n: int) -> list[Node]:
    sources = [_node(i, {}) for i in range(n - 1)]
    sink = _node(n - 1, {f"in{i}": (str(i), 0) for i in range(n - 1)})
    return sources + [sink]


def time_sign(build: Callable[[int], list[Node]], n: int, repeat: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds; CPU time is what to trust on a shared machine."""
    gc.disable()  # building the graph is not what we measure
    nodes = build(n)
    gc.enable()
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        signer = keys.Signer()
        start, cpu = time.perf_counter(), time.process_time()
        result = signer.sign(nodes)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
        assert len(result) == n
        del signer, result  # freeing the run's memo/recipes is not signing
        gc.collect()
    del nodes
    gc.collect()
    return best


def bench_graphs(sizes: list[int], repeat: int) -> None:
    print(f"{'graph':<12}{'nodes':>10}{'wall s':>9}{'cpu s':>9}{'us/node':>9}")
    for name, build in (("chain", chain), ("random-dag", random_dag), ("fan-in", fan_in)):
        times = {}
        for n in sizes:
            times[n] = time_sign(build, n, repeat if n <= 200_000 else 1)
            wall, cpu = times[n]
            print(f"{name:<12}{n:>10,}{wall:>9.3f}{cpu:>9.3f}{wall / n * 1e6:>9.2f}")
        for n in sizes[1:]:
            half = time_sign(build, n // 2, repeat if n <= 200_000 else 1)
            print(
                f"{name:<12} ratio t({n:,})/t({n // 2:,}): wall {times[n][0] / half[0]:.2f}"
                f", cpu {times[n][1] / half[1]:.2f}"
            )


def throughput(label: str, nbytes: int, fn: Callable[[], Any], repeat: int) -> None:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<42}{nbytes / best / 1e9:>8.2f} GB/s  ({best:.3f} s)")


def bench_digest(mib: int, repeat: int) -> None:
    arr = np.arange(mib << 18, dtype=np.float32)  # mib MiB of float32
    view = memoryview(arr.view(np.uint8))
    print(f"\ndigest of a {mib} MiB float32 array ({arr.nbytes:,} bytes), best of {repeat}")
    throughput("keys.digest(array)", arr.nbytes, lambda: keys.digest(arr), repeat)
    strided = arr.reshape(-1, 1024)[:, ::2]
    throughput(
        "keys.digest(strided half view)", strided.nbytes, lambda: keys.digest(strided), repeat
    )
    throughput("blake3, 1 thread", arr.nbytes, lambda: blake3(view).digest(), repeat)
    throughput(
        "blake3, max_threads=AUTO",
        arr.nbytes,
        lambda: blake3(view, max_threads=blake3.AUTO).digest(),
        repeat,
    )
    throughput("hashlib.md5", arr.nbytes, lambda: hashlib.md5(view).digest(), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k/100k graphs, 256 MiB array")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, numpy {np.__version__}")
    bench_graphs(sizes, repeat=3)
    bench_digest(256 if args.quick else 1024, repeat=3)
    key = keys.digest("x")
    print(f"\nkey size: {len(key.digest)} bytes ({len(key.hex())} hex chars)")


if __name__ == "__main__":
    main()
