"""An executor that holds ready jobs back (``hold``, as Ray's does to time new tasks
first: ``cluster.fusion.Prober``) can delay a run, never wedge or skew it.

What a user would notice: a run that never ends, a node that runs below a
failure, a node that runs twice or not at all.
"""

from __future__ import annotations

import pytest

from runner import run
from runner.executor import InlineExecutor
from tests.runner.tasks import combine, source, step

pytestmark = pytest.mark.timeout(60)  # a wedged run fails here, not at the suite's limit


class Holding(InlineExecutor):
    """Inline, but holds back every job ``policy`` says to; records what it held."""

    def __init__(self, policy) -> None:
        super().__init__()
        self.policy = policy
        self.held: list[list[str]] = []

    def hold(self, jobs, *, idle):
        later = [job for job in jobs if self.policy(job.node_id, idle)]
        self.held.append([job.node_id for job in later])
        return [job for job in jobs if job not in later], later

    def hold_timeout(self) -> float:
        return 0.01


def _graph():
    a, b = source.bind("a", 1), source.bind("b", 2)
    return combine.bind("c", a, b), step.bind("d", a)


def test_an_executor_that_holds_everything_cannot_wedge_a_run(store_uri, runlog):
    holding = Holding(lambda nid, idle: True)
    result = run(list(_graph()), store=store_uri, executor=holding)
    assert result.values == [3, 2]
    assert runlog.take() == ["a", "b", "c", "d"], "each node ran once"
    assert any(holding.held), "it did hold jobs back"


def test_a_held_job_is_submitted_once_released(store_uri, runlog):
    asked: dict[str, int] = {}

    def policy(nid, idle):
        asked[nid] = asked.get(nid, 0) + 1
        return nid == "source-2" and asked[nid] < 3  # held twice, then let go

    result = run(list(_graph()), store=store_uri, executor=Holding(policy))
    assert result.values == [3, 2] and runlog.take() == ["a", "b", "c", "d"]
    assert asked["source-2"] == 3


def test_a_held_job_below_a_failure_is_skipped_not_run(store_uri, runlog):
    bad = step.bind("bad", source.bind("a", 1), fail=True)
    below = step.bind("below", bad)
    other = source.bind("other", 5)
    result = run([below, other], store=store_uri, raise_on_error=False,
                 executor=Holding(lambda nid, idle: nid == "step-2"))
    assert {r.id: r.status for r in result.report} == {
        "source-1": "executed", "step-1": "failed", "step-2": "skipped",
        "source-2": "executed"}
    assert result.values == [None, 5]
    assert runlog.take() == ["a", "bad", "other"]


class FailsWhole(InlineExecutor):
    """Inline, but the first submission of ``victim`` comes back as Ray reports a fused
    task failed whole because a group-mate's input failed: ``upstream_failed`` naming a
    node that is not an ancestor of ``victim``."""

    def __init__(self, victim: str, root: str) -> None:
        super().__init__()
        self.victim, self.root, self.tries = victim, root, 0

    def submit(self, job, handles):
        from runner.contracts import NodeOutcome, Submission
        from runner.executor import _ready

        if job.node_id == self.victim:
            self.tries += 1
            if self.tries == 1:
                return Submission(outputs=[None], outcome=_ready(
                    NodeOutcome(upstream_failed=self.root)))
        return super().submit(job, handles)


def test_a_node_failed_with_an_unrelated_group_mate_runs_next_round(store_uri, runlog):
    """Not skipped (no ancestor of it failed), not left waiting for a report that will
    never skip it: it runs again, once, in the next round."""
    bad = step.bind("bad", source.bind("a", 1), fail=True)
    x = step.bind("x", source.bind("s", 2))
    executor = FailsWhole(victim="step-2", root="step-1")
    result = run([step.bind("below", bad), x], store=store_uri, executor=executor,
                 raise_on_error=False)
    assert {r.id: r.status for r in result.report} == {
        "source-1": "executed", "step-1": "failed", "source-2": "executed",
        "step-2": "executed", "step-3": "skipped"}
    assert result.values == [None, 3] and executor.tries == 2
    assert runlog.take() == ["a", "bad", "s", "x"]


def test_only_an_ancestor_failure_skips_a_node():
    """What decides between "skipped below a failure" and "runs again next round"."""
    from runner.dispatch import _descends

    parents = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d"], "x": []}
    assert _descends(parents, "e", "a") and _descends(parents, "e", "c")
    assert _descends(parents, "d", "b") and not _descends(parents, "d", "e")
    assert not _descends(parents, "e", "x") and not _descends(parents, "a", "a")
    assert not _descends(parents, "not-run-here", "a"), "a node outside the round: no ancestors"


def test_a_node_whose_parent_succeeded_then_broke_fails_and_says_so(store_uri, runlog):
    """Its report says an ancestor's output never reached it although that ancestor
    reported success: a failure naming the ancestor, not a rerun."""
    executor = FailsWhole(victim="step-1", root="source-1")
    result = run(step.bind("x", source.bind("s", 2)), store=store_uri, executor=executor,
                 raise_on_error=False)
    report = result.by_id()
    assert (report["source-1"].status, report["step-1"].status) == ("executed", "failed")
    assert "source-1" in report["step-1"].error and executor.tries == 1
    assert runlog.take() == ["s"]
