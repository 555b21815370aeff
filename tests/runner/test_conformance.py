"""Executor conformance: the same caching behaviour inline and on Ray.

Caching is tested by recording which tasks really ran (the run log), as a
user would notice: first run executes all, a rerun none, a changed literal
exactly its descendants.
"""

from __future__ import annotations

import uuid

import pytest

from runner import RunError, run
from storage import open_store
from tests.conftest import kill_index_actor, subprefix
from tests.layouts import object_paths
from tests.runner.tasks import boom, combine, source, split, volatile


@pytest.fixture(params=["local", "s3"])
def store_uri(request, tmp_path):
    """Every conformance test runs on a local store and on S3 (moto on loopback)."""
    if request.param == "local":
        uri = str(tmp_path / "store")
    else:
        uri = subprefix(request.getfixturevalue("s3_store_uri"), uuid.uuid4().hex)
    yield uri
    kill_index_actor(uri)


def diamond(a_value: int = 1, k: int = 0):
    a = source.bind("a", a_value)
    b = source.bind("b", 2)
    c = combine.bind("c", a, b)
    d = combine.bind("d", a, k=k)
    return combine.bind("e", c, d)


def test_first_run_executes_all_then_rerun_none(executor, store_uri, runlog):
    first = run(diamond(), store=store_uri, executor=executor)
    assert first.values == 4
    assert runlog.take() == ["a", "b", "c", "d", "e"]
    assert sorted(first.executed) == ["combine-1", "combine-2", "combine-3", "source-1", "source-2"]

    second = run(diamond(), store=store_uri, executor=executor)
    assert second.values == first.values
    assert runlog.take() == []
    assert second.executed == []


def test_changed_literal_reruns_exactly_descendants(executor, store_uri, runlog):
    run(diamond(), store=store_uri, executor=executor)
    runlog.take()
    result = run(diamond(a_value=10), store=store_uri, executor=executor)
    assert result.values == (10 + 2) + 10
    assert runlog.take() == ["a", "c", "d", "e"]
    assert result.status("source-2") == "cached"
    assert result.by_id()["source-2"].bytes > 0, "a cached node reports what it was served from"

    result = run(diamond(k=5), store=store_uri, executor=executor)
    assert runlog.take() == ["d", "e"]
    assert result.values == 3 + 6
    d = result.by_id()["combine-2"]
    assert d.status == "executed" and d.bytes_read > 0, "its cached parent was read where it ran"

    run(diamond(), store=store_uri, executor=executor)
    assert runlog.take() == [], "reverting to cached parameters runs nothing"


def test_multi_output_sockets_have_distinct_keys(executor, store_uri, runlog):
    lo_hi = split.bind("s", 10)
    up, down = lo_hi
    c0 = combine.bind("c0", up)
    c1 = combine.bind("c1", down)
    result = run([c0, c1, lo_hi[1]], store=store_uri, executor=executor)
    assert result.values == [11, 9, 9]
    keys = {r.id: r.key for r in result.report}
    assert keys["combine-1"] != keys["combine-2"]
    runlog.take()

    lo_hi = split.bind("s", 10)
    c0 = combine.bind("c0", lo_hi[1])  # rebound from socket 0 to socket 1
    c1 = combine.bind("c1", lo_hi[1])
    result = run([c0, c1], store=store_uri, executor=executor)
    assert result.values == [9, 9]
    assert runlog.take() == ["c0"]


def test_failure_keeps_sibling_branch_cached(executor, store_uri, runlog):
    good = combine.bind("good", source.bind("src", 1))
    bad = boom.bind("bad", source.bind("src2", 2))
    after_bad = combine.bind("after", bad)
    with pytest.raises(RunError) as info:
        run([good, after_bad], store=store_uri, executor=executor)
    result = info.value.result
    assert result.status("boom-1") == "failed"
    assert result.status("combine-2") == "skipped"
    assert result.status("combine-1") == "executed"
    report = result.by_id()["boom-1"]
    assert "boom in bad with x=2" in report.error
    assert "ValueError" in report.traceback
    assert "boom-1" in str(info.value)
    assert sorted(runlog.take()) == ["bad", "good", "src", "src2"]

    with pytest.raises(RunError):
        run([good, after_bad], store=store_uri, executor=executor)
    assert runlog.take() == ["bad"], "failures are never cached; successes are"

    partial = run([good, after_bad], store=store_uri, executor=executor, raise_on_error=False)
    assert partial.values == [1, None]
    assert runlog.take() == ["bad"]


