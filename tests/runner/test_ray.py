"""Ray-specific behaviour on the session's local cluster (fake GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner import Graph, run, sign, task
from storage import open_store
from tests.corrupt import flip_stored_byte
from tests.runner.tasks import asource, combine, gpu_probe, record, source, split

pytestmark = pytest.mark.usefixtures("ray_session")
ROOT = Path(__file__).resolve().parents[2]


def chain(step_task=combine):
    a = source.bind("a", 1)
    b = step_task.bind("b", a)
    return combine.bind("c", b)


def test_version_change_reruns_task_and_descendants(store_uri, runlog):
    run(chain(), store=store_uri)
    runlog.take()
    v2 = combine.options(version="2")
    result = run(chain(v2), store=store_uri)
    assert runlog.take() == ["b"], "b's output is unchanged: early cutoff reuses c"
    assert result.values == 1 and result.status("combine-2") == "reused"
    run(chain(), store=store_uri)
    assert runlog.take() == [], "reverting the version is served from the cache"
    run(chain(combine.options(version="3")), store=store_uri, cutoff=False)
    assert runlog.take() == ["b", "c"], "without cutoff, every descendant re-runs"


def _define(body: str):
    namespace: dict = {"task": task, "record": record}
    exec(textwrap.dedent(body), namespace)  # a task with no source file, like a notebook cell
    return namespace["step"]


def test_source_change_reruns_task_and_descendants(store_uri, runlog):
    v1 = _define("""
        @task
        def step(label, x):
            record(label)
            return x + 1
    """)
    v2 = _define("""
        @task
        def step(label, x):
            record(label)
            return x + 100
    """)
    assert run(chain(v1), store=store_uri).values == 2
    runlog.take()
    assert run(chain(v1), store=store_uri).values == 2
    assert runlog.take() == []
    assert run(chain(v2), store=store_uri).values == 101
    assert runlog.take() == ["b", "c"]


def test_gpu_task_gets_a_gpu_slot(store_uri, runlog):
    result = run(gpu_probe.bind("gpu", 1), store=store_uri)
    assert result.values == ["0"], "Ray assigned the (fake) GPU to the task"


def test_async_task(store_uri, runlog):
    assert run(asource.bind("async", 4), store=store_uri).values == 40
    assert runlog.take() == ["async"]


def test_vanished_cached_input_is_recomputed(store_uri, runlog):
    run(combine.bind("top", source.bind("leaf", 5)), store=store_uri)
    runlog.take()
    leaf_key = sign(source.bind("leaf", 5))["source-1"].hex()
    open_store(store_uri).delete(leaf_key)
    result = run(combine.bind("top", source.bind("leaf", 5), k=1), store=store_uri)
    assert result.values == 6
    assert runlog.take() == ["leaf", "top"]


def test_corrupt_cached_target_is_recomputed(store_uri, runlog):
    node = source.bind("corrupt-me", 7)
    run(node, store=store_uri)
    runlog.take()
    flip_stored_byte(store_uri, sign(node)["source-1"].hex())
    assert run(node, store=store_uri).values == 7
    assert runlog.take() == ["corrupt-me"]


REGISTRY = {"Source": source, "Combine": combine, "Split": split}
PROMPT = {
    "4": {"class_type": "Source", "inputs": {"label": "p4", "value": 3}},
    "5": {"class_type": "Split", "inputs": {"label": "p5", "x": ["4", 0]}},
    "3": {"class_type": "Combine", "inputs": {"label": "p3", "parts[0]": ["5", 1],
                                              "parts[1]": ["4", 0], "k": 10}},
}


def test_comfyui_prompt_runs_and_round_trips(store_uri, runlog):
    graph = Graph.from_prompt(json.loads(json.dumps(PROMPT)), REGISTRY)
    result = run(graph.select("3"), store=store_uri)
    assert result.values == (3 - 1) + 3 + 10
    assert runlog.take() == ["p3", "p4", "p5"]
    again = Graph.from_dict(json.loads(json.dumps(graph.to_dict())), REGISTRY)
    assert sign(again.select("3")) == sign(graph.select("3"))
    assert run(again, store=store_uri).values == {"3": 15}
    assert runlog.take() == []


def test_second_driver_process_gets_all_hits(store_uri, runlog, ray_session):
    script = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[2])
        from runner import run
        from tests.runner.test_ray import chain
        result = run(chain(), store=sys.argv[1])
        print("EXECUTED", result.executed, "VALUE", result.values)
    """)
    run(chain(), store=store_uri)
    runlog.take()
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    proc = subprocess.run([sys.executable, "-c", script, store_uri, str(ROOT)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "EXECUTED [] VALUE 1" in proc.stdout
    assert runlog.take() == []


def test_index_rebuilds_from_the_store_after_a_restart(store_uri, runlog):
    import ray

    from cluster.index import NAMESPACE, index_name

    run(chain(), store=store_uri)
    runlog.take()
    ray.kill(ray.get_actor(index_name(store_uri), namespace=NAMESPACE))
    result = run(chain(), store=store_uri)
    assert result.executed == [] and result.values == 1
    assert runlog.take() == [], "a fresh index actor answered from the store"
