"""Scheduling as a run does it: random graphs with failing nodes, on both executors.

Whatever the scheduler core looks like inside, a run must execute every node
whose ancestors all succeeded (once), report a failing node as failed, skip
exactly the nodes below a failure, and cache the successes but never a failure.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from runner import run, sign
from tests.runner.tasks import combine, evict, source, step


def random_graph(seed: int, n: int = 14) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """Targets (the sinks) and, per node id, its label, parents and whether it fails."""
    rng = random.Random(seed)
    nodes: list[Any] = []
    spec: dict[str, dict[str, Any]] = {}
    for i in range(n):
        parents = rng.sample(range(i), k=min(i, rng.randrange(4)))
        fail = rng.random() < 0.2
        nodes.append(step.bind(f"n{i}", *(nodes[p] for p in parents), fail=fail))
        spec[f"step-{i + 1}"] = {
            "label": f"n{i}", "parents": [f"step-{p + 1}" for p in parents], "fail": fail,
        }
    used = {p for s in spec.values() for p in s["parents"]}
    targets = [node for i, node in enumerate(nodes) if f"step-{i + 1}" not in used]
    return targets, spec


def expected(spec: dict[str, dict[str, Any]]) -> tuple[dict[str, str], dict[str, int | None]]:
    """Status and value of every node (node ids are in topological order)."""
    status: dict[str, str] = {}
    value: dict[str, int | None] = {}
    for nid, s in spec.items():
        if any(status[p] != "executed" for p in s["parents"]):
            status[nid], value[nid] = "skipped", None
        elif s["fail"]:
            status[nid], value[nid] = "failed", None
        else:
            status[nid] = "executed"
            value[nid] = sum(value[p] or 0 for p in s["parents"]) + 1
    return status, value


SEEDS = (1, 4, 7)


def test_the_seeds_cover_every_outcome() -> None:
    seen = set()
    for seed in SEEDS:
        seen |= set(expected(random_graph(seed)[1])[0].values())
    assert seen == {"executed", "failed", "skipped"}


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graph_with_failures(executor, store_uri, runlog, seed: int) -> None:
    targets, spec = random_graph(seed)
    status, value = expected(spec)
    result = run(targets, store=store_uri, executor=executor, raise_on_error=False)
    got = {r.id: r.status for r in result.report}
    assert got == status, "a node ran, failed or was skipped against its ancestors' outcomes"
    ran = sorted(spec[nid]["label"] for nid, st in status.items() if st != "skipped")
    assert runlog.take() == ran, "each node whose ancestors succeeded ran exactly once"
    target_ids = [nid for nid in spec if nid not in {p for s in spec.values()
                                                      for p in s["parents"]}]
    assert result.values == [value[nid] for nid in target_ids]
    failed = {nid for nid, st in status.items() if st == "failed"}
    for nid in failed:
        assert f"step {spec[nid]['label']} failed on purpose" in result.by_id()[nid].error

    again = run(targets, store=store_uri, executor=executor, raise_on_error=False)
    assert runlog.take() == sorted(spec[nid]["label"] for nid in failed), (
        "a rerun executes only the failures: successes were cached, failures never"
    )
    rerun_status = {nid: ("cached" if st == "executed" else st) for nid, st in status.items()}
    assert {r.id: r.status for r in again.report} == rerun_status


def test_failed_branch_stays_skipped_when_the_run_replans(executor, store_uri, runlog):
    """An object evicted mid-run makes the run plan again; the second round must not plan
    the failed node's grandchild, reading its skipped child as if it were cached."""
    run(source.bind("x", 7), store=store_uri, executor=executor)
    x_key = sign(source.bind("x", 7))["source-1"].hex()
    runlog.take()

    bad = step.bind("bad", fail=True)
    grandchild = step.bind("grandchild", step.bind("child", bad))
    consumer = combine.bind("consumer", source.bind("x", 7), evict.bind("evict", store_uri, x_key))
    result = run([grandchild, consumer], store=store_uri, executor=executor,
                 raise_on_error=False)
    assert runlog.take() == ["bad", "consumer", "evict", "x"], "x recomputed, nothing below bad"
    assert result.values == [None, 7]
    assert {r.id: r.status for r in result.report} == {
        "step-1": "failed", "step-2": "skipped", "step-3": "skipped",
        "source-1": "executed", "evict-1": "executed", "combine-1": "executed",
    }
