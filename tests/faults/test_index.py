"""The cluster index stays true and never takes a run down.

Deletions by gc and verify --repair reach a live index actor; objects deleted
behind digestflow's back cost one extra planning round however many there
are; an index actor killed mid-run (restartably, or for good) neither fails
the run nor lets a Ray exception out of ``run()``.
"""

from __future__ import annotations

import os

import pytest

from runner import run, task
from runner.cli import main
from storage import open_store
from storage.refs import manifest_path
from tests.faults.tasks import step
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
    for path in list(open_store(store_uri).backend.list_files("v1")):
        os.unlink(os.path.join(store_uri, path.path))  # no epoch change: the index is stale
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
