"""Multi-node scenarios on ``ray.cluster_utils.Cluster`` with an S3 store (moto).

Run in its own process (the test session already has a Ray): starts an S3
server on loopback, a head and three worker nodes -- ``nodeA`` (CPU), ``nodeB``
(one GPU), ``nodeC`` (spare CPUs, removed mid-run) -- with health checks tuned
to notice a dead node in about 2 s, then prints one JSON line of findings:

- ``gpu``: the node a ``num_gpus=1`` task ran on, and the GPU node's id;
- ``cross``: a task pinned to nodeB reads an output nodeA wrote (cached);
- ``removal``: nodeC is removed while running tasks; the run still completes,
  every output is in the store, and ``verify_all`` finds nothing half-written.

    python multinode.py [--skip-removal] [--payload-mb 16]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

HEALTH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
          "health_check_timeout_ms": 1000, "health_check_failure_threshold": 4}
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_s3() -> tuple[Any, str]:
    import boto3
    from moto.server import ThreadedMotoServer

    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).create_bucket(Bucket="digestflow")
    return server, (f"s3://testing:testing@digestflow/store?endpoint_override=127.0.0.1:{port}"
                    "&scheme=http&region=us-east-1")


def start_cluster() -> tuple[Any, dict[str, Any]]:
    from ray.cluster_utils import Cluster

    store_mem = 100 * MB
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "num_gpus": 0, "object_store_memory": store_mem,
        "include_dashboard": False, "_system_config": HEALTH})
    nodes = {
        "A": cluster.add_node(num_cpus=1, resources={"nodeA": 1},
                              object_store_memory=store_mem),
        "B": cluster.add_node(num_cpus=1, num_gpus=1, resources={"nodeB": 1},
                              object_store_memory=store_mem),
        "C": cluster.add_node(num_cpus=2, object_store_memory=store_mem),
    }
    cluster.wait_for_nodes()
    cluster.connect()
    return cluster, nodes


def log(label: str) -> None:
    import ray

    with open(os.environ["DIGESTFLOW_TEST_RUNLOG"], "a") as f:
        f.write(f"{label} {ray.get_runtime_context().get_node_id()}\n")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--skip-removal", action="store_true")
    p.add_argument("--payload-mb", type=int, default=16)
    args = p.parse_args()
    server, uri = start_s3()
    os.environ["DIGESTFLOW_STORE"] = uri  # inherited by every raylet and worker
    os.environ.setdefault("DIGESTFLOW_SECRET", "multinode-secret-0123456789abcdef")
    cluster, nodes = start_cluster()
    ids = {name: node.node_id for name, node in nodes.items()}
    out: dict[str, Any] = {"nodes": ids}
    try:
        out["gpu"] = gpu_placement()
        out["cross"] = cross_node_read(args.payload_mb)
        if not args.skip_removal:
            out["removal"] = removal(cluster, nodes["C"], ids["C"])
    finally:
        import ray

        ray.shutdown()  # Cluster refuses to remove the head this driver is connected to
        cluster.shutdown()
        server.stop()
    print("RESULT " + json.dumps(out), flush=True)


def gpu_placement() -> dict[str, Any]:
    import ray

    from runner import run, task

    @task(num_gpus=1)
    def on_gpu(x: int) -> list[str]:
        return [ray.get_runtime_context().get_node_id(), *map(str, ray.get_gpu_ids())]

    node, *gpus = run([on_gpu.bind(i) for i in range(2)]).values[0]
    return {"node": node, "gpu_ids": gpus}


def cross_node_read(payload_mb: int) -> dict[str, Any]:
    import numpy as np

    from runner import run, task

    @task(resources={"nodeA": 1})
    def produce(n: int) -> Any:
        log("produce")
        return np.arange(n, dtype=np.float64)

    @task(resources={"nodeB": 1})
    def consume(a: Any) -> dict[str, Any]:
        import ray

        log("consume")
        start = time.perf_counter()
        total = float(a.sum())
        return {"node": ray.get_runtime_context().get_node_id(), "sum": total,
                "n": int(a.size), "sum_seconds": time.perf_counter() - start}

    n = payload_mb * MB // 8
    first = run(produce.bind(n))
    second = run(consume.bind(produce.bind(n)))
    report = second.by_id()
    read = sum(r.bytes_read for r in report.values())
    seconds = sum(r.seconds for r in report.values() if r.status == "executed")
    return {"first": first.counts(), "second": second.counts(), "value": second.values,
            "expected_sum": float(n * (n - 1) / 2), "bytes_read": read,
            "consume_seconds": seconds, "ran": ran_labels()}


def removal(cluster: Any, node: Any, node_id: str) -> dict[str, Any]:
    from runner import run, task
    from storage import open_store

    @task
    def work(i: int, seconds: float) -> list[int]:
        log(f"work{i}")
        time.sleep(seconds)
        return list(range(i * 1000))

    targets = [work.bind(i, 3.0) for i in range(6)]
    hit = threading.Event()

    def kill_when_busy() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not any(
                n == node_id for _, n in ran_labels(clear=False)):
            time.sleep(0.05)
        hit.set()
        cluster.remove_node(node, allow_graceful=False)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    started = time.time()
    result = run(targets, raise_on_error=False)
    killer.join(timeout=60)
    store = open_store()
    refs = [(r.key, 0) for r in result.report]
    present = store.contains_many(refs)
    runs = ran_labels()
    return {"counts": result.counts(), "ok": result.ok, "seconds": time.time() - started,
            "values_ok": result.values == [list(range(i * 1000)) for i in range(6)],
            "on_removed_node": sum(1 for _, n in runs if n == node_id),
            "attempts": len(runs), "in_store": len(present), "expected": len(refs),
            "issues": [str(i) for i in store.verify_all()],
            "errors": [r.error for r in result.report if r.error], "killed": hit.is_set()}


def ran_labels(clear: bool = True) -> list[tuple[str, str]]:
    path = Path(os.environ["DIGESTFLOW_TEST_RUNLOG"])
    lines = path.read_text().splitlines() if path.exists() else []
    if clear:
        path.write_text("")
    return [tuple(line.split()) for line in lines]  # type: ignore[misc]


if __name__ == "__main__":
    sys.exit(main())
