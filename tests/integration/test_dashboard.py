"""What a user sees of a run on a real cluster: each Ray task named after its node,
and the store's detached index actor, which ``digestflow index`` shows and stops."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.raycluster import VENV_BIN, RayHead, child_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "from tests.observability.pipeline import build\nTARGETS = build()\n"
NODES = {"load-1": "load", "load-2": "load", "scale-1": "scale", "scale-2": "scale",
         "clip-1": "clip", "clip-2": "clip", "total-1": "total"}


def _cli(head: RayHead, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env({**head.auth_env, "PYTHONPATH": str(REPO)})
    return subprocess.run([str(VENV_BIN / "digestflow"), *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=180)


LIST_TASKS = """
import json, sys
from ray.util.state import list_tasks
tasks = list_tasks(address=sys.argv[1], limit=10_000, raise_on_missing_output=False)
print(json.dumps([t.name for t in tasks]))
"""


def _task_names(head: RayHead) -> list[str]:
    """Task names from Ray's state API, asked by a client with the head's token (a
    process reads its auth mode once, so this one cannot switch to the head's)."""
    import sys

    out = subprocess.run([sys.executable, "-c", LIST_TASKS, head.gcs_address],
                         env=child_env(head.auth_env), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_tasks_are_named_by_node_and_the_index_can_be_stopped(head: RayHead,
                                                              tmp_path: Path) -> None:
    pipeline = tmp_path / "pipe.py"
    pipeline.write_text(PIPELINE)
    store = str(tmp_path / "store")
    out = _cli(head, "run", str(pipeline), "--address", head.gcs_address, "--store", store,
               "--json")
    assert out.returncode == 0, out.stderr[-3000:]
    assert {n["status"] for n in json.loads(out.stdout)["nodes"]} == {"executed"}

    names = set(_task_names(head))
    assert {f"{nid} ({task})" for nid, task in NODES.items()} <= names, sorted(names)

    shown = _cli(head, "index", "--address", head.gcs_address, "--store", store, "--json")
    assert shown.returncode == 0, shown.stderr[-3000:]
    index = json.loads(shown.stdout)["index"]
    assert index["alive"] and index["stats"]["entries"] == len(NODES)
    stopped = _cli(head, "index", "--address", head.gcs_address, "--store", store, "--stop")
    assert "stopped" in stopped.stdout, stopped.stderr[-3000:]
    gone = _cli(head, "index", "--address", head.gcs_address, "--store", store)
    assert "no index actor for" in gone.stdout, gone.stderr[-3000:]
