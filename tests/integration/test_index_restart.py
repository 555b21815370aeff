"""Leases across a real restart of the index actor (Ray restarts it: state lost).

The restarted actor has no leases; it must not hand a key to a newcomer while
the key's live holder has not yet re-asserted its lease at its next renewal.
"""

from __future__ import annotations

import time

import pytest

from runner.index import STORED

pytestmark = pytest.mark.usefixtures("ray_session")

KEY = "3" * 64


def _restart(actor: object) -> None:
    import ray

    calls = ray.get(actor.stats.remote())["calls"]  # type: ignore[attr-defined]
    ray.kill(actor, no_restart=False)
    deadline = time.monotonic() + 60
    while True:  # calls queue and are retried on the new incarnation
        try:
            # the kill is asynchronous: the old incarnation may still answer, so wait
            # for one whose call count started again
            if ray.get(actor.stats.remote(), timeout=5)["calls"] < calls:  # type: ignore[attr-defined]
                return
        except ray.exceptions.RayError:
            pass
        assert time.monotonic() < deadline, "the index actor did not come back"
        time.sleep(0.2)


def test_a_restarted_index_waits_for_holders_to_reassert(store_uri: str) -> None:
    import ray

    from cluster.index import RESTARTING, get_index_actor
    from storage import open_store

    actor = get_index_actor(open_store(store_uri).uri)
    ttl = 20.0  # grace: 10 s after the restart, ample for the next two calls
    assert ray.get(actor.acquire.remote([KEY], "holder", ttl)) == {KEY: "holder"}
    _restart(actor)
    assert ray.get(actor.stats.remote())["leases"] == 0  # the restart lost them
    # a newcomer right after the restart is told to wait, not given the key
    assert ray.get(actor.acquire.remote([KEY], "newcomer", ttl)) == {KEY: RESTARTING}
    assert ray.get(actor.acquire.remote([KEY], "holder", ttl, True)) == {KEY: "holder"}
    assert ray.get(actor.acquire.remote([KEY], "newcomer", ttl)) == {KEY: "holder"}
    # recorded keys still answer STORED after a restart (rebuilt from the store)
    store = open_store(store_uri)
    other = "4" * 64
    store.put(other, 0, 1)
    ray.get(actor.lookup.remote([(other, 0)]))
    assert ray.get(actor.acquire.remote([other], "newcomer", ttl)) == {other: STORED}
