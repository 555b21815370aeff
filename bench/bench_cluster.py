"""Benchmark the cluster path: job latency, cross-node cache reads, single-flight.

    .venv/bin/python bench/bench_cluster.py [--jobs 3] [--payload-mb 64] [--trials 3] [--only single-flight]

1. Job submit -> first task: a real head on loopback (token auth, as in the
   tests); a one-task pipeline is submitted through ``cluster.jobs`` (the
   ``digestflow submit`` path) ``--jobs`` times, each with a fresh literal so
   it executes. The task writes ``time.time()``; the latency is that minus the
   time just before ``submit``. Also submit -> job SUCCEEDED.
2. Cross-node cache hit: ``tests/integration/drivers/multinode.py`` on a
   ``cluster_utils.Cluster`` with a moto S3 store: nodeA writes a float64
   array, a task pinned to nodeB reads it from the store; throughput is bytes
   read over the consuming task's time minus its own compute.
3. Single-flight, for each kind of concurrency: ``--trials`` pairs of
   overlapping graphs (``tests/integration/drivers/overlap.py``: 4 shared
   0.5 s nodes and their total) started together, with and without leases;
   prints how many shared executions were duplicates. Kinds: two drivers on
   one cluster (index leases); two gathered ``run_async`` in one process,
   inline and on an embedded Ray (the process table); two driver processes
   each with its own embedded Ray on one local store (lock files); two
   inline drivers on an S3 store (moto; ``pyarrow.fs`` has no conditional
   put, so nothing can lease there: the probe below shows it).

    --only single-flight    skip 1 and 2

Everything runs on this machine; nothing it starts outlives it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.raycluster import RayHead, child_env, free_port, kill_session  # noqa: E402

PIPELINE = '''
import os, time
from runner import task

@task
def first(salt: str) -> float:
    t = time.time()
    with open(os.environ["BENCH_STAMP"], "w") as f:
        f.write(repr(t))
    return t

TARGETS = first.bind(os.environ["BENCH_SALT"])
'''


def job_latency(head: RayHead, jobs: int) -> dict[str, list[float]]:

    work = Path(tempfile.mkdtemp(prefix="dfbench-"))
    (work / "pipeline.py").write_text(PIPELINE)
    with head.auth_environ():
        return _submit_jobs(head, work, jobs)


def _submit_jobs(head: RayHead, work: Path, jobs: int) -> dict[str, list[float]]:
    from cluster import jobs as cj

    first, done = [], []
    for i in range(jobs):
        stamp = work / f"stamp{i}"
        spec = cj.JobSpec(target="pipeline.py", working_dir=str(work),
                          store=str(work / "store"),
                          env={"BENCH_SALT": f"{time.time()}-{i}", "BENCH_STAMP": str(stamp)})
        t0 = time.time()
        job_id = cj.submit(spec, head.dashboard)
        status = cj.wait(head.dashboard, job_id, timeout=300)
        done.append(time.time() - t0)
        if status != "SUCCEEDED":
            raise SystemExit(f"job {job_id} {status}:\n{cj.client(head.dashboard).get_job_logs(job_id)}")
        first.append(float(stamp.read_text()) - t0)
    return {"first_task": first, "finished": done}


def cross_node(payload_mb: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="dfbench-mn-"))
    helper = ROOT / "tests" / "integration" / "drivers" / "multinode.py"
    proc = subprocess.Popen([sys.executable, str(helper), "--skip-removal",
                             "--payload-mb", str(payload_mb)], cwd=tmp, text=True,
                            env=child_env({"DIGESTFLOW_TEST_RUNLOG": str(tmp / "log")}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=300)
    finally:
        kill_session(proc.pid)
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"multinode helper failed:\n{out[-3000:]}")
    cross = json.loads(line[7:])["cross"]
    seconds = cross["consume_seconds"] - cross["value"]["sum_seconds"]
    return {"bytes": cross["bytes_read"], "seconds": seconds,
            "mib_s": cross["bytes_read"] / seconds / 2**20}


def single_flight(head: RayHead, trials: int, s3_uri: str
                  ) -> dict[str, dict[str, list[int | None]]]:
    """kind -> {"leases": [duplicates per trial], "no-lease": [...]}; None: the drivers
    failed (on a loaded machine, usually Ray timing out at startup)."""
    inline = ["--executor", "inline"]
    kinds: dict[str, tuple[list[list[str]], str | None]] = {
        "gathered run_async, inline": ([["A,B", *inline]], None),
        "two inline drivers, local store (lock files)": ([["A", *inline], ["B", *inline]], None),
        "two inline drivers, S3 store (no lease possible)": (
            [["A", *inline], ["B", *inline]], s3_uri),
        "gathered run_async, embedded Ray": ([["A,B"]], None),
        "two drivers, own embedded Rays, local store (lock files)": ([["A"], ["B"]], None),
        "two drivers, one cluster (index)": ([["A", "--address", head.gcs_address],
                                              ["B", "--address", head.gcs_address]], None),
    }
    out: dict[str, dict[str, list[int | None]]] = {}
    for kind, (drivers, store) in kinds.items():
        out[kind] = {"leases": [], "no-lease": []}
        for trial in range(trials):
            for mode in ("leases", "no-lease"):
                flags = ["--no-lease"] if mode == "no-lease" else []
                sub = _subprefix(store, f"t{trial}-{mode}") if store else None
                out[kind][mode].append(_overlap(head, drivers, flags, sub))
    return out


def _subprefix(uri: str, name: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(parts._replace(path=f"{parts.path}/{name}"))


def _overlap(head: RayHead, drivers: list[list[str]], flags: list[str],
             store: str | None) -> int | None:
    """Run the drivers together; the number of duplicated shared executions."""
    driver = ROOT / "tests" / "integration" / "drivers" / "overlap.py"
    tmp = Path(tempfile.mkdtemp(prefix="dfbench-sf-"))
    env = child_env({**head.auth_env, "DIGESTFLOW_STORE": store or str(tmp / "store"),
                     "DIGESTFLOW_TEST_RUNLOG": str(tmp / "runlog")})
    barrier = ["--barrier", str(len(drivers))]
    procs = [subprocess.Popen([sys.executable, str(driver), *args, "--ctl", str(tmp), *barrier,
                               *flags], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
             for args in drivers]
    failed = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            err = "timed out after 300 s"
        finally:
            kill_session(p.pid)
        if p.returncode != 0:
            failed.append(err.strip().splitlines()[-1:])
    if failed:
        print(f"overlap driver failed: {failed}", file=sys.stderr)
        return None
    ran = Counter((tmp / "runlog").read_text().split())
    return sum(c - 1 for label, c in ran.items() if c > 1)


def conditional_put_probe(s3_uri: str) -> bool:
    """Whether a second pyarrow.fs write with ``If-None-Match: *`` is refused (S3's
    conditional put); False means pyarrow cannot express it."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(s3_uri)
    target = f"{path}/probe/lock"
    for _ in range(2):
        try:
            with fs.open_output_stream(target, metadata={"If-None-Match": "*"}) as f:
                f.write(b"x")
        except OSError:
            return True
    return False


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """An ``s3://`` store URI on a moto server bound to loopback."""
    import boto3
    from moto.server import ThreadedMotoServer

    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket="bench")
        yield (f"s3://testing:testing@bench/sf?endpoint_override=127.0.0.1:{port}"
               "&scheme=http&region=us-east-1")
    finally:
        server.stop()


