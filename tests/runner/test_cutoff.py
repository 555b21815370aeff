"""Early cutoff: a node whose inputs have the content they had before is reused, not run.

Which tasks really ran is read from the run log, on both executors.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
import warnings

from runner import explain, run
from runner.file_inputs import PathLiteralWarning
from tests.runner.cutoff_tasks import add, clamp, clamp_and_keep, feed, inc, shout


def chain(x: int):
    a = clamp.bind("a", x)
    return inc.bind("d", inc.bind("c", inc.bind("b", a)))


def ids(result, status: str) -> list[str]:
    return sorted(result.ids(status))


def test_chain_reexecutes_only_the_node_whose_output_did_not_change(executor, store_uri,
                                                                    runlog):
    assert run(chain(7), store=store_uri, executor=executor).values == 8
    assert runlog.take() == ["a", "b", "c", "d"]

    result = run(chain(8), store=store_uri, executor=executor)
    assert runlog.take() == ["a"]
    assert result.values == 8
    assert result.executed == ["clamp-1"]
    assert ids(result, "reused") == ["inc-1", "inc-2", "inc-3"]

    again = run(chain(8), store=store_uri, executor=executor)
    assert runlog.take() == [] and again.executed == again.reused == []
    assert again.lookups == 1, "reused outputs are plain cache hits the next time"

    changed = run(chain(3), store=store_uri, executor=executor)
    assert changed.values == 6 and runlog.take() == ["a", "b", "c", "d"]


def test_explain_says_why_a_node_was_reused(store_uri, runlog):
    run(chain(7), store=store_uri, executor="inline")
    result = run(chain(9), store=store_uri, executor="inline")
    why = explain(result).by_id()
    expected = "upstream `clamp-1` re-ran; its output was unchanged, so this node was reused"
    assert why["inc-1"].status == "reused" and why["inc-1"].reason == expected
    assert why["inc-3"].reason == expected, "told through the reused nodes between them"
    assert why["clamp-1"].status == "ran"


def test_diamond_reuses_only_below_the_unchanged_branch(executor, store_uri, runlog):
    def diamond(x: int):
        src = inc.bind("src", x)
        same = clamp.bind("same", src)  # 5 for any x >= 4
        moved = inc.bind("moved", src)
        return [add.bind("join", same, moved), inc.bind("below-same", same)]

    assert run(diamond(7), store=store_uri, executor=executor).values == [5 + 9, 6]
    runlog.take()
    result = run(diamond(8), store=store_uri, executor=executor)
    assert result.values == [5 + 10, 6]
    assert runlog.take() == ["join", "moved", "same", "src"]
    assert result.reused == ["inc-3"] and result.by_id()["inc-3"].bytes_read > 0


def test_cutoff_across_a_two_output_node_where_one_output_changed(executor, store_uri,
                                                                   runlog):
    def graph(x: int):
        pair = clamp_and_keep.bind("pair", x)
        return [inc.bind("from-clamped", pair[0]), inc.bind("from-kept", pair[1])]

    assert run(graph(7), store=store_uri, executor=executor).values == [6, 8]
    runlog.take()
    result = run(graph(8), store=store_uri, executor=executor)
    assert result.values == [6, 9]
    assert runlog.take() == ["from-kept", "pair"]
    assert result.status("inc-1") == "reused" and result.status("inc-2") == "executed"


def _module(path, body: str):
    """Import ``body`` as a module from ``path`` (pickled by value, so Ray workers need no
    import path to it)."""
    path.write_text(textwrap.dedent(body))
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(module)
    return module


def test_cutoff_after_a_source_edit_that_keeps_the_output(executor, store_uri, runlog,
                                                           tmp_path):
    path = tmp_path / f"edited_{uuid.uuid4().hex[:8]}.py"
    source = '''
        from runner import task
        from tests.runner.tasks import record

        @task
        def scale(label, x):
            record(label)
            return {body}
    '''
    before = _module(path, source.format(body="x * 2"))
    first = run(inc.bind("after", before.scale.bind("scale", 21)), store=store_uri,
                executor=executor)
    assert first.values == 43 and runlog.take() == ["after", "scale"]

    after = _module(path, source.format(body="x + x  # same output, new code"))
    result = run(inc.bind("after", after.scale.bind("scale", 21)), store=store_uri,
                 executor=executor)
    assert result.by_id()["scale-1"].key != first.by_id()["scale-1"].key
    assert runlog.take() == ["scale"]
    assert result.values == 43 and result.status("inc-1") == "reused"


def test_no_cutoff_when_disabled(store_uri, runlog):
    run(chain(7), store=store_uri, executor="inline", cutoff=False)
    runlog.take()
    result = run(chain(8), store=store_uri, executor="inline", cutoff=False)
    assert runlog.take() == ["a", "b", "c", "d"] and result.reused == []


def test_volatile_runs_every_time_and_its_child_only_when_its_output_changed(
        executor, store_uri, runlog, tmp_path):
    news = tmp_path / "news.txt"
    news.write_text("calm")
    graph = lambda: shout.bind("shout", feed.bind("feed", str(news)))  # noqa: E731
    assert run(graph(), store=store_uri, executor=executor).values == "CALM"
    assert runlog.take() == ["feed", "shout"]

    same = run(graph(), store=store_uri, executor=executor)
    assert runlog.take() == ["feed"], "unchanged output: 1 executed"
    assert same.values == "CALM" and same.status("shout-1") == "reused"

    news.write_text("storm")
    moved = run(graph(), store=store_uri, executor=executor)
    assert runlog.take() == ["feed", "shout"], "changed output: the child re-runs"
    assert moved.values == "STORM"

    news.write_text("calm")
    back = run(graph(), store=store_uri, executor=executor)
    assert back.values == "CALM", "never the stale STORM"
    assert runlog.take() == ["feed", "shout"], "its alias points at overwritten outputs: a miss"


def test_a_volatile_node_no_target_needs_does_not_run(executor, store_uri, runlog, tmp_path):
    news = tmp_path / "news.txt"
    news.write_text("calm")
    loud = shout.bind("loud", feed.bind("feed", str(news)))
    other = inc.bind("other", 1)
    result = run(other, store=store_uri, executor=executor)
    assert result.values == 2 and runlog.take() == ["other"]
    both = run([other, loud], store=store_uri, executor=executor)
    assert both.values == [2, "CALM"] and runlog.take() == ["feed", "loud"]
    run(other, store=store_uri, executor=executor)
    assert runlog.take() == []


def test_explain_names_the_volatile_task(store_uri, runlog, tmp_path):
    news = tmp_path / "news.txt"
    news.write_text("calm")
    graph = shout.bind("shout", feed.bind("feed", str(news)))
    run(graph, store=store_uri, executor="inline")
    why = explain(graph, store=store_uri).by_id()
    assert why["feed-1"].status == "will run" and "volatile" in why["feed-1"].reason
    assert why["shout-1"].status == "will run" and "below a volatile task" in why["shout-1"].reason


def test_a_volatile_task_reading_a_path_gets_no_path_literal_warning(store_uri, runlog,
                                                                    tmp_path):
    news = tmp_path / "news.txt"
    news.write_text("calm")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PathLiteralWarning)
        result = run(shout.bind("shout", feed.bind("feed", str(news))), store=store_uri,
                     executor="inline")
    assert result.values == "CALM" and runlog.take() == ["feed", "shout"]


def test_content_keys_ignore_what_a_recipe_holds_only_for_display():
    """A driver that took a task's identity from a cache has no closure parts to show,
    and a literal's preview is a display; neither may cost a cutoff, while the identity
    and every literal's digest must still separate recipes."""
    from runner.cutoff import recipe_digest

    base = {"key": "k" * 64, "identity": "i" * 64,
            "literals": [{"name": "label", "digest": "d" * 64, "preview": "'a'"}],
            "links": [{"name": "x", "parent": "p" * 64, "socket": 0}],
            "code": [{"kind": "helper", "name": "m.f", "digest": "c" * 64}]}
    same = {**base, "code": [], "key": "q" * 64, "links": [],
            "literals": [{"name": "label", "digest": "d" * 64, "preview": None}]}
    assert recipe_digest(same) == recipe_digest(base)
    for changed in ({**base, "identity": "j" * 64},
                    {**base, "literals": [{"name": "label", "digest": "e" * 64}]},
                    {**base, "literals": [{"name": "other", "digest": "d" * 64}]}):
        assert recipe_digest(changed) != recipe_digest(base)


def test_an_evicted_source_is_recomputed_and_gc_clears_its_aliases(store_uri, runlog):
    """gc evicts the outputs an alias points at: cutoff then misses there and computes
    (the right value, never a dangling read), and the evicted outputs' aliases go."""
    from storage import open_store

    first = run(chain(7), store=store_uri, executor="inline")
    assert runlog.take() == ["a", "b", "c", "d"]
    store = open_store(store_uri)
    keys = {rep.id: rep.key for rep in first.report}
    b_key = keys["inc-1"]
    report = store.gc(older_than=0, keep=[k for k in keys.values() if k != b_key], temp_age=0)
    assert report.evicted == ((b_key, 0),)
    assert len(report.aliases) == 1, "b's alias went with b"

    result = run(chain(8), store=store_uri, executor="inline")
    assert result.values == 8
    assert runlog.take() == ["a", "b"], "b's outputs are gone: computed; c and d reused"
    assert ids(result, "reused") == ["inc-2", "inc-3"]
