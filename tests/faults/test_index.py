"""The cluster index stays true and never takes a run down.

Deletions by gc and verify --repair reach a live index actor; objects deleted
behind digestflow's back cost one extra planning round however many there
are; an index actor killed mid-run (restartably, or for good) neither fails
the run nor lets a Ray exception out of ``run()``.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from runner import run, task
from runner.cli import main
from storage import open_store
from storage.refs import manifest_path
from tests.faults.tasks import step
from tests.layouts import object_paths
from tests.runner.tasks import record, source

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]


def chain(n: int = 6, start: int = 0):
    node = source.bind("s0", start)
    for i in range(1, n):
        node = step.bind(f"s{i}", node)
    return node


@task
def kill_index(label: str, x: int, store_uri: str, for_good: bool) -> int:
    """Kills the store's index actor from inside a running task: the driver's next
    index call (recording this very output) meets a dead or restarting actor."""
    import ray

    from cluster.index import NAMESPACE, index_name

    record(label)
    ray.kill(ray.get_actor(index_name(store_uri), namespace=NAMESPACE), no_restart=for_good)
    return x * 10


def test_gc_under_a_live_index_costs_no_extra_round(store_uri, runlog):
    assert run(chain(), store=store_uri).values == 5
    runlog.take()
    assert main(["gc", "--store", store_uri, "--max-bytes", "0"]) == 0
    result = run(chain(), store=store_uri)
    assert result.values == 5 and len(runlog.take()) == 6
    assert result.lookups == 1, "the index learnt of the deletions before planning"
    assert run(chain(), store=store_uri).executed == []


def test_verify_repair_reaches_a_live_index(store_uri, runlog):
    run(chain(), store=store_uri)
    store = open_store(store_uri)
    manifests = list(store.iter_manifests())
    for m in manifests:  # damage every object's bytes, then repair: all are quarantined
        store.backend.write_bytes(manifest_path(m.key, m.socket),
                                  m.to_json().replace(m.content_digest.encode(), b"0" * 64))
    assert main(["verify", "--store", store_uri, "--repair"]) == 0
    runlog.take()
    result = run(chain(), store=store_uri)
    assert result.values == 5 and len(runlog.take()) == 6 and result.lookups == 1


def test_objects_deleted_behind_its_back_cost_one_round(store_uri, runlog):
    run(chain(), store=store_uri)
    runlog.take()
    for path in object_paths(open_store(store_uri)):
        os.unlink(os.path.join(store_uri, path))  # no epoch change: the index is stale
    result = run(chain(), store=store_uri)
    assert result.values == 5 and len(runlog.take()) == 6
    assert result.lookups == 2, "one extra round re-checked every cached input at once"


@pytest.mark.parametrize("for_good", [False, True], ids=["restartable", "for-good"])
def test_index_actor_killed_mid_run(store_uri, runlog, for_good):
    target = step.bind("after", kill_index.bind("killer", chain(3), store_uri, for_good))
    result = run(target, store=store_uri)
    assert result.values == 21 and result.failed == []
    assert sorted(runlog.take()) == ["after", "killer", "s0", "s1", "s2"]
    again = run(target, store=store_uri)
    assert again.values == 21 and runlog.take() == [], "everything stored was found again"


def test_leases_still_reach_other_drivers_after_falling_back_to_the_store(store_uri):
    """When the index actor cannot be had any more, a local store's lock files carry
    single flight between drivers instead (two RayIndex objects: two drivers)."""
    from cluster.index import RayIndex

    if not open_store(store_uri).backend.is_local:
        pytest.skip("lock files exist on a local store only")
    first, second = RayIndex(store_uri), RayIndex(store_uri)
    assert first.shares_leases
    for index in (first, second):
        index._fall_back()  # as when the actor can no longer be created
    assert not first.shares_leases, "a run must not count on the actor's leases now"
    key = "ab" * 32
    assert asyncio.run(first.acquire([key], "driver-1", 30.0)) == {key: "driver-1"}
    assert asyncio.run(second.acquire([key], "driver-2", 30.0)) == {key: "driver-1"}
    asyncio.run(first.release([key], "driver-1"))
    assert asyncio.run(second.acquire([key], "driver-2", 30.0)) == {key: "driver-2"}
