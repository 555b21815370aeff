"""X2 without a shared cluster: runs in one process, drivers sharing only a local store.

Tasks append their label to a run log from whatever process runs them, so
each test counts what really executed. Driver processes are
``drivers/overlap.py`` (two graphs sharing ``N`` slow nodes and their total);
they start together behind a barrier so they truly overlap.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from runner import explain, run_async, task
from tests.raycluster import child_env

DRIVER = Path(__file__).parent / "drivers" / "overlap.py"
N = 3
TOTAL = sum(i * i for i in range(N))


def _record(label: str) -> None:
    with open(os.environ["DIGESTFLOW_TEST_RUNLOG"], "a") as f:
        f.write(label + "\n")


@task
async def nap(label: str, x: int, seconds: float) -> int:
    _record(label)
    await asyncio.sleep(seconds)
    return x * x


@task
def add(label: str, *xs: int) -> int:
    _record(label)
    return sum(xs)


def _graph(who: str) -> list[object]:
    shared = [nap.bind(f"shared{i}", i, 0.3) for i in range(N)]
    return [add.bind(f"finish-{who}", add.bind("total", *shared), 1000 * ord(who)),
            nap.bind(f"own-{who}", ord(who), 0.0)]


def test_gathered_inline_runs_compute_the_overlap_once(store_uri: str, runlog) -> None:
    async def both() -> list[object]:
        return await asyncio.gather(*(run_async(_graph(w), store=store_uri, executor="inline")
                                      for w in "AB"))

    first, second = asyncio.run(both())
    assert first.values == [TOTAL + 1000 * ord("A"), ord("A") ** 2]
    assert second.values == [TOTAL + 1000 * ord("B"), ord("B") ** 2]
    assert Counter(runlog.labels()) == Counter(
        {**{f"shared{i}": 1 for i in range(N)}, "total": 1, "finish-A": 1, "finish-B": 1,
         "own-A": 1, "own-B": 1})
    waited = [r for res in (first, second) for r in res.report if r.waited_for]
    assert {r.task for r in waited} == {"nap", "add"}  # the shared naps and their total
    assert all(r.status == "cached" and "in this process" in r.waited_for for r in waited)
    late = first if first.by_id()[waited[0].id].waited_for else second
    assert "computed meanwhile by another run" in late.summary()
    assert "while this run waited" in explain(late).by_id()[waited[0].id].reason


# -- driver processes --------------------------------------------------------------------


def _driver(tmp: Path, who: str, *extra: str, env: dict[str, str] | None = None
            ) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(DRIVER), who, "--ctl", str(tmp), "--n", str(N), *extra]
    full = child_env({"DIGESTFLOW_STORE": str(tmp / "store"),
                      "DIGESTFLOW_TEST_RUNLOG": str(tmp / "runlog.txt"), **(env or {})})
    return subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _result(proc: subprocess.Popen[str], timeout: float = 240) -> dict:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _ran(tmp: Path) -> Counter[str]:
    path = tmp / "runlog.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def _values(who: str) -> list[object]:
    return [f"{who}:{TOTAL}", (100 + ord(who)) ** 2]


ONCE = Counter({**{f"shared{i}": 1 for i in range(N)}, "total": 1,
                "own-A": 1, "own-B": 1, "finish-A": 1, "finish-B": 1})


@pytest.mark.slow
def test_gathered_runs_on_an_embedded_ray_compute_the_overlap_once(tmp_path: Path) -> None:
    res = _result(_driver(tmp_path, "A,B"))  # one process, its own embedded Ray
    assert {who: r["values"] for who, r in res["runs"].items()} == {w: _values(w) for w in "AB"}
    assert _ran(tmp_path) == ONCE


@pytest.mark.slow
def test_two_drivers_with_their_own_embedded_rays_share_one_store(tmp_path: Path) -> None:
    drivers = {who: _driver(tmp_path, who, "--barrier", "2") for who in "AB"}
    results = {who: _result(proc) for who, proc in drivers.items()}
    assert {who: r["values"] for who, r in results.items()} == {w: _values(w) for w in "AB"}
    assert _ran(tmp_path) == ONCE
    assert not list((tmp_path / "store" / "locks").glob("*.lock"))  # all given back


@pytest.mark.slow
def test_a_sigkilled_lock_holder_is_taken_over_after_the_ttl(tmp_path: Path) -> None:
    ttl = {"DIGESTFLOW_LEASE_TTL": "3"}
    inline = ("--executor", "inline")
    (tmp_path / "hang").touch()  # shared tasks do not finish while it exists
    first = _driver(tmp_path, "A", *inline, env=ttl)
    _wait_for(tmp_path, "shared0", first)  # A holds the locks and computes
    second = _driver(tmp_path, "B", *inline, env=ttl)
    _wait_for(tmp_path, "own-B", second)  # B is past its claim: its own node ran
    time.sleep(4.0)  # > 1 TTL: A's locks hold because A renews them
    assert _ran(tmp_path)["shared0"] == 1, "B computed a node A holds"
    os.killpg(first.pid, signal.SIGKILL)  # a crash: no release, no record
    first.communicate()
    (tmp_path / "hang").unlink()
    res = _result(second)  # B takes A's locks over once they expire
    assert res["values"] == _values("B")
    ran = _ran(tmp_path)
    assert ran["shared0"] == 2 and ran["total"] == 1 and ran["finish-B"] == 1


def _wait_for(tmp: Path, label: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while _ran(tmp)[label] == 0:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{label} never ran"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_refreshing_drivers_recompute_each_shared_node_once(tmp_path: Path) -> None:
    inline = ("--executor", "inline")
    assert _result(_driver(tmp_path, "A", *inline))["values"] == _values("A")  # fill the cache
    (tmp_path / "runlog.txt").write_text("")
    drivers = {who: _driver(tmp_path, who, *inline, "--barrier", "2", "--cache", "refresh")
               for who in "AB"}
    results = {who: _result(proc) for who, proc in drivers.items()}
    assert {who: r["values"] for who, r in results.items()} == {w: _values(w) for w in "AB"}
    assert _ran(tmp_path) == ONCE  # recomputed, but by one of them only
