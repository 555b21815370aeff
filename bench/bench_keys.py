"""Benchmark for ``keys``: graph signing time and large-array digest throughput.

Run from the repo root: ``.venv/bin/python bench/bench_keys.py [--quick] [--only-runner]``.
Prints ``runner.sign`` (build + validate + sign of a graph from ``bind``) on a
100k chain and 50k/100k/200k random DAGs next to its targets, the graph path
(``sign_targets``, what ``run`` uses) and the signer alone on the same shapes,
with the load average; the cost of the ``bind`` calls that build those graphs,
against ``inspect.Signature.bind``; and seconds to sign chain / random-DAG (mean in-degree 2) / wide fan-in
(one sink node with N-1 parents) graphs, the time(2N)/time(N) ratio, digest
throughput in GB/s for a float32 array against plain blake3 (1 thread and
AUTO) and hashlib.md5 over the same buffer, and the key size. Then the cost
of code identities: each task's code closure computed cold (the examples'
tasks, and 10 generated tasks with helpers), and ``sign_targets`` on a graph
of 100k ``@task`` nodes of those 10 tasks (the whole signing prelude).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from blake3 import blake3  # noqa: E402

import keys  # noqa: E402
import runner  # noqa: E402


@runner.task
def _src(i: int) -> int:
    return i


@runner.task
def _step(x: int, i: int) -> int:
    return x + i


@runner.task
def _mix(a: int, b: int, i: int) -> int:
    return a + b + i


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


def bound_chain(n: int) -> list[Any]:
    node = _src.bind(0)
    for i in range(1, n):
        node = _step.bind(node, i)
    return [node]


def bound_random_dag(n: int) -> list[Any]:
    """Each node reads two random earlier nodes (mean in-degree 2); targets: every sink."""
    rng = random.Random(n)
    nodes = [_src.bind(0), _src.bind(1)]
    read = bytearray(n)
    for i in range(2, n):
        a, b = rng.randrange(i), rng.randrange(i)
        read[a] = read[b] = 1
        nodes.append(_mix.bind(nodes[a], nodes[b], i))
    return [node for node, used in zip(nodes, read, strict=True) if not used]


def _graph_path(targets: list[Any]) -> Any:
    """What ``runner.sign`` did before it signed bind graphs as it walks them."""
    from runner.prepare import sign_targets

    return sign_targets(targets, recipes=False).keys


def time_runner_sign(targets: list[Any], repeat: int,
                     sign: Callable[[Any], Any] = runner.sign) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``runner.sign``: build + validate + sign, then free."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        signed = sign(targets)
        del signed  # freeing the graph is part of the call's cost for a caller
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def time_bind(build: Callable[[int], list[Any]], n: int, repeat: int) -> float:
    """Best CPU seconds of building a bound graph of ``n`` nodes (``bind`` calls)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        cpu = time.process_time()
        targets = build(n)
        best = min(best, time.process_time() - cpu)
        gc.enable()
        del targets
    return best


def bench_bind(n: int, repeat: int) -> None:
    """``bind`` on its fast path against ``inspect.Signature.bind`` (the slow path every
    call took before), same graphs, same run."""
    print(f"\nbind: building the bound graphs, CPU s best of {repeat}")
    tasks = (_src, _step, _mix)
    for name, build in (("chain", bound_chain), ("random-dag", bound_random_dag)):
        fast = time_bind(build, n, repeat)
        for t in tasks:
            t.__dict__["bind_plan"] = None  # no plan: every call binds through inspect
        slow = time_bind(build, n, repeat)
        for t in tasks:
            del t.__dict__["bind_plan"]
        print(f"  {name:<11}{n:>9,}: {fast:.3f} s  (inspect.Signature.bind: {slow:.3f} s, "
              f"{slow / fast:.2f}x)")


