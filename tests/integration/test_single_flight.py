"""X2/X4 across drivers: two drivers on one cluster and store compute shared work once.

Each driver is its own process (the test session already has a Ray), joined
to the shared test head; tasks append their label to a run log, so the test
counts what really executed, on whichever worker. A driver killed while it
holds leases loses them after the TTL and the survivor computes the work; an
index actor restarted while a driver holds leases does not hand them out.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.raycluster import RayHead, child_env

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).parent / "drivers" / "overlap.py"
N = 4  # shared slow nodes


def _driver(head: RayHead, tmp: Path, who: str, *extra: str,
            env: dict[str, str] | None = None, n: int = N) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(DRIVER), who, "--address", head.gcs_address,
           "--ctl", str(tmp), "--n", str(n), *extra]
    full = child_env({**head.auth_env, "DIGESTFLOW_STORE": str(tmp / "store"),
                      "DIGESTFLOW_TEST_RUNLOG": str(tmp / "runlog.txt"), **(env or {})})
    return subprocess.Popen(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _result(proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _ran(tmp: Path) -> Counter[str]:
    path = tmp / "runlog.txt"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def _expected_total() -> int:
    return sum(i * i for i in range(N))


def test_two_drivers_compute_the_overlap_once(head: RayHead, tmp_path: Path) -> None:
    drivers = {who: _driver(head, tmp_path, who, "--barrier", "2") for who in "AB"}
    results = {who: _result(proc) for who, proc in drivers.items()}
    for who, res in results.items():
        assert res["values"] == [f"{who}:{_expected_total()}", (100 + ord(who)) ** 2]
    ran = _ran(tmp_path)
    assert ran == Counter({**{f"shared{i}": 1 for i in range(N)}, "total": 1,
                           "own-A": 1, "own-B": 1, "finish-A": 1, "finish-B": 1}), ran
    # the shared part was split, not duplicated: together the drivers executed it once
    executed = [n for res in results.values() for n in res["executed"]]
    assert len(executed) == N + 1 + 4


def test_a_crashed_drivers_leases_expire_and_are_taken_over(head: RayHead,
                                                            tmp_path: Path) -> None:
    ttl = {"DIGESTFLOW_LEASE_TTL": "3"}
    (tmp_path / "hang").touch()  # A's shared tasks will not finish
    first = _driver(head, tmp_path, "A", env=ttl)
    deadline = time.monotonic() + 60
    while _ran(tmp_path)["shared0"] == 0:  # A holds the leases and its tasks started
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # a crash: no release, no record
    first.communicate()
    (tmp_path / "hang").unlink()
    started = time.monotonic()
    res = _result(_driver(head, tmp_path, "B", env=ttl))
    assert res["values"] == [f"B:{_expected_total()}", (100 + ord("B")) ** 2]
    assert sum(1 for n in res["executed"] if n.startswith("slow")) >= N  # B took them over
    assert time.monotonic() - started < 60


RESTART = """
import sys, time, ray
from cluster.index import NAMESPACE, index_name
from storage import open_store
ray.init(address=sys.argv[1], log_to_driver=False)
actor = ray.get_actor(index_name(open_store(sys.argv[2]).uri), namespace=NAMESPACE)
ray.kill(actor, no_restart=False)
while True:
    try:
        ray.get(actor.stats.remote(), timeout=5)
        break
    except ray.exceptions.RayError:
        time.sleep(0.2)
"""


def _wait_for(tmp: Path, label: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while _ran(tmp)[label] == 0:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{label} never ran"
        time.sleep(0.05)


def test_an_index_restart_during_a_lease_does_not_hand_the_key_out(head: RayHead,
                                                                  tmp_path: Path) -> None:
    # renewed every 40 s: B claims after the restart and before A re-asserts its leases,
    # so only the index's grace period (60 s after a restart) keeps B from taking them
    ttl = {"DIGESTFLOW_LEASE_TTL": "120"}
    (tmp_path / "hang").touch()
    first = _driver(head, tmp_path, "A", env=ttl, n=1)  # one shared node: a CPU stays free
    _wait_for(tmp_path, "shared0", first)  # A holds the leases and computes
    subprocess.run([sys.executable, "-c", RESTART, head.gcs_address, str(tmp_path / "store")],
                   env=child_env(head.auth_env), check=True, timeout=120, capture_output=True)
    second = _driver(head, tmp_path, "B", env=ttl, n=1)
    _wait_for(tmp_path, "own-B", second)  # B planned and claimed after the restart
    time.sleep(3)
    assert _ran(tmp_path)["shared0"] == 1, "B computed a key A holds"
    (tmp_path / "hang").unlink()
    results = {who: _result(proc) for who, proc in (("A", first), ("B", second))}
    for who, res in results.items():
        assert res["values"] == [f"{who}:0", (100 + ord(who)) ** 2]
    ran = _ran(tmp_path)
    assert ran["shared0"] == 1 and ran["total"] == 1, ran
