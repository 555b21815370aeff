"""Which nodes share a Ray task (``cluster.fusion.plan_groups``), without Ray.

What a user would notice if this were wrong: a run that never ends (two groups
waiting on each other), a tiny node held back behind a slow one, or a GPU node
run in a CPU task.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import fusion
from runner.contracts import Upstream
from runner.task import task
from tests.cluster.fusion_jobs import TIMES, make_job, on_gpu, slow, tiny


def _plan(jobs, times=TIMES, fusable=None, cpus=0.25):
    """``cpus=0.25``: one group per ``PER_CPU``, so small graphs group freely."""
    return fusion.plan_groups(jobs, lambda j: times.get(j.task.name),
                              lambda j: repr(sorted(j.task.opts.ray_options().items())),
                              set() if fusable is None else fusable, cpus=cpus)


def _shape(groups):
    return [([j.node_id for j in g.jobs], g.fused) for g in groups]


def test_consecutive_tiny_nodes_share_a_task_and_a_slow_one_runs_alone():
    jobs = [make_job("a", tiny), make_job("b", tiny, ["a"]), make_job("s", slow, ["a"]),
            make_job("c", tiny, ["b"]), make_job("d", tiny)]
    assert _shape(_plan(jobs)) == [(["a", "b"], True), (["s"], False), (["c", "d"], True)]


def test_a_node_below_a_slow_or_unknown_task_is_not_fused():
    """Fused, it would hold its group-mates back until the slow parent finished."""
    jobs = [make_job("s", slow), make_job("u", tiny, ["s"]), make_job("v", tiny, ["u"]),
            make_job("w", tiny)]
    assert _shape(_plan(jobs)) == [(["s"], False), (["u"], False), (["v"], False),
                                   (["w"], True)]
    unknown = [make_job("a", tiny), make_job("b", tiny, ["a"])]
    assert _shape(_plan(unknown, times={})) == [(["a"], False), (["b"], False)]


def test_different_ray_options_or_leases_never_share_a_task():
    jobs = [make_job("a", tiny), make_job("g", on_gpu), make_job("b", tiny)]
    assert _shape(_plan(jobs)) == [(["a"], True), (["g"], True), (["b"], True)]
    one, two = object(), object()
    leased = [make_job("a", tiny, lease=one), make_job("b", tiny, lease=two)]
    assert _shape(_plan(leased)) == [(["a"], True), (["b"], True)]


def test_groups_close_at_the_budget_and_leave_groups_for_every_cpu():
    jobs = [make_job(f"n{i}", tiny) for i in range(400)]
    groups = _plan(jobs, times={"tiny": fusion.BUDGET / 10}, cpus=1.0)
    assert {len(g.jobs) for g in groups} == {10}
    many = _plan(jobs, cpus=2.0)
    assert max(len(g.jobs) for g in many) == fusion.MAX_NODES
    few = _plan(jobs[:40], cpus=2.0)
    assert len(few) >= 2 * fusion.PER_CPU, "40 nodes on 2 CPUs still run in parallel"


def test_fusable_parents_carry_over_between_dispatch_steps():
    fusable: set[str] = set()
    _plan([make_job("a", tiny)], fusable=fusable)
    assert _shape(_plan([make_job("b", tiny, ["a"])], fusable=fusable)) == [(["b"], True)]
    assert _shape(_plan([make_job("c", tiny, ["zz"])], fusable=fusable)) == [(["c"], False)]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 60), st.floats(0.5, 16))
def test_groups_form_a_dag_in_submission_order(seed, n, cpus):
    """Every parent of a node is in an earlier group or earlier in its own group, and
    each node is submitted exactly once: no two groups can wait on each other."""
    rng = random.Random(seed)
    kinds = [tiny, slow, on_gpu]
    jobs = []
    for i in range(n):
        parents = rng.sample(range(i), k=min(i, rng.randrange(4)))
        jobs.append(make_job(f"n{i}", rng.choice(kinds), [f"n{p}" for p in parents]))
    groups = _plan(jobs, cpus=cpus)
    order = [j.node_id for g in groups for j in g.jobs]
    assert order == [j.node_id for j in jobs]
    group_of = {j.node_id: gi for gi, g in enumerate(groups) for j in g.jobs}
    for g in groups:
        assert g.fused or len(g.jobs) == 1
        assert len({j.task.opts.num_gpus for j in g.jobs}) == 1
        for job in g.jobs:
            for v in job.inputs.values():
                if isinstance(v, Upstream):
                    assert group_of[v.node] <= group_of[job.node_id]
                    if g.fused:
                        assert TIMES[next(j for j in jobs if j.node_id == v.node).task.name] \
                            <= fusion.FUSE_BELOW, "a fused node waits only on tiny ones"


def test_a_task_is_known_by_its_module_and_qualified_name():
    """The key of its timings in the store's document: stable across runs and processes,
    distinct for two functions of one name in two places."""
    assert fusion.task_ident(tiny) == "tests.cluster.fusion_jobs.tiny"

    def tiny_here(x: int) -> int:
        return x

    assert fusion.task_ident(task(tiny_here)) == \
        f"{__name__}.test_a_task_is_known_by_its_module_and_qualified_name.<locals>.tiny_here"


def test_the_thresholds_are_inclusive(monkeypatch):
    at_limit = [make_job(f"n{i}", tiny) for i in range(4)]
    groups = _plan(at_limit, times={"tiny": fusion.FUSE_BELOW})
    assert _shape(groups) == [([j.node_id for j in at_limit], True)], "5 ms exactly: tiny"
    monkeypatch.setattr(fusion, "BUDGET", 0.008)
    two = _plan(at_limit, times={"tiny": 0.004})
    assert [len(g.jobs) for g in two] == [2, 2], "a group may fill its budget exactly"
    assert fusion.max_nodes(fusion.PER_CPU * 2 * 3, 2) == 3
    assert fusion.max_nodes(fusion.PER_CPU * 2 * 3 - 1, 2) == 2, "whole nodes, rounded down"
    assert fusion.max_nodes(3, 2) == 1, "too few to share: one a group"
    assert fusion.max_nodes(1000, 0.5) == fusion.MAX_NODES
