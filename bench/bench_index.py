"""The cache index at scale: the index actor and the Ray-free store index.

1. The actor's state in this process (``cluster.index.IndexActor``, no Ray):
   memory per entry, fill rate, and a 10k-key batch lookup at 1M and 10M keys
   (10M only where the projected memory fits in what the machine has free).
2. The real detached actor on a local Ray: start (create + first answer),
   filling it with 1M manifests through ``record``, its resident memory, and
   the round trip of a 10k-key batch lookup.
3. ``runner.index.StoreIndex`` (no Ray: the store is the index): a 10k-key batch
   lookup against a local store of 100k objects, hits and misses.
4. Rebuild from S3 (moto server on 127.0.0.1): a fresh actor state answering
   lookups for every object of a store of 100k manifests (it refills from
   misses), against listing the whole store. The store is written locally by
   ``store.put`` and loaded into moto's memory byte for byte before it serves
   (moto writes far slower than it reads); moto's write rate is timed apart.

    .venv/bin/python bench/bench_index.py [--quick] [--keys 1000000,10000000]
        [--store-objects 100000] [--s3-manifests 100000] [--s3-writes 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cluster.entries import decode_found  # noqa: E402
from cluster.index import IndexActor  # noqa: E402
from runner.index import StoreIndex  # noqa: E402
from storage import open_store  # noqa: E402

BATCH = 10_000
INLINE = "eyJkaWdlc3RmbG93LXBsYWluIjoxLCJ2YWx1ZSI6MTIzNDV9"  # a stored small int


def manifests(n: int, seed: int) -> Iterator[dict[str, Any]]:
    """Manifest dicts shaped like real ones: half small inlined ints, half arrays."""
    rng = random.Random(seed)
    now = time.time()
    for i in range(n):
        m = {"format": 1, "key": rng.randbytes(32).hex(), "socket": 0,
             "content_digest": rng.randbytes(32).hex(), "created": now + i}
        if i % 2:
            m.update(codec="numpy", nbytes=80128, task="bench.make",
                     summary={"dtype": "float64", "order": "C", "shape": [10000],
                              "type": "numpy.ndarray"})
        else:
            m.update(codec="plain", nbytes=36, task="bench.add", summary={"type": "int"},
                     inline=INLINE)
        yield _unshared(m)


def _unshared(m: dict[str, Any]) -> dict[str, Any]:
    """Fresh string objects, as entries that arrive pickled through Ray have."""
    return {k: (v[:1] + v[1:] if isinstance(v, str) else v) for k, v in m.items()}


def batches(n: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for m in manifests(n, seed):
        batch.append(m)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_in_process(n: int, per_entry: float | None) -> float:
    """Part 1 for ``n`` keys; returns measured bytes per entry (to project the next size)."""
    need = per_entry * n * 1.3 if per_entry else 0
    if need and need > available() * 0.6:
        print(f"[1] {n:>11,} keys: not run: projected {per_entry * n / 2**30:.1f} GiB "
              f"({per_entry:.0f} B/entry) and {available() / 2**30:.1f} GiB is free on this "
              "shared machine")
        return per_entry
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        actor = IndexActor(f"{tmp}/store")  # an empty store: misses are real (and miss)
        gc.collect()
        base, t0, hits = rss(), time.perf_counter(), []
        step = max(1, n // BATCH)
        for batch in batches(n, seed=n):
            actor.record(batch)
            hits.extend((m["key"], 0) for m in batch[::step])
        fill = time.perf_counter() - t0
        per = (rss() - base - sys.getsizeof(hits) - len(hits) * 200) / n
        hits = hits[:BATCH]
        hit = median_time(lambda: actor.lookup(hits), 5)
        answers = actor.lookup(hits)
        assert all(answers)
        wire, before = driver_side(hits, answers)
        misses = [(random.Random(i).randbytes(32).hex(), 0) for i in range(BATCH)]
        miss = median_time(lambda: actor.lookup(misses), 3)
        t0 = time.perf_counter()
        actor.save()
        saved = time.perf_counter() - t0
        actor.entries.clear()  # its memory back before the restarted one fills
        gc.collect()
        t0 = time.perf_counter()
        restarted = IndexActor(f"{tmp}/store")  # answers at once; the load runs behind
        restarted.wait_loaded()
        load = time.perf_counter() - t0
        assert len(restarted.entries) == n
        del restarted
        print(f"[1] {n:>11,} keys in the actor's state (no Ray): {per:.0f} B/entry, "
              f"{per * n / 2**30:.2f} GiB; fill {n / fill:,.0f} records/s (segments saved "
              f"meanwhile; the last {saved:.1f} s); 10k-key lookup: all hits "
              f"{hit * 1e3:.1f} ms, all misses {miss * 1e3:.1f} ms (each miss asks the "
              f"store); the driver's side of a 10k-hit answer (unpickle + manifests): "
              f"{wire * 1e3:.1f} ms (as dicts before: {before * 1e3:.1f} ms); a restarted "
              f"actor loading its segments: {load:.1f} s ({n / load:,.0f} rows/s); projected "
              f"1B keys: {per * 1e9 / 2**40:.2f} TiB")
    return per


def driver_side(refs: list[tuple[str, int]], answers: list[Any]) -> tuple[float, float]:
    """What the driver spends on a lookup answer, now (encoded bytes, decoded into
    manifests) and as it was (manifest dicts through ``Manifest.from_dict``)."""
    import pickle

    from storage import Manifest

    wire = pickle.dumps(answers, protocol=5)
    now = median_time(lambda: decode_found(refs, pickle.loads(wire)), 5)
    dicts = pickle.dumps({ref: m.to_dict() for ref, m in decode_found(refs, answers).items()},
                         protocol=5)
    before = median_time(lambda: {r: Manifest.from_dict(m)
                                  for r, m in pickle.loads(dicts).items()}, 5)
    return now, before


def bench_actor(n: int) -> None:
    import ray

    from cluster.index import NAMESPACE

    class BenchIndex(IndexActor):
        def rss(self) -> int:
            return rss()

    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=512 * 2**20)
    with tempfile.TemporaryDirectory(prefix="bench-index-ray-") as tmp:
        t0 = time.perf_counter()
        actor = ray.remote(BenchIndex).options(
            name="bench-index", namespace=NAMESPACE, num_cpus=0).remote(f"{tmp}/store")
        base = ray.get(actor.rss.remote())
        start = time.perf_counter() - t0
        t0, sample = time.perf_counter(), []
        for batch in batches(n, seed=7):
            ray.get(actor.record.remote(batch))
            if len(sample) < BATCH:
                sample.extend((m["key"], 0) for m in batch[:100])
        fill = time.perf_counter() - t0
        mem = ray.get(actor.rss.remote()) - base
        sample = sample[:BATCH]
        assert all(ray.get(actor.lookup.remote(sample)))
        rtt = median_time(lambda: decode_found(sample, ray.get(actor.lookup.remote(sample))), 9)
        tiny = median_time(lambda: ray.get(actor.stats.remote()), 20)
        print(f"[2] detached-style index actor, {n:,} keys: start {start:.2f} s; fill "
              f"{n / fill:,.0f} records/s in 10k batches; actor RSS +{mem / 2**30:.2f} GiB "
              f"({mem / n:.0f} B/entry); 10k-key lookup round trip, decoded {rtt * 1e3:.1f} ms "
              f"(an empty call: {tiny * 1e3:.2f} ms)")
        ray.kill(actor)
    ray.shutdown()


def fill_store(store: Any, n: int, threads: int) -> list[tuple[str, int]]:
    """``n`` small objects (inlined ints: one manifest each), written ``threads`` at a time."""
    rng = random.Random(n)
    refs = [(rng.randbytes(32).hex(), 0) for _ in range(n)]

    def put(i: int) -> None:
        store.put(refs[i][0], 0, i, task="bench.add")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(n), chunksize=256))
    return refs


def bench_store_index(n: int) -> None:
    import asyncio

    with tempfile.TemporaryDirectory(prefix="bench-index-store-") as tmp:
        store = open_store(f"{tmp}/store")
        t0 = time.perf_counter()
        refs = fill_store(store, n, threads=1)
        write = time.perf_counter() - t0
        index = StoreIndex(store)
        hits = random.Random(0).sample(refs, min(BATCH, n))
        misses = [(random.Random(-i).randbytes(32).hex(), 0) for i in range(BATCH)]
        hit = median_time(lambda: asyncio.run(index.lookup(hits)), 3)
        miss = median_time(lambda: asyncio.run(index.lookup(misses)), 3)
        t0 = time.perf_counter()
        listed = sum(1 for _ in store.iter_manifests())
        scan = time.perf_counter() - t0
        print(f"[3] StoreIndex (no Ray) on a local store of {n:,} objects (written at "
              f"{n / write:,.0f}/s): 10k-key lookup: hits {hit * 1e3:.0f} ms, misses "
              f"{miss * 1e3:.0f} ms; listing + reading every manifest: {scan:.1f} s "
              f"({listed:,} found)")


PRELOAD = """
import os, sys, time
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer
root, prefix, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
backend = s3_backends["123456789012"]["global"]
backend.create_bucket("bench", "us-east-1")
for where, _, names in os.walk(root):
    for name in names:
        path = os.path.join(where, name)
        with open(path, "rb") as f:
            backend.put_object("bench", prefix + "/" + os.path.relpath(path, root), f.read())
