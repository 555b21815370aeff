"""The pure scheduler state machine, without any executor, driven as runner.dispatch
drives it (ready / done / reused / failed / stale). Runs through both executors: test_failures.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.scheduler import (
    DONE,
    FAILED,
    HELD,
    REUSED,
    SKIPPED,
    STALE,
    SUBMITTED,
    Scheduler,
)

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}


def test_ready_waits_for_parents_done():
    s = Scheduler(DIAMOND)
    assert sorted(s.ready()) == ["a", "e"]
    assert s.ready() == []
    s.done("a")
    assert sorted(s.ready()) == ["b", "c"]
    s.done("b")
    assert s.ready() == []
    s.done("c")
    assert s.ready() == ["d"]
    s.done("d")
    s.done("e")
    assert s.ready() == [] and set(s.states().values()) == {DONE}


def test_pipelined_releases_children_on_submit():
    s = Scheduler(DIAMOND, pipelined=True)
    assert sorted(s.ready()) == ["a", "b", "c", "d", "e"]
    assert all(state == SUBMITTED for state in s.states().values())


def test_failure_skips_only_descendants():
    s = Scheduler(DIAMOND)
    s.ready()
    s.done("e")
    s.done("a")
    s.ready()
    assert s.failed("b") == ["d"]
    assert s.state("d") == SKIPPED and s.state("c") == SUBMITTED
    s.done("c")
    assert s.ready() == []
    assert s.states() == {"a": DONE, "b": FAILED, "c": DONE, "d": SKIPPED, "e": DONE}


def test_late_report_for_skipped_node_is_ignored():
    s = Scheduler(DIAMOND, pipelined=True)
    s.ready()
    s.done("a")
    s.failed("b")
    s.failed("d")  # Ray fails the child with the parent's error; it stays skipped
    assert s.state("d") == SKIPPED
    s.done("c")
    s.done("e")
    assert s.ready() == []
    assert s.states() == {"a": DONE, "b": FAILED, "c": DONE, "d": SKIPPED, "e": DONE}


OUTCOMES = st.sampled_from(["done", "reused", "failed", "stale"])


@given(st.integers(2, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60),
    st.dictionaries(st.integers(0, n - 1), OUTCOMES), st.booleans())))
def test_every_node_ends_in_a_final_state_its_parents_allow(case):
    n, edges, outcome, pipelined = case
    parents = {str(i): [str(a) for a, b in edges if a < b == i] for i in range(n)}
    s = Scheduler(parents, pipelined=pipelined)
    in_flight: list[str] = []
    while True:
        in_flight.extend(s.ready())
        if not in_flight:
            break
        node = in_flight.pop(0)
        if s.state(node) in (SKIPPED, HELD):
            continue
        getattr(s, outcome.get(int(node), "done"))(node)
    assert s.ready() == [], "nothing is left to submit once every report is in"
    for node, state in s.states().items():
        assert state in (DONE, REUSED, FAILED, SKIPPED, STALE, HELD)
        if state in (DONE, REUSED, FAILED, STALE):  # it ran: its parents' outputs existed
            assert all(s.state(p) in (DONE, REUSED) for p in parents[node])
        if state == SKIPPED:
            assert any(s.state(p) in (FAILED, SKIPPED) for p in parents[node])
        if state == HELD:  # held for the next round: below a stale node, never a failure
            assert any(s.state(p) in (STALE, HELD) for p in parents[node])
            assert not any(s.state(p) in (FAILED, SKIPPED) for p in parents[node])


def test_reused_releases_children_like_done():
    s = Scheduler(DIAMOND)
    s.ready()
    s.reused("a")
    assert sorted(s.ready()) == ["b", "c"]
    assert s.state("a") == REUSED


def test_stale_holds_descendants_without_failing_them():
    s = Scheduler(DIAMOND, pipelined=True)
    s.ready()
    assert sorted(s.stale("a")) == ["b", "c", "d"]
    assert {s.state(n) for n in "bcd"} == {HELD}
    assert not s.done("d"), "a late report for a held node changes nothing"
    assert s.state("d") == HELD
    assert s.done("e") and s.ready() == []
    assert {s.state(n) for n in "bcd"} == {HELD} and s.state("e") == DONE


def test_unknown_parents_are_ignored():
    s = Scheduler({"x": ["cached-elsewhere"]})
    assert s.ready() == ["x"]


@pytest.mark.parametrize("pipelined", [False, True])
def test_long_chain_without_recursion(pipelined):
    n = 200_000
    s = Scheduler({str(i): [str(i - 1)] if i else [] for i in range(n)}, pipelined=pipelined)
    count = 0
    batch = s.ready()
    while batch:  # as runner.dispatch drives it: submit what is ready, report, repeat
        for node in batch:
            s.done(node)
            count += 1
        batch = s.ready()
    assert count == n