def bench_runner_sign(n: int, repeat: int) -> None:
    """``runner.sign`` on bound graphs, against the signer alone on the same shape."""
    print(f"\nrunner.sign (graph from bind: build + validate + sign), best of {repeat}; "
          "CPU time is what to trust on a shared machine; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    targets_of = {"chain": (bound_chain, chain, 0.6), "random-dag": (bound_random_dag,
                                                                       random_dag, 0.9)}
    for name, (bound, plain, target) in targets_of.items():
        times = {}
        for size in (n // 2, n, 2 * n) if name == "random-dag" else (n,):
            gc.disable()
            targets = bound(size)
            gc.enable()
            times[size] = time_runner_sign(targets, repeat)
            graph_path = time_runner_sign(targets, repeat, _graph_path)
            del targets
            signer = time_sign(plain, size, repeat)
            wall, cpu = times[size]
            print(f"  {name:<11}{size:>9,}: wall {wall:.3f} s, cpu {cpu:.3f} s  (graph path: cpu "
                  f"{graph_path[1]:.3f}; signer alone: cpu {signer[1]:.3f}, "
                  f"ratio {cpu / signer[1]:.2f}x)"
                  + (f"  target <= {target} s" if size == n else ""))
        if name == "random-dag":
            print(f"  random-dag t({2 * n:,})/t({n:,}): wall {times[2 * n][0] / times[n][0]:.2f}, "
                  f"cpu {times[2 * n][1] / times[n][1]:.2f}  (target <= 2.2)")
    print("  load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


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


TASKS = """
import numpy as np
from runner import task

SCALE = 3
TABLE = {"a": 1, "b": 2}

def helper(x):
    return x * SCALE + TABLE["a"]

class Step:
    def apply(self, x):
        return helper(x) + 1
""" + "".join(
    f"""
@task
def t{i}(prev, seed):
    return Step().apply(seed) + float(np.sum([prev or 0])) + {i}
""" for i in range(10))


def _generated_tasks() -> Any:
    folder = tempfile.mkdtemp(prefix="bench-keys-")
    path = os.path.join(folder, "bench_tasks.py")
    with open(path, "w") as fh:
        fh.write(TASKS)
    spec = importlib.util.spec_from_file_location("bench_tasks", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["bench_tasks"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _example_tasks() -> list[Any]:
    import runpy

    from runner import Task

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    found = []
    for name in sorted(os.listdir(root)):
        if name.endswith(".py"):
            found += [v for v in runpy.run_path(os.path.join(root, name)).values()
                      if isinstance(v, Task)]
    return found


def _identities(tasks: list[Any]) -> float:
    """CPU seconds to compute every task's identity cold (once per process, as in a
    run); CPU time, because wall time on a shared machine measures the neighbours."""
    start = time.process_time()
    for t in tasks:
        t.identity  # noqa: B018 - computing it is the point
    return time.process_time() - start


def bench_code_identity(n: int) -> None:
    from runner.graph import Graph
    from runner.prepare import sign_targets

    examples = _example_tasks()
    took = _identities(examples)
    print(f"\ncode identity, cold, CPU: {len(examples)} example tasks in {took * 1e3:.1f} ms "
          f"({took / max(len(examples), 1) * 1e3:.2f} ms per task)")
    module = _generated_tasks()
    tasks = [getattr(module, f"t{i}") for i in range(10)]
    took = _identities(tasks)
    print(f"code identity, cold, CPU: 10 generated tasks in {took * 1e3:.1f} ms "
          f"({took / 10 * 1e3:.2f} ms per task)")
    gc.disable()
    prev = None
    for i in range(n):
        prev = tasks[i % 10].bind(prev, seed=i)
    graph = Graph.from_targets(prev)
    gc.enable()
    best = (float("inf"), float("inf"))
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        signed = sign_targets(graph)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
        assert len(signed.keys) == n
        del signed
        gc.collect()
    print(f"sign_targets, {n:,} @task nodes of 10 tasks: wall {best[0]:.3f} s, "
          f"cpu {best[1]:.3f} s ({best[1] / n * 1e6:.2f} us/node)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k/100k graphs, 256 MiB array")
    parser.add_argument("--only-runner", action="store_true", help="only runner.sign")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, numpy {np.__version__}")
    if not args.only_runner:
        bench_graphs(sizes, repeat=3)
    bench_runner_sign(100_000, repeat=3)
    bench_bind(100_000, repeat=3)
    if args.only_runner:
        return
    bench_digest(256 if args.quick else 1024, repeat=3)
    key = keys.digest("x")
    print(f"\nkey size: {len(key.digest)} bytes ({len(key.hex())} hex chars)")
    bench_code_identity(100_000)


if __name__ == "__main__":
    main()