ThreadedMotoServer("127.0.0.1", port, verbose=False).start()
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def moto_store(tmp: str, preload: str | None = None) -> tuple[Any, str]:
    """A moto S3 server in its own process on 127.0.0.1 (in-process it would share our GIL).

    ``preload``: a local store directory whose files the server holds, byte for byte
    under the same names, before it answers its first request (moto takes ~15-100
    PUTs/s; reads, which are what is measured, still go through the S3 protocol)."""
    import socket
    import subprocess

    import boto3

    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    prefix = Path(tmp).name
    if preload:
        server = subprocess.Popen([sys.executable, "-c", PRELOAD, preload, prefix, str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    else:
        server = subprocess.Popen(
            [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1",
             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                              region_name="us-east-1", aws_access_key_id="k",
                              aws_secret_access_key="s")
        for _ in range(200):
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:  # not listening yet
                time.sleep(0.1)
    uri = (f"s3://k:s@bench/{prefix}?endpoint_override=127.0.0.1:{port}"
           "&scheme=http&region=us-east-1")
    return server, uri


def s3_write_rate(n: int) -> float:
    """Objects/s that ``store.put`` writes to moto through the S3 protocol, 16 threads."""
    with tempfile.TemporaryDirectory(prefix="bench-index-s3w-") as tmp:
        server, uri = moto_store(tmp)
        try:
            store = open_store(uri)
            t0 = time.perf_counter()
            fill_store(store, n, threads=16)
            return n / (time.perf_counter() - t0)
        finally:
            server.terminate()
            server.wait()


def bench_s3_rebuild(n: int, writes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-index-s3-") as tmp:
        t0 = time.perf_counter()
        refs = fill_store(open_store(f"{tmp}/local"), n, threads=1)
        local = time.perf_counter() - t0
        t0 = time.perf_counter()
        server, uri = moto_store(tmp, preload=f"{tmp}/local")
        load = time.perf_counter() - t0
        try:
            fresh = IndexActor(uri)  # a restarted actor: empty, refills from misses
            t0 = time.perf_counter()
            found = sum(map(bool, (raw for i in range(0, n, BATCH)
                                   for raw in fresh.lookup(refs[i:i + BATCH]))))
            lazy = time.perf_counter() - t0
            t0 = time.perf_counter()
            listed = sum(1 for _ in open_store(uri).iter_manifests())
            scan = time.perf_counter() - t0
            again = median_time(lambda: fresh.lookup(refs[:BATCH]), 3)
            fresh.save()
            t0 = time.perf_counter()
            restarted = IndexActor(uri)  # starts from the segments the refill saved
            restarted.wait_loaded()  # (it answers lookups meanwhile, from the store)
            load = time.perf_counter() - t0
            loaded = len(restarted.entries)
        finally:
            server.terminate()
            server.wait()
    rate = s3_write_rate(writes)
    print(f"[4] S3 (moto on loopback), {n:,} manifests (written by store.put to a local store "
          f"in {local:.0f} s, loaded into moto byte for byte in {load:.0f} s; store.put "
          f"to moto itself: {rate:,.0f}/s with 16 threads, {writes:,} objects): a fresh "
          f"index answering lookups for all of them, 10k at a time: {lazy:.1f} s "
          f"({n / lazy:,.0f}/s, {found:,} found); listing + reading every manifest: "
          f"{scan:.1f} s ({listed:,}); a 10k lookup once refilled: {again * 1e3:.1f} ms; "
          f"a restarted index loading the segments that refill saved: {load:.1f} s "
          f"({loaded:,} entries)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k keys, 10k objects")
    parser.add_argument("--keys", default=None, help="comma-separated sizes for part 1")
    parser.add_argument("--actor-keys", type=int, default=None)
    parser.add_argument("--store-objects", type=int, default=None)
    parser.add_argument("--s3-manifests", type=int, default=None)
    parser.add_argument("--s3-writes", type=int, default=None,
                        help="objects written through S3 to time moto's write rate")
    parser.add_argument("--skip", default="", help="parts to skip, e.g. 2,4")
    args = parser.parse_args()
    q = args.quick
    sizes = [int(s) for s in (args.keys or ("100000" if q else "1000000,10000000")).split(",")]
    skip = {int(s) for s in args.skip.split(",") if s}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, {available() / 2**30:.1f} GiB available")
    if 1 not in skip:
        per = None
        for n in sizes:
            per = bench_in_process(n, per)
            gc.collect()
    if 2 not in skip:
        bench_actor(args.actor_keys or (100_000 if q else 1_000_000))
    if 3 not in skip:
        bench_store_index(args.store_objects or (10_000 if q else 100_000))
    if 4 not in skip:
        bench_s3_rebuild(args.s3_manifests or (10_000 if q else 100_000),
                         args.s3_writes or (500 if q else 2_000))


if __name__ == "__main__":
    main()