def test_identical_keys_run_once(executor, store_uri, runlog):
    x = combine.bind("same", source.bind("v", 3))
    y = combine.bind("same", source.bind("v", 3))
    result = run([x, y], store=store_uri, executor=executor)
    assert result.values == [3, 3]
    assert runlog.take() == ["same", "v"]
    assert result.by_id()["combine-2"].same_as == "combine-1"


def test_cache_modes(executor, store_uri, runlog):
    graph = lambda: combine.bind("top", source.bind("leaf", 4))  # noqa: E731
    run(graph(), store=store_uri, executor=executor, cache="off")
    assert runlog.take() == ["leaf", "top"]
    run(graph(), store=store_uri, executor=executor, cache="read")
    assert runlog.take() == ["leaf", "top"], "off wrote nothing"
    run(graph(), store=store_uri, executor=executor)
    assert runlog.take() == ["leaf", "top"], "read wrote nothing"
    run(graph(), store=store_uri, executor=executor, cache="read")
    assert runlog.take() == []
    run(graph(), store=store_uri, executor=executor, cache="refresh")
    assert runlog.take() == ["leaf", "top"]


def test_result_shape_follows_targets(executor, store_uri):
    a = source.bind("a", 1)
    s = split.bind("s", 5)
    result = run({"a": a, "pair": s, "lo": [s[1]]}, store=store_uri, executor=executor)
    assert result.values == {"a": 1, "pair": (6, 4), "lo": [4]}


def test_store_may_be_a_path(tmp_path, runlog):
    store = tmp_path / "as-path"
    assert run(source.bind("p", 1), store=store, executor="inline").values == 1
    assert run(source.bind("p", 1), store=store, executor="inline").executed == []
    assert runlog.take() == ["p"] and object_paths(open_store(store))


def test_cache_false_task_always_runs_and_is_never_stored(executor, store_uri, runlog):
    first = run(volatile.bind("vol", 5), store=store_uri, executor=executor)
    second = run(volatile.bind("vol", 5), store=store_uri, executor=executor)
    assert first.values == second.values == 5
    assert runlog.take() == ["vol", "vol"], "a cache=False task runs on every run"
    assert second.lookups == 0, "nothing in the graph can be cached: the index is not asked"
    key = second.by_id()["source-1"].key
    assert open_store(store_uri).contains_many([(key, 0)]) == set(), "and stores nothing"

    run(source.bind("vol", 5), store=store_uri, executor=executor)  # same key, cached
    assert runlog.take() == ["vol"]
    assert run(volatile.bind("vol", 5), store=store_uri, executor=executor).values == 5
    assert runlog.take() == ["vol"], "a stored output of the same key is not served to it"


def test_cache_false_parent_of_a_cached_child(executor, store_uri, runlog):
    graph = lambda: combine.bind("after", volatile.bind("vol", 5))  # noqa: E731
    assert run(graph(), store=store_uri, executor=executor).values == 5
    assert runlog.take() == ["after", "vol"]
    result = run(graph(), store=store_uri, executor=executor)
    assert result.values == 5 and runlog.take() == [], "the cached child needs nothing above it"
    result = run([graph(), volatile.bind("vol", 5)], store=store_uri, executor=executor)
    assert result.values == [5, 5] and runlog.take() == ["vol"]


def test_rerun_with_duplicate_keys_runs_nothing(executor, store_uri, runlog):
    def graph():
        x, y = source.bind("v", 3), source.bind("v", 3)  # one key, bound before the rest
        return [combine.bind("sum", x, y), combine.bind("other", source.bind("w", 4))]

    assert run(graph(), store=store_uri, executor=executor).values == [6, 4]
    assert runlog.take() == ["other", "sum", "v", "w"]
    result = run(graph(), store=store_uri, executor=executor)
    assert result.values == [6, 4]
    assert runlog.take() == [], "every key after a duplicate is looked up too"
    assert result.executed == []


def test_identical_subgraphs_under_different_parents_run_once(executor, store_uri, runlog):
    def shared():
        return combine.bind("mid", source.bind("leaf", 1))

    top1, top2 = combine.bind("t1", shared()), combine.bind("t2", shared(), k=1)
    for cache in ("off", "use"):  # off first: nothing stored that t2 could read instead
        result = run([top1, top2], store=store_uri, executor=executor, cache=cache)
        assert result.values == [1, 2], cache
        assert runlog.take() == ["leaf", "mid", "t1", "t2"], f"shared subgraph ran once ({cache})"
        same = {r.id: r.same_as for r in result.report if r.same_as}
        assert same == {"combine-3": "combine-1", "source-2": "source-1"}
