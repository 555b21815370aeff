"""explain names the first cause of every kind of change, in words a user reads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner import explain, run
from runner.cli.loader import load_targets
from storage import open_store
from tests.corrupt import flip_stored_byte
from tests.observability import pipeline
from tests.observability.pipeline import build, clip


def reasons(targets, store, **kw) -> dict[str, tuple[str, str]]:
    ex = explain(targets, store=store, **kw)
    return {n.id: (n.status, n.reason) for n in ex.nodes}


def first_causes(targets, store) -> set[str]:
    return {n.id for n in explain(targets, store=store).nodes if n.first_cause}


def test_first_run_says_never_run_before(store_uri: str) -> None:
    got = reasons(build(), store_uri)
    assert set(got) == {"load-1", "load-2", "scale-1", "scale-2", "clip-1", "clip-2", "total-1"}
    assert all(v == ("will run", "never run before") for v in got.values())


def test_literal_change_shows_digests_and_values(store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    got = reasons(build(limit=60), store_uri)
    status, why = got["clip-1"]
    assert status == "will run"
    assert why.startswith("literal `limit` changed (digest ")
    assert why.endswith("; 50 -> 60)")
    assert got["total-1"][1] == f"upstreams `clip-1`, `clip-2` changed (because: {why})"
    assert got["load-1"][0] == got["scale-2"][0] == "cached"
    assert first_causes(build(limit=60), store_uri) == {"clip-1", "clip-2"}


def test_literal_change_after_a_fully_cached_rerun(store_uri: str) -> None:
    """The baseline run found every key stored and kept no recipes of its own: they are
    read from the run that computed those keys."""
    run(build(), store=store_uri, executor="inline")
    again = run(build(), store=store_uri, executor="inline")
    assert len(again.cached) == 7 and not again.executed
    why = reasons(build(limit=60), store_uri)["clip-1"][1]
    assert why.startswith("literal `limit` changed (digest ") and why.endswith("; 50 -> 60)")


def test_upstream_chain_is_told_once_at_its_first_cause(store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    got = reasons(build(size=5), store_uri)
    cause = got["load-1"][1]
    assert cause.startswith("literal `size` changed (digest ") and cause.endswith("4 -> 5)")
    assert got["scale-1"][1] == f"upstream `load-1` changed (because: {cause})"
    assert got["clip-1"][1] == (f"upstream `scale-1` changed (via `scale-1` <- `load-1`; "
                                f"because at `load-1`: {cause})")
    assert got["total-1"][1] == ("upstreams `clip-1`, `clip-2` changed (because at `load-1`, "
                                 f"`load-2`: {cause})")  # one first cause, told once
    assert first_causes(build(size=5), store_uri) == {"load-1", "load-2"}


def test_version_change(store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    got = reasons(build(clip_task=clip.options(version="2")), store_uri)
    assert got["clip-1"] == ("will run", "version 1 -> 2")
    assert got["total-1"][1] == "upstreams `clip-1`, `clip-2` changed (because: version 1 -> 2)"


def test_source_change(tmp_path: Path, store_uri: str) -> None:
    src = tmp_path / "pipe.py"
    body = textwrap.dedent("""
        from runner import task

        @task
        def make(n: int) -> int:
            return n + {delta}

        @task
        def double(x: int) -> int:
            return 2 * x

        TARGETS = double.bind(make.bind(3))
    """)
    src.write_text(body.format(delta=1))
    run(load_targets(str(src)), store=store_uri, executor="inline")
    src.write_text(body.format(delta=2))
    got = reasons(load_targets(str(src)), store_uri)
    assert got["make-1"] == ("will run", "task `make` source changed")
    assert got["double-1"] == ("will run", "upstream `make-1` changed (because: task `make` "
                                           "source changed)")


def test_evicted_output(store_uri: str) -> None:
    first = run(build(), store=store_uri, executor="inline")
    total = first.by_id()["total-1"]
    open_store(store_uri).delete(total.key)
    open_store(store_uri).delete(first.by_id()["load-1"].key)
    got = reasons(build(), store_uri)
    assert got["total-1"] == ("will run", "output evicted or corrupt (same key as in run "
                                          f"{first.run_id}, no longer in the store)")
    assert got["clip-1"][0] == "cached"  # total reads its cached inputs
    assert got["load-1"] == ("not needed", "not needed: its dependents are cached")


def test_corrupt_output_recomputed_and_explained_after_the_run(store_uri: str) -> None:
    first = run(build(), store=store_uri, executor="inline")
    key = first.by_id()["total-1"].key
    flip_stored_byte(store_uri, key)
    second = run(build(), store=store_uri, executor="inline")
    assert second.status("total-1") == "executed"
    got = explain(second).by_id()["total-1"]
    assert (got.status, got.reason) == ("ran", "output evicted or corrupt (same key as in run "
                                               f"{first.run_id}, no longer in the store)")
    assert explain(second).by_id()["load-1"].status == "cached"


def test_refresh_and_cached_since(store_uri: str) -> None:
    first = run(build(), store=store_uri, executor="inline")
    got = reasons(build(), store_uri, cache="refresh")
    assert set(got.values()) == {("will run", "cache='refresh'")}
    cached = reasons(build(), store_uri)["scale-2"]
    assert cached[0] == "cached"
    assert cached[1].startswith("cached since 20") and cached[1].endswith(f"by run {first.run_id}")
    again = run(build(), store=store_uri, executor="inline", cache="refresh")
    assert explain(again).by_id()["load-1"].reason == "cache='refresh'"


def test_cached_node_says_why_it_ran_last_time(store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    second = run(build(offset=1.5), store=store_uri, executor="inline")
    reason = reasons(build(offset=1.5), store_uri)["total-1"][1]
    assert reason.startswith("cached since ")
    assert f"by run {second.run_id}; it ran then because: literal `offset` changed (" in reason
    assert reason.endswith("0.5 -> 1.5)")


def test_failed_last_time(store_uri: str) -> None:
    target = pipeline.explode.bind(pipeline.load.bind(1))
    failed = run(target, store=store_uri, executor="inline", raise_on_error=False)
    got = reasons(target, store_uri)
    assert got["explode-1"] == ("will run", f"failed last time (run {failed.run_id}): "
                                            "ValueError: cannot explode 4 values")


def test_one_node_and_text(store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    ex = explain(build(factor=3), "clip-2", store=store_uri)
    assert [n.id for n in ex.nodes] == ["clip-2"]
    lines = explain(build(factor=3), store=store_uri).text().splitlines()
    assert lines[0] == "next run: 7 nodes: 2 cached, 5 will run; 2 first cause(s)"
    assert any(ln.startswith("* will run   scale-1  [scale ") for ln in lines)
    with pytest.raises(Exception, match="no node 'nope'"):
        explain(build(), "nope", store=store_uri)


def test_explain_a_ray_run(ray_session, store_uri: str) -> None:
    run(build(), store=store_uri)
    result = run(build(factor=5), store=store_uri)
    ex = explain(result)
    assert ex.run_id == result.run_id
    got = ex.by_id()
    assert got["scale-1"].status == "ran" and got["scale-1"].first_cause
    assert got["scale-1"].reason.endswith("2 -> 5)")
    assert got["clip-1"].reason.startswith("upstream `scale-1` changed (because: literal `factor`")
    assert got["load-1"].status == "cached"
