"""Head + 3 worker nodes (``ray.cluster_utils.Cluster``) sharing an S3 store (moto).

The scenarios run in ``drivers/multinode.py``, in its own process session
(the test session already has a Ray); whatever it leaves behind is killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.raycluster import child_env, kill_session, session_processes

pytestmark = pytest.mark.slow

HELPER = Path(__file__).parent / "drivers" / "multinode.py"


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    pytest.importorskip("moto.server")
    tmp = tmp_path_factory.mktemp("multinode")
    proc = subprocess.Popen(
        [sys.executable, str(HELPER)], cwd=tmp, start_new_session=True, text=True,
        env=child_env({"DIGESTFLOW_TEST_RUNLOG": str(tmp / "runlog.txt")}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        kill_session(proc.pid)
    assert not session_processes(proc.pid)
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, out[-4000:]
    yield json.loads(lines[-1][len("RESULT "):])


def test_gpu_tasks_land_on_the_gpu_node(findings: dict[str, Any]) -> None:
    assert findings["gpu"]["node"] == findings["nodes"]["B"]
    assert findings["gpu"]["gpu_ids"] == ["0"]


def test_a_node_reads_what_another_node_cached(findings: dict[str, Any]) -> None:
    cross, nodes = findings["cross"], findings["nodes"]
    assert cross["first"] == {"executed": 1}
    assert cross["second"] == {"cached": 1, "executed": 1}  # produce was not run again
    assert cross["ran"] == [["produce", nodes["A"]], ["consume", nodes["B"]]]
    assert cross["value"]["node"] == nodes["B"]
    assert cross["value"]["sum"] == cross["expected_sum"]
    assert cross["bytes_read"] >= 16 * 1024 * 1024  # through the store, not Ray


def test_removing_a_node_mid_run_still_completes(findings: dict[str, Any]) -> None:
    removal = findings["removal"]
    assert removal["killed"] and removal["on_removed_node"] >= 1, removal
    assert removal["ok"] and removal["values_ok"], removal["errors"]
    assert removal["counts"] == {"executed": 6}
    assert removal["attempts"] > 6  # the tasks on the dead node ran again elsewhere
    assert removal["in_store"] == removal["expected"] == 6
    assert removal["issues"] == []  # nothing half-written
