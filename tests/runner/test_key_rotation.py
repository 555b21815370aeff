"""Key rotation as a run sees it: a pickle signed with a key the store no longer
lists is a miss, recomputed (and re-signed), never a failed run."""

from __future__ import annotations

from runner import run, task
from storage import open_store
from storage.secret import key_id
from tests.runner.tasks import record

OLD, NEW = "old-pickle-key-0123456789abcdef", "new-pickle-key-0123456789abcdef"


class Box:
    """A user class: no codec but pickle."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Box) and other.items == self.items


@task
def make(label: str, n: int) -> Box:
    record(label)
    return Box(list(range(n)))


@task
def total(label: str, box: Box, k: int = 0) -> int:
    record(label)
    return sum(box.items) + k


def test_dropped_key_is_a_miss_and_the_rerun_resigns(executor, store_uri, runlog) -> None:
    box = make.bind("make", 4)
    graph = [box, total.bind("total", box)]
    first = run(graph, store=open_store(store_uri, secret=OLD), executor=executor)
    assert runlog.take() == ["make", "total"] and first.values == [Box([0, 1, 2, 3]), 6]

    listed = run(graph, store=open_store(store_uri, secret=[NEW, OLD]), executor=executor)
    assert runlog.take() == [] and listed.values == first.values  # the old key still loads

    new_only = open_store(store_uri, secret=NEW)
    dropped = run(graph, store=new_only, executor=executor)
    assert runlog.take() == ["make"] and dropped.values == first.values  # total (an int) kept
    signed = {m.summary.get("key_id") for m in new_only.iter_manifests() if m.codec == "pickle"}
    assert signed == {key_id(NEW.encode()).hex()}  # recomputed means re-signed
    assert run(graph, store=new_only, executor=executor).values == first.values
    assert runlog.take() == []


def test_a_consumer_of_an_unreadable_input_recomputes_it(executor, store_uri, runlog) -> None:
    box = make.bind("make", 5)
    run([box], store=open_store(store_uri, secret=OLD), executor=executor)
    runlog.take()
    result = run([total.bind("total", box, k=1)], store=open_store(store_uri, secret=NEW),
                 executor=executor)
    assert runlog.take() == ["make", "total"] and result.values == [11]
