"""What a run tells its subscribers and its report about each node, through ``run()``.

``on_event`` and progress displays see one event per transition, with the kind
the node really went through; the report names each node's task and, for a
reused node, which stored outputs it was served from.
"""

from __future__ import annotations

from runner import NodeEvent, run
from tests.runner.cutoff_tasks import clamp, inc
from tests.runner.tasks import boom, combine, source


def kinds(events: list[NodeEvent]) -> list[tuple[str, str]]:
    return sorted((e.kind, e.node_id) for e in events if e.kind != "started")


def test_a_child_of_two_failed_parents_is_skipped_once(executor, store_uri, runlog):
    left, right = boom.bind("l", source.bind("s", 1)), boom.bind("r", source.bind("t", 2))
    events: list[NodeEvent] = []
    result = run(combine.bind("c", left, right), store=store_uri, executor=executor,
                 on_event=events.append, raise_on_error=False)
    assert kinds(events) == [("failed", "boom-1"), ("failed", "boom-2"),
                             ("finished", "source-1"), ("finished", "source-2"),
                             ("skipped", "combine-1")]
    assert sorted(runlog.take()) == ["l", "r", "s", "t"]
    report = result.by_id()
    assert report["combine-1"].status == "skipped" and report["combine-1"].task == "combine"
    assert report["boom-1"].status == "failed" and report["boom-1"].task == "boom"


def test_reused_nodes_are_announced_and_name_the_outputs_they_reuse(store_uri, runlog):
    def chain(x: int):
        return inc.bind("c", inc.bind("b", clamp.bind("a", x)))

    first = run(chain(7), store=store_uri, executor="inline").by_id()
    assert runlog.take() == ["a", "b", "c"]
    events: list[NodeEvent] = []
    second = run(chain(9), store=store_uri, executor="inline", on_event=events.append)
    assert runlog.take() == ["a"], "clamp gives 5 again: the incs are reused, not run"
    assert kinds(events) == [("finished", "clamp-1"), ("reused", "inc-1"), ("reused", "inc-2")]
    report = second.by_id()
    for nid in ("inc-1", "inc-2"):
        assert report[nid].status == "reused" and report[nid].task == "inc"
        assert report[nid].reused_from == first[nid].key != report[nid].key
    assert report["clamp-1"].reused_from is None
    events.clear()
    again = run(chain(9), store=store_uri, executor="inline", on_event=events.append)
    assert runlog.take() == [] and again.values == 7
    assert kinds(events) == [("cached", "inc-2")], "only the target is needed, and cached"