def print_single_flight(head: RayHead, trials: int) -> None:
    with moto_s3() as s3_uri:
        refused = conditional_put_probe(s3_uri)
        print("pyarrow.fs conditional put (If-None-Match) on S3:",
              "refused the second write" if refused else "second write succeeded: not expressible")
        sf = single_flight(head, trials, s3_uri)
    print("single-flight, duplicated shared executions per trial (4 shared nodes + total):")
    for kind, counts in sf.items():
        print(f"  {kind}: leases {counts['leases']}, no leases {counts['no-lease']}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=3)
    p.add_argument("--payload-mb", type=int, default=64)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--only", choices=["single-flight"])
    args = p.parse_args()
    head = RayHead(num_cpus=2).start()
    try:
        if args.only is None:
            lat = job_latency(head, args.jobs)
            print("job submit -> first task (s):",
                  " ".join(f"{x:.2f}" for x in lat["first_task"]),
                  f"median {statistics.median(lat['first_task']):.2f}")
            print("job submit -> SUCCEEDED (s): ", " ".join(f"{x:.2f}" for x in lat["finished"]),
                  f"median {statistics.median(lat['finished']):.2f}")
        print_single_flight(head, args.trials)
    finally:
        head.stop()
    if args.only is None:
        cn = cross_node(args.payload_mb)
        print(f"cross-node cache hit (moto S3 on loopback): {cn['bytes'] / 2**20:.0f} MiB in "
              f"{cn['seconds']:.3f} s = {cn['mib_s']:.0f} MiB/s")


if __name__ == "__main__":
    main()
