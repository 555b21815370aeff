"""A driver for the single-flight tests: one of two overlapping graphs.

Both graphs share ``n`` slow ``shared*`` nodes and their ``total``; each adds
its own ``own-WHO`` node (independent of the shared part, so it must not wait
for the other driver) and ``finish-WHO`` (downstream of ``total``). Tasks
append ``label`` to the run log. While the file ``CTL/hang`` exists the shared
tasks do not finish (the crash test kills a driver then).

    python overlap.py WHO --address GCS --ctl DIR [--n 4] [--seconds 0.5] [--barrier 2] [--no-lease]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import ray

from runner import run, task


def _log(label: str) -> None:
    with open(os.environ["DIGESTFLOW_TEST_RUNLOG"], "a") as f:
        f.write(label + "\n")


@task
def slow(label: str, x: int, seconds: float, ctl: str) -> int:
    _log(label)
    deadline = time.time() + 60
    while os.path.exists(os.path.join(ctl, "hang")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)
    return x * x


@task
def total(label: str, *xs: int) -> int:
    _log(label)
    return sum(xs)


@task
def finish(label: str, t: int, who: str) -> str:
    _log(label)
    return f"{who}:{t}"


def build(who: str, n: int, seconds: float, ctl: str) -> list[object]:
    shared = [slow.bind(f"shared{i}", i, seconds, ctl) for i in range(n)]
    own = slow.bind(f"own-{who}", 100 + ord(who[0]), seconds, "")
    return [finish.bind(f"finish-{who}", total.bind("total", *shared), who), own]


def barrier(ctl: str, who: str, parties: int) -> None:
    """Start the run only when every driver is connected, so they truly overlap."""
    Path(ctl, f"ready-{who}").touch()
    deadline = time.time() + 120
    while len(list(Path(ctl).glob("ready-*"))) < parties and time.time() < deadline:
        time.sleep(0.02)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("who")
    p.add_argument("--address", required=True)
    p.add_argument("--ctl", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--barrier", type=int, default=0)
    p.add_argument("--no-lease", action="store_true", help="baseline: no single-flight")
    args = p.parse_args()
    if args.no_lease:
        from runner.lease import Leases

        run_module = sys.modules["runner.run"]  # (runner.run is also the function)
        run_module.Leases = lambda index, **kw: Leases(index, enabled=False)
    env = {k: os.environ[k] for k in ("DIGESTFLOW_TEST_RUNLOG", "DIGESTFLOW_STORE")}
    ray.init(address=args.address, runtime_env={"env_vars": env}, log_to_driver=False)
    targets = build(args.who, args.n, args.seconds, args.ctl)
    if args.barrier:
        barrier(args.ctl, args.who, args.barrier)
    start = time.time()
    result = run(targets)
    print(json.dumps({"values": result.values, "executed": sorted(result.executed),
                      "cached": sorted(result.cached), "seconds": time.time() - start}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
