"""Benchmark the cluster path: job latency, cross-node cache reads, single-flight.

    .venv/bin/python bench/bench_cluster.py [--jobs 3] [--payload-mb 64] [--trials 3]

1. Job submit -> first task: a real head on loopback (token auth, as in the
   tests); a one-task pipeline is submitted through ``cluster.jobs`` (the
   ``digestflow submit`` path) ``--jobs`` times, each with a fresh literal so
   it executes. The task writes ``time.time()``; the latency is that minus the
   time just before ``submit``. Also submit -> job SUCCEEDED.
2. Cross-node cache hit: ``tests/integration/drivers/multinode.py`` on a
   ``cluster_utils.Cluster`` with a moto S3 store: nodeA writes a float64
   array, a task pinned to nodeB reads it from the store; throughput is bytes
   read over the consuming task's time minus its own compute.
3. Single-flight: ``--trials`` pairs of concurrent drivers on overlapping
   graphs, with and without leases; prints how many shared nodes ran twice.

Everything runs on this machine; nothing it starts outlives it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.raycluster import RayHead, child_env, kill_session  # noqa: E402

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


def single_flight(head: RayHead, trials: int) -> dict[str, list[int]]:
    driver = ROOT / "tests" / "integration" / "drivers" / "overlap.py"
    out: dict[str, list[int]] = {"leases": [], "no-lease": []}
    for _ in range(trials):
        for mode, flags in (("leases", []), ("no-lease", ["--no-lease"])):
            tmp = Path(tempfile.mkdtemp(prefix="dfbench-sf-"))
            env = child_env({**head.auth_env, "DIGESTFLOW_STORE": str(tmp / "store"),
                             "DIGESTFLOW_TEST_RUNLOG": str(tmp / "runlog")})
            procs = [subprocess.Popen([sys.executable, str(driver), who, "--address",
                                       head.gcs_address, "--ctl", str(tmp), "--barrier", "2",
                                       *flags], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
                     for who in "AB"]
            for p in procs:
                p.communicate(timeout=180)
            ran = Counter((tmp / "runlog").read_text().split())
            out[mode].append(sum(c - 1 for c in ran.values() if c > 1))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, default=3)
    p.add_argument("--payload-mb", type=int, default=64)
    p.add_argument("--trials", type=int, default=3)
    args = p.parse_args()
    head = RayHead(num_cpus=2).start()
    try:
        lat = job_latency(head, args.jobs)
        print("job submit -> first task (s):", " ".join(f"{x:.2f}" for x in lat["first_task"]),
              f"median {statistics.median(lat['first_task']):.2f}")
        print("job submit -> SUCCEEDED (s): ", " ".join(f"{x:.2f}" for x in lat["finished"]),
              f"median {statistics.median(lat['finished']):.2f}")
        sf = single_flight(head, args.trials)
        print(f"single-flight, duplicated shared executions per trial: leases {sf['leases']}, "
              f"no leases {sf['no-lease']}")
    finally:
        head.stop()
    cn = cross_node(args.payload_mb)
    print(f"cross-node cache hit (moto S3 on loopback): {cn['bytes'] / 2**20:.0f} MiB in "
          f"{cn['seconds']:.3f} s = {cn['mib_s']:.0f} MiB/s")


if __name__ == "__main__":
    main()
