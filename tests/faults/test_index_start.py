"""A run does not wait for an index actor it had to start, and loses nothing by it.

The first round of a run whose store has no live index actor is dispatched at
once: lookups read the store, and each task carries the actor's answer to the
run's leases, checking it before it runs. These tests make the actor look
new to the run (``find_or_start_index_actor`` answering "new") while it holds
a foreign lease or is already dead, and count what really ran.
"""

from __future__ import annotations

import threading
import time

import pytest

from runner import run
from storage import open_store
from tests.faults.tasks import step
from tests.runner.tasks import source

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]


def _chain() -> object:
    return step.bind("s2", step.bind("s1", source.bind("s0", 1)))


def _seen_as_new(monkeypatch: pytest.MonkeyPatch, actor: object) -> None:
    """The run's first look-up of the store's actor finds ``actor`` and calls it new;
    later ones look for real."""
    from cluster import index

    real = index.find_or_start_index_actor
    calls = []

    def first_new(uri: str) -> tuple[object, bool]:
        calls.append(uri)
        return (actor, True) if len(calls) == 1 else real(uri)

    monkeypatch.setattr(index, "find_or_start_index_actor", first_new)


def test_a_key_leased_elsewhere_waits_though_the_index_had_not_answered(
        store_uri, runlog, monkeypatch):
    import ray

    from cluster.index import get_index_actor
    from runner import sign

    target = _chain()
    below = {k.hex() for k in sign(source.bind("s0", 1)).values()}
    middle, = {k.hex() for k in sign(step.bind("s1", source.bind("s0", 1))).values()} - below
    actor = get_index_actor(open_store(store_uri).uri)
    assert ray.get(actor.acquire.remote([middle], "other-driver@elsewhere:1", 60.0)) \
        == {middle: "other-driver@elsewhere:1"}
    _seen_as_new(monkeypatch, actor)
    out: dict[str, object] = {}
    thread = threading.Thread(target=lambda: out.update(result=run(target, store=store_uri)),
                              daemon=True)
    thread.start()
    ran: list[str] = []
    deadline = time.monotonic() + 60
    while "s0" not in ran:  # the node not held runs (a cold worker may take a while)
        assert time.monotonic() < deadline, "the node not held never ran"
        time.sleep(0.1)
        ran += runlog.take()
    time.sleep(2.0)  # the held node's task got its answer with s0's: it would have run by now
    ran += runlog.take()
    assert thread.is_alive(), "the run must wait for the holder of the middle key"
    assert ran == ["s0"], "the held node and all below it wait; the rest runs"
    ray.get(actor.release.remote([middle], "other-driver@elsewhere:1"))  # the holder gave up
    thread.join(60)
    assert not thread.is_alive()
    assert out["result"].values == 3 and out["result"].failed == []
    assert sorted(runlog.take()) == ["s1", "s2"], "each node ran exactly once"


def test_an_index_dead_before_its_first_answer_costs_a_round_not_the_run(
        store_uri, runlog, monkeypatch):
    import ray

    from cluster.index import get_index_actor

    actor = get_index_actor(open_store(store_uri).uri)
    ray.get(actor.stats.remote())
    ray.kill(actor, no_restart=True)
    _seen_as_new(monkeypatch, actor)
    result = run(_chain(), store=store_uri)
    assert result.values == 3 and result.failed == []
    assert sorted(runlog.take()) == ["s0", "s1", "s2"], "each node ran exactly once"
    again = run(_chain(), store=store_uri)
    assert again.values == 3 and runlog.take() == [], "its outputs were recorded and found"
