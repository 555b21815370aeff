"""Tiny nodes fused into shared Ray tasks (``cluster.fusion``), on a real local Ray.

Tasks record the Ray task that ran them, so a test sees which nodes shared
one. What a user would notice: the same values, statuses, errors and cache
contents as unfused, every node run exactly once, a failure that stays with
its node, a killed worker retried, a GPU node that still gets its GPU, and
slow or never-timed tasks left alone.
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from runner import run, task
from tests.runner.tasks import gpu_probe, record, traced, traced_pair

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture
def tolerant(monkeypatch):
    """Thresholds a loaded test machine cannot miss: a ~1 ms task measured at 30 ms
    while the suite runs beside it still counts as tiny, and probes get time to report.
    (The policy, not the thresholds, is what these tests check; tests/cluster/
    test_fusion_plan.py checks the thresholds.)"""
    from cluster import fusion

    monkeypatch.setattr(fusion, "FUSE_BELOW", 0.1)
    monkeypatch.setattr(fusion, "BUDGET", 1.0)
    monkeypatch.setattr(fusion, "PROBE_WAIT", 30.0)


def _graph(salt: int, n: int = 30, fail: float = 0.0, seed: int = 3):
    """Targets, and per node: label, parents, whether it fails (node ids in order)."""
    rng = random.Random(seed)
    nodes: list[Any] = []
    spec: dict[str, dict[str, Any]] = {}
    for i in range(n):
        parents = rng.sample(range(i), k=min(i, rng.randrange(3)))
        fails = rng.random() < fail
        label = f"s{salt}n{i}"
        nodes.append(traced.bind(label, *(nodes[p] for p in parents), salt, fail=fails))
        spec[f"traced-{i + 1}"] = {"label": label, "parents": [f"traced-{p + 1}" for p in
                                                                parents], "fail": fails}
    used = {p for s in spec.values() for p in s["parents"]}
    return [nd for i, nd in enumerate(nodes) if f"traced-{i + 1}" not in used], spec


def _expected(spec: dict[str, dict[str, Any]], salt: int) -> tuple[dict[str, str], list[int]]:
    status: dict[str, str] = {}
    value: dict[str, int] = {}
    for nid, s in spec.items():
        if any(status[p] != "executed" for p in s["parents"]):
            status[nid] = "skipped"
        elif s["fail"]:
            status[nid] = "failed"
        else:
            status[nid] = "executed"
            value[nid] = sum(value[p] for p in s["parents"]) + salt + 1
    used = {p for s in spec.values() for p in s["parents"]}
    return status, [value.get(nid) for nid in spec if nid not in used]


def _tasks_of(runlog) -> dict[str, str]:
    """label -> Ray task id, for the labels recorded since the last take."""
    return dict(line.split(" ", 1) for line in runlog.take())


def _warm(store: str, runlog) -> None:
    """A first run times the tasks. It is too small to time them in flight (fewer than
    ``PROBE_AT`` nodes per CPU), so it runs one Ray task per node."""
    targets, spec = _graph(salt=1000, n=10)
    run(targets, store=store)
    ran = _tasks_of(runlog)
    assert len(set(ran.values())) == len(spec), "never timed: one Ray task per node"


def test_a_first_run_times_a_task_on_a_few_nodes_then_fuses_the_rest(store_uri, runlog, tolerant):
    targets, spec = _graph(salt=11, n=80)
    result = run(targets, store=store_uri)
    assert result.values == _expected(spec, 11)[1]
    ran = _tasks_of(runlog)
    assert sorted(ran) == sorted(s["label"] for s in spec.values()), "each node ran once"
    assert len(set(ran.values())) < len(spec) / 2, "after its probes, tiny nodes were fused"
    again = run(_graph(salt=11, n=80)[0], store=store_uri)
    assert again.executed == [] and again.values == result.values


def test_a_slow_task_is_probed_then_run_one_node_per_task(store_uri, runlog):
    nodes = [traced.bind(f"slow{i}", sleep=0.03) for i in range(20)]
    assert run(nodes, store=store_uri).values == [1] * 20
    assert len(set(_tasks_of(runlog).values())) == 20, "30 ms nodes are not fused"


def test_probes_that_report_nothing_in_time_release_the_rest_unfused(store_uri, runlog,
                                                                     monkeypatch):
    from cluster import fusion

    monkeypatch.setattr(fusion, "PROBE_WAIT", 0.05)
    nodes = [traced.bind(f"slow{i}", sleep=0.3) for i in range(16)]
    assert run(nodes, store=store_uri).values == [1] * 16
    assert len(set(_tasks_of(runlog).values())) == 16


def test_tiny_nodes_share_ray_tasks_once_timed_and_give_the_same_results(store_uri, runlog, tolerant):
    _warm(store_uri, runlog)
    targets, spec = _graph(salt=7)
    result = run(targets, store=store_uri)
    status, values = _expected(spec, 7)
    assert result.values == values
    assert {r.id: r.status for r in result.report} == status
    ran = _tasks_of(runlog)
    assert sorted(ran) == sorted(s["label"] for s in spec.values()), "each node ran once"
    assert len(set(ran.values())) < len(spec) / 2, "tiny nodes shared Ray tasks"

    again = run(_graph(salt=7)[0], store=store_uri)
    assert again.executed == [] and runlog.take() == [], "every fused node's output was stored"
    assert again.values == values

    unfused = run(_graph(salt=8)[0], store=store_uri, fuse=False)
    assert unfused.values == _expected(spec, 8)[1]
    assert len(set(_tasks_of(runlog).values())) == len(spec), "fuse=False: a task per node"


@pytest.mark.parametrize("seed", [1, 5])
def test_a_failing_fused_node_fails_alone(store_uri, runlog, tolerant, seed):
    """Its group-mates that do not depend on it run and are cached; below it, nodes are
    skipped; its error names it; the failure is not cached."""
    _warm(store_uri, runlog)
    targets, spec = _graph(salt=3, fail=0.15, seed=seed)
    status, values = _expected(spec, 3)
    assert set(status.values()) == {"executed", "failed", "skipped"}
    result = run(targets, store=store_uri, raise_on_error=False)
    assert {r.id: r.status for r in result.report} == status
    assert result.values == values
    ran = _tasks_of(runlog)
    assert sorted(ran) == sorted(spec[n]["label"] for n, st in status.items() if st != "skipped")
    shared = {t for t in ran.values() if list(ran.values()).count(t) > 1}
    failed = {n for n, st in status.items() if st == "failed"}
    assert any(ran[spec[n]["label"]] in shared for n in failed), \
        "a failing node shared its Ray task with others"
    for nid in failed:
        assert f"traced {spec[nid]['label']} failed on purpose" in result.by_id()[nid].error

    run(targets, store=store_uri, raise_on_error=False)
    assert sorted(_tasks_of(runlog)) == sorted(spec[n]["label"] for n in failed), \
        "a rerun executes only the failures: their group-mates were cached"


@task(max_retries=2)
def crash_once(label: str, x: int, flag: str) -> int:
    """SIGKILLs its own Ray worker the first time it runs where ``flag`` is missing."""
    import ray

    record(f"{label} {ray.get_runtime_context().get_task_id()}")
    if not os.path.exists(flag):
        Path(flag).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 2


@pytest.mark.filterwarnings("ignore:.*path literal")
def test_a_worker_killed_in_a_fused_group_is_retried_and_nothing_is_lost(store_uri, runlog,
                                                                         tmp_path, tolerant):
    flag = str(tmp_path / "flag")
    Path(flag).touch()
    run([crash_once.bind(f"warm{i}", i, flag) for i in range(3)], store=store_uri)
    os.unlink(flag)
    runlog.take()
    result = run([crash_once.bind(f"c{i}", i, flag) for i in range(40)], store=store_uri)
    assert result.values == [i * 2 for i in range(40)] and result.failed == []
    ran = [line.split(" ") for line in runlog.take()]
    assert {label for label, _ in ran} == {f"c{i}" for i in range(40)}
    assert len(ran) >= 41, "the killed group ran again"
    assert len({t for _, t in ran}) < 20, "the nodes ran fused"
    again = run([crash_once.bind(f"c{i}", i, flag) for i in range(40)], store=store_uri)
    assert again.executed == [] and runlog.take() == []


def test_a_fused_gpu_node_still_gets_its_gpu(store_uri, runlog):
    run(gpu_probe.bind("warm", 0), store=store_uri)
    runlog.take()
    result = run([gpu_probe.bind(f"g{i}", i) for i in range(24)], store=store_uri)
    assert result.values == [["0"]] * 24, "each node saw the GPU its task asked for"


def test_slow_tasks_are_not_fused(store_uri, runlog):
    slow = [traced.bind(f"warm{i}", sleep=0.02) for i in range(2)]
    run(slow, store=store_uri)
    runlog.take()
    run([traced.bind(f"slow{i}", sleep=0.02) for i in range(6)], store=store_uri)
    assert len(set(_tasks_of(runlog).values())) == 6, "20 ms tasks run one per Ray task"


def test_fused_nodes_with_two_outputs_hand_each_socket_to_the_right_reader(store_uri, runlog, tolerant):
    """Inside a group and across groups: each reader gets the socket it bound."""
    def graph(salt):
        pairs = [traced_pair.bind(f"p{salt}-{i}", i) for i in range(24)]
        return [traced.bind(f"r{salt}-{i}", pair[0], pairs[-1 - i][1], salt)
                for i, pair in enumerate(pairs)]

    first = run(graph(1), store=store_uri)
    expected = [(i + 1) + (23 - i - 1) + 1 + 1 for i in range(24)]
    assert first.values == expected
    runlog.take()
    again = run(graph(2), store=store_uri)
    assert again.values == [v + 1 for v in expected]
    ran = _tasks_of(runlog)
    assert len(ran) == 48 and len(set(ran.values())) < 24, "the pairs and readers were fused"
    assert run(graph(2), store=store_uri).executed == []
