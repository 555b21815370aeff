"""Planning rounds inside one run: waiting on another driver's lease, then re-planning.

The other driver is played by a lease taken directly in the store's real
index actor; it expires after a second, as a crashed driver's would.
"""

from __future__ import annotations

import pytest

from runner import RunError, run, sign
from tests.runner.tasks import boom, combine, source

pytestmark = pytest.mark.usefixtures("ray_session")


def test_a_failed_node_does_not_run_again_in_a_later_round(store_uri, runlog):
    import ray

    from cluster.index import get_index_actor
    from storage import open_store

    def graph():
        return [boom.bind("bad", source.bind("ok", 1)), combine.bind("held", source.bind("h", 2))]

    held_key = sign(graph())["combine-1"].hex()
    actor = get_index_actor(open_store(store_uri).uri)
    taken = ray.get(actor.acquire.remote([held_key], "another-driver", 1.0))
    assert taken == {held_key: "another-driver"}
    with pytest.raises(RunError) as info:
        run(graph(), store=store_uri)
    result = info.value.result
    assert runlog.take() == ["bad", "h", "held", "ok"], "each node ran once over two rounds"
    assert result.status("boom-1") == "failed"
    assert result.status("combine-1") == "executed"
    assert result.values == [None, 2]


def test_descendants_of_a_failed_node_stay_skipped_in_later_rounds(store_uri, runlog):
    """Round 2 must not plan the failed node's grandchild, reading its skipped child
    as if it were cached."""
    import ray

    from cluster.index import get_index_actor
    from storage import open_store

    def graph():
        bad = boom.bind("bad", source.bind("ok", 1))
        grandchild = combine.bind("grandchild", combine.bind("child", bad))
        return [grandchild, combine.bind("held", source.bind("h", 2))]

    held_key = sign(graph())["combine-3"].hex()
    actor = get_index_actor(open_store(store_uri).uri)
    assert ray.get(actor.acquire.remote([held_key], "another-driver", 1.0)) == {
        held_key: "another-driver"
    }
    with pytest.raises(RunError) as info:
        run(graph(), store=store_uri)
    assert "boom in bad" in str(info.value)
    result = info.value.result
    assert runlog.take() == ["bad", "h", "held", "ok"], "nothing below the failure ran"
    assert {r.id: r.status for r in result.report} == {
        "source-1": "executed", "boom-1": "failed", "combine-1": "skipped",
        "combine-2": "skipped", "source-2": "executed", "combine-3": "executed",
    }
    assert result.values == [None, 2]
