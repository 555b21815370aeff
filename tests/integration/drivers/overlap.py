"""A driver for the single-flight tests: one of two overlapping graphs.

Both graphs share ``n`` slow ``shared*`` nodes and their ``total``; each adds
its own ``own-WHO`` node (independent of the shared part, so it must not wait
for the other driver) and ``finish-WHO`` (downstream of ``total``). Tasks
append ``label`` to the run log. While the file ``CTL/hang`` exists the shared
tasks do not finish (the crash test kills a driver then).

Without ``--address`` each driver process runs on its own embedded Ray (or
``--executor inline``); with ``--gather A,B`` one process runs several
graphs at once, as gathered ``run_async`` calls.

    python overlap.py WHO --ctl DIR [--address GCS] [--executor ray|inline] [--cache use]
        [--n 4] [--seconds 0.5] [--barrier 2] [--gather] [--no-lease]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import ray

from runner import run_async, task


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


def _disable_leases() -> None:
    """Baseline: no single-flight at all (every lease table grants everything)."""
    from runner.lease import Leases

    init = Leases.__init__

    def no_lease(self: Leases, *args: object, **kw: object) -> None:
        init(self, *args, **kw)  # type: ignore[arg-type]
        self.enabled = False

    Leases.__init__ = no_lease  # type: ignore[method-assign]


def _summary(result: object) -> dict[str, object]:
    return {"values": result.values, "executed": sorted(result.executed),  # type: ignore[attr-defined]
            "cached": sorted(result.cached)}  # type: ignore[attr-defined]


async def _runs(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    names = args.who.split(",")
    graphs = [build(who, args.n, args.seconds, args.ctl) for who in names]
    results = await asyncio.gather(*(run_async(g, executor=args.executor, cache=args.cache)
                                     for g in graphs))
    return {who: _summary(res) for who, res in zip(names, results, strict=True)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("who", help="a name, or several (A,B) to run at once in this process")
    p.add_argument("--address")
    p.add_argument("--executor", default="ray")
    p.add_argument("--cache", default="use")
    p.add_argument("--ctl", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--barrier", type=int, default=0)
    p.add_argument("--no-lease", action="store_true", help="baseline: no single-flight")
    args = p.parse_args()
    if args.no_lease:
        _disable_leases()
    if args.address:
        env = {k: os.environ[k] for k in ("DIGESTFLOW_TEST_RUNLOG", "DIGESTFLOW_STORE")}
        ray.init(address=args.address, runtime_env={"env_vars": env}, log_to_driver=False)
    elif args.executor == "ray":  # start the embedded cluster before the barrier
        from cluster.connect import ensure_ray

        ensure_ray()
    if args.barrier:
        barrier(args.ctl, args.who, args.barrier)
    start = time.time()
    runs = asyncio.run(_runs(args))
    out = runs[args.who] if "," not in args.who else {"runs": runs}
    print(json.dumps({**out, "seconds": time.time() - start}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
