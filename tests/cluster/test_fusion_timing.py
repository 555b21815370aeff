"""How a run times its tasks (``cluster.fusion``: ``Estimates``, ``Prober``,
``RunFusion``), without Ray: outcome futures and the store are stand-ins.

What a user would notice if this were wrong: a first run that never fuses, or
one that holds nodes back forever; quick tasks with huge outputs fused into
one worker; a damaged timings document, a read-only store or a run that
stored nothing turned into wrong decisions.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster import fusion
from runner.contracts import Upstream
from tests.cluster.fusion_jobs import future, make_job, on_gpu, saved, slow, store_with, tiny


@pytest.mark.parametrize("doc", [None, [], {"tasks": []}, {"tasks": {
    "a": "x", "b": [-1, 0], "c": [float("nan"), 0], "d": 0.001, "e": [0.001], "f": [0, "1"]}}])
def test_missing_or_damaged_estimates_fuse_nothing(doc):
    assert fusion.Estimates.load(store_with(doc)).timings == {}


def test_estimates_average_with_the_last_run_and_a_failed_save_is_harmless():
    ident = fusion.task_ident(tiny)
    est = fusion.Estimates.load(store_with({"tasks": {ident: [0.004, 100], "gone.task": [1, 0]}}))
    assert est.get(tiny) == (0.004, 100)
    docs = store_with()
    est.save(docs, {ident: (0.002, 300)})
    assert saved(docs) == ("stats", "tasks", {"tasks": {"gone.task": [1.0, 0.0],
                                                        ident: [0.003, 200.0]}})
    est.save(store_with(unwritable=True), {ident: (0.002, 0)})  # logged, not raised
    nothing = store_with()
    est.save(nothing, {})
    assert saved(nothing) is None, "a run that executed nothing writes nothing"


def test_tasks_with_large_or_unstored_outputs_are_never_fused_nor_probed():
    """A group holds every member's outputs until it ends: 32 fast nodes of 1 GiB each
    would be 32 GiB in one worker."""
    big = fusion.RunFusion(store_with({"tasks": {fusion.task_ident(tiny): [0.0001, 2 << 20]}}))
    jobs = [make_job(f"t{i}", tiny) for i in range(40)]
    assert big.hold(jobs, idle=True, cpus=1, heard=None, now=0.0) == (jobs, [])
    assert not any(g.fused for g in big.plan(jobs, lambda j: "cpu", 1))
    unstored = fusion.RunFusion(store_with({"tasks": {fusion.task_ident(tiny): [0.0001, 10]}}))
    jobs = [make_job(f"t{i}", tiny.options(cache=False)) for i in range(40)]
    assert unstored.hold(jobs, idle=True, cpus=1, heard=None, now=0.0) == (jobs, [])
    assert not any(g.fused for g in unstored.plan(jobs, lambda j: "cpu", 1))


def _split(prober, jobs, timed=(), now=0.0):
    submit, held = prober.split(jobs, lambda j: j.task.name in timed, now)
    return [j.node_id for j in submit], [j.node_id for j in held]


def test_a_new_task_with_many_nodes_sends_a_few_probes_and_holds_the_rest_and_below():
    prober = fusion.Prober(cpus=2)
    n = int(fusion.PROBE_AT * 2)
    jobs = [make_job(f"t{i}", tiny) for i in range(n)] + [make_job("below", slow, ["t9"]),
                                                      make_job("free", slow, ["t0"])]
    submit, held = _split(prober, jobs, timed={"slow"})
    probes = [f"t{i}" for i in range(int(fusion.PROBES * 2))]
    assert submit == [*probes, "free"], "a timed node below a probe goes at once"
    assert held == [f"t{i}" for i in range(len(probes), n)] + ["below"]
    assert prober.probes == set(probes)
    again, still = _split(prober, [j for j in jobs if j.node_id in held], timed={"slow"})
    assert again == [] and still == held, "no more probes while the first are out"
    prober.settle(fusion.task_ident(tiny))
    released, none = _split(prober, [j for j in jobs if j.node_id in held], timed={"slow"})
    assert released == held and none == []


def test_few_nodes_or_timed_tasks_are_never_held():
    prober = fusion.Prober(cpus=2)
    few = [make_job(f"t{i}", tiny) for i in range(int(fusion.PROBE_AT * 2) - 1)]
    assert _split(prober, few) == ([j.node_id for j in few], [])
    many = [make_job(f"t{i}", tiny) for i in range(100)]
    assert _split(prober, many, timed={"tiny"}) == ([j.node_id for j in many], [])
    assert not prober.probes


def test_probes_wait_from_the_first_report_and_at_most_the_cap():
    prober = fusion.Prober(cpus=1)
    prober.split([make_job(f"t{i}", tiny) for i in range(50)], lambda j: False, 100.0)
    ident = fusion.task_ident(tiny)
    assert prober.overdue(100.0 + fusion.PROBE_CAP - 1, None) == [], \
        "workers still starting: no report from anyone yet"
    assert prober.overdue(100.0 + fusion.PROBE_CAP, None) == [ident]
    assert prober.timeout(100.0, heard=110.0) == pytest.approx(10 + fusion.PROBE_WAIT)
    assert prober.overdue(110.0 + fusion.PROBE_WAIT - 0.1, heard=110.0) == []
    assert prober.overdue(110.0 + fusion.PROBE_WAIT, heard=110.0) == [ident]
    assert prober.overdue(100.0 + fusion.PROBE_WAIT, heard=50.0) == [ident], \
        "workers were up before the probes went: the wait counts from then"
    assert prober.timeout(100.0 + fusion.PROBE_CAP + 5, None) == 0.0, "overdue: ask now"
    prober.settle(ident)
    assert prober.timeout(200.0, None) is None


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 80))
def test_what_is_submitted_never_waits_on_what_is_held(seed, n):
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        parents = rng.sample(range(i), k=min(i, rng.randrange(3)))
        jobs.append(make_job(f"n{i}", rng.choice([tiny, slow]), [f"n{p}" for p in parents]))
    prober = fusion.Prober(cpus=1)
    submit, held = prober.split(jobs, lambda j: j.task.name == "slow", 0.0)
    assert sorted(j.node_id for j in submit + held) == sorted(j.node_id for j in jobs)
    held_ids = {j.node_id for j in held}
    for job in submit:
        assert not any(isinstance(v, Upstream) and v.node in held_ids
                       for v in job.inputs.values())
    assert len(prober.probes) <= fusion.PROBES


def _first_step(run, n=40):
    jobs = [make_job(f"t{i}", tiny) for i in range(n)]
    submit, held = run.hold(jobs, idle=True, cpus=2, heard=None, now=0.0)
    groups = run.plan(submit, lambda j: "cpu", 2)
    assert [(len(g.jobs), g.fused) for g in groups] == [(1, True)] * len(submit), \
        "probes run alone, as groups of one"
    return submit, held


@pytest.mark.parametrize("seconds, fused", [(0.001, True), (0.5, False)])
def test_a_run_times_a_new_task_on_its_probes(seconds, fused):
    from runner.contracts import NodeOutcome

    run = fusion.RunFusion(store_with())
    probes, held = _first_step(run)
    assert len(probes) == fusion.PROBES * 2 and len(held) == 40 - len(probes)
    for job in probes:
        run.submitted(job.node_id, future())
    assert run.hold(held, idle=False, cpus=2, heard=0.5, now=1.0) == ([], held), \
        "no report yet: still held"
    run.submitted(probes[1].node_id, future(NodeOutcome(seconds=seconds, bytes_written=64,
                                                       manifests=[{"socket": 0}])))
    released, none = run.hold(held, idle=False, cpus=2, heard=0.5, now=1.0)
    assert released == held and none == []
    groups = run.plan(released, lambda j: "cpu", 2)
    assert all(g.fused == fused for g in groups)
    assert (len(groups) < len(released)) == fused
    assert run.estimate(held[0]) == seconds


def test_probes_that_store_nothing_time_nothing():
    """A run with cache="off" stores no outputs: their size is unknown, so no fusion."""
    from runner.contracts import NodeOutcome

    run = fusion.RunFusion(store_with())
    probes, held = _first_step(run)
    for job in probes:
        run.submitted(job.node_id, future(NodeOutcome(seconds=0.0001)))
    assert run.hold(held, idle=False, cpus=2, heard=0.5, now=0.6)[0] == held
    assert run.estimate(held[0]) is None
    assert not any(g.fused for g in run.plan(held, lambda j: "cpu", 2))


def test_probes_that_fail_or_stay_silent_release_the_rest_unfused():
    from runner.contracts import ErrorInfo, NodeOutcome

    failing = fusion.RunFusion(store_with())
    probes, held = _first_step(failing)
    error = NodeOutcome(error=ErrorInfo(type="ValueError", message="x", traceback=""))
    for job in probes:
        failing.submitted(job.node_id, future(error))
    assert failing.hold(held, idle=False, cpus=2, heard=0.5, now=0.6)[0] == held
    assert failing.estimate(held[0]) is None, "a failure times nothing"
    assert not any(g.fused for g in failing.plan(held, lambda j: "cpu", 2))

    silent = fusion.RunFusion(store_with())
    probes, held = _first_step(silent)
    for job in probes:
        silent.submitted(job.node_id, future())
    assert silent.hold(held, idle=False, cpus=2, heard=1.0, now=1.0 + fusion.PROBE_WAIT)[0] \
        == held
    idle = fusion.RunFusion(store_with())
    probes, held = _first_step(idle)
    assert idle.hold(held, idle=True, cpus=2, heard=None, now=0.1) == (held, []), \
        "nothing in flight: nothing is held"


def test_a_run_folds_what_it_executed_into_the_store_estimates():
    from types import SimpleNamespace as NS

    docs = store_with({"tasks": {fusion.task_ident(slow): [0.2, 10]}})
    graph = {"a": NS(task=tiny), "b": NS(task=tiny), "c": NS(task=tiny), "d": NS(task=slow),
             "e": NS(task=slow), "f": NS(task=on_gpu.options(cache=False))}
    report = [NS(id="a", status="executed", same_as=None, seconds=0.001, bytes=10),
              NS(id="b", status="executed", same_as=None, seconds=0.003, bytes=30),
              NS(id="c", status="executed", same_as="a", seconds=0.0, bytes=0),
              NS(id="d", status="cached", same_as=None, seconds=0.0, bytes=0),
              NS(id="e", status="executed", same_as=None, seconds=0.4, bytes=30),
              NS(id="f", status="executed", same_as=None, seconds=0.001, bytes=0)]
    run = fusion.RunFusion(docs)
    run.finished(NS(result=NS(graph=graph, store=docs, report=report, cache="use")))
    assert saved(docs)[2] == {"tasks": {fusion.task_ident(tiny): [0.002, 20.0],
                                       fusion.task_ident(slow): [pytest.approx(0.3), 20.0]}}
    for cache, rep in (("use", []), ("off", report), ("read", report)):
        nothing = store_with()
        fusion.RunFusion(nothing).finished(NS(result=NS(graph=graph, store=nothing,
                                                        report=rep, cache=cache)))
        assert saved(nothing) is None, f"cache={cache!r}, {len(rep)} nodes: nothing to learn"


def test_probes_per_cpu_and_the_mean_of_what_reported():
    from runner.contracts import NodeOutcome

    run = fusion.RunFusion(store_with())
    jobs = [make_job(f"t{i}", tiny) for i in range(int(fusion.PROBE_AT))]
    probes, held = run.hold(jobs, idle=True, cpus=1, heard=None, now=0.0)
    assert len(probes) == fusion.PROBES, "one CPU: two probes"
    for job, seconds in zip(probes, (0.001, 0.003), strict=True):
        run.submitted(job.node_id, future(NodeOutcome(seconds=seconds, bytes_written=8,
                                                     manifests=[{"socket": 0}])))
    assert run.hold(held, idle=False, cpus=1, heard=0.0, now=0.1)[0] == held
    assert run.estimate(held[0]) == pytest.approx(0.002)


def test_a_job_that_arrives_while_others_wait_is_decided_on_its_own():
    run = fusion.RunFusion(store_with({"tasks": {fusion.task_ident(slow): [0.5, 8]}}))
    probes, held = _first_step(run)
    newcomer = make_job("late", slow)
    submit, still = run.hold([*held, newcomer], idle=False, cpus=2, heard=None, now=0.1)
    assert submit == [newcomer] and still == held
    assert run.hold(still, idle=False, cpus=2, heard=None, now=0.2) == ([], held)


def _report(run, node, seconds, nbytes):
    from runner.contracts import NodeOutcome

    run.submitted(node.node_id, future(NodeOutcome(seconds=seconds, bytes_written=nbytes,
                                                  manifests=[{"socket": 0}])))


def test_probes_of_a_quick_task_with_large_outputs_fuse_nothing_below_them():
    run = fusion.RunFusion(store_with({"tasks": {fusion.task_ident(on_gpu): [0.0001, 8]}}))
    jobs = [make_job(f"t{i}", tiny) for i in range(16)]
    probes, held = run.hold(jobs, idle=True, cpus=1, heard=None, now=0.0)
    _report(run, probes[0], 0.0001, fusion.FUSE_BYTES + 1)
    released, _ = run.hold(held, idle=False, cpus=1, heard=0.0, now=0.1)
    assert released == held and run.estimate(held[0]) == math.inf
    below = [make_job(f"g{i}", on_gpu, [probes[0].node_id]) for i in range(3)]
    assert not any(g.fused for g in run.plan(below, lambda j: "gpu", 1)), \
        "a probe of a large-output task is no parent for a group"


def test_probes_at_exactly_the_limits_count_as_tiny():
    run = fusion.RunFusion(store_with())
    jobs = [make_job(f"t{i}", tiny) for i in range(16)]
    probes, held = run.hold(jobs, idle=True, cpus=1, heard=None, now=0.0)
    _report(run, probes[0], fusion.FUSE_BELOW, fusion.FUSE_BYTES)
    run.hold(held, idle=False, cpus=1, heard=0.0, now=0.1)
    assert run.estimate(held[0]) == fusion.FUSE_BELOW
    assert probes[0].node_id in run.fusable
    assert all(g.fused for g in run.plan(held, lambda j: "cpu", 1))


def test_only_new_jobs_are_decided_even_while_others_wait():
    run = fusion.RunFusion(store_with({"tasks": {fusion.task_ident(slow): [0.5, 8]}}))
    _first_step(run)
    newcomer = make_job("late", slow)
    assert run.hold([newcomer], idle=False, cpus=2, heard=None, now=0.1) == ([newcomer], [])


@pytest.mark.parametrize("cache, learns", [("use", True), ("refresh", True), ("read", False),
                                           ("off", False)])
def test_runs_that_write_the_cache_teach_timings(cache, learns):
    from types import SimpleNamespace as NS

    graph = {"a": NS(task=tiny)}
    report = [NS(id="a", status="executed", same_as=None, seconds=0.001, bytes=10)]
    docs = store_with()
    fusion.RunFusion(docs).finished(NS(result=NS(graph=graph, store=docs, report=report,
                                                 cache=cache)))
    assert (saved(docs) is not None) == learns
    unrecorded = store_with()
    fusion.RunFusion(unrecorded).finished(NS(result=NS(graph=None, store=unrecorded,
                                                       report=report, cache="use")))
    assert saved(unrecorded) is None, "no graph (a run that failed to sign): nothing to learn"


def test_estimates_at_exactly_the_size_limit_are_fused():
    run = fusion.RunFusion(store_with({"tasks": {fusion.task_ident(tiny): [0.001,
                                                                        fusion.FUSE_BYTES]}}))
    assert run.estimate(make_job("a", tiny)) == 0.001
