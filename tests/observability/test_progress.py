"""Progress display, on_event delivery and the end-of-run summary."""

from __future__ import annotations

import io

from rich.console import Console

from runner import NodeEvent, run
from runner.progress import Progress
from runner.summary import render_summary, summarize
from tests.observability.pipeline import build, explode, load


def test_on_event_gets_typed_events_in_order(store_uri: str) -> None:
    events: list[NodeEvent] = []
    run(build(), store=store_uri, executor="inline", on_event=events.append)
    assert all(isinstance(e, NodeEvent) for e in events)
    kinds = [(e.kind, e.node_id) for e in events]
    assert kinds.count(("started", "scale-1")) == kinds.count(("finished", "scale-1")) == 1
    assert kinds.index(("started", "load-1")) < kinds.index(("finished", "load-1")) \
        < kinds.index(("started", "scale-1"))
    events.clear()
    target = [build(factor=3), explode.bind(load.bind(1)), build(factor=3)]
    run(target, store=store_uri, executor="inline", on_event=events.append, raise_on_error=False)
    by_kind = {k: sorted(e.node_id for e in events if e.kind == k) for k in
               ("cached", "finished", "failed")}
    assert by_kind["cached"] == ["load-1", "load-2"]
    assert by_kind["failed"] == ["explode-1"]
    failed = next(e for e in events if e.kind == "failed")
    assert failed.task == "explode" and failed.error == "ValueError: cannot explode 4 values"


def test_progress_counts_and_draws_only_on_a_terminal(store_uri: str) -> None:
    buf = io.StringIO()
    progress = Progress(Console(file=buf, force_terminal=True, width=100))
    run(build(), store=store_uri, executor="inline", progress=progress)
    assert progress.counts["done"] == 7 and not progress.running
    assert "0 cached, 0 running, 7 done, 0 failed, 0 skipped" in buf.getvalue()
    quiet = io.StringIO()
    piped = Progress(Console(file=quiet))  # not a terminal: counts, never draws
    run(build(), store=store_uri, executor="inline", progress=piped)
    assert piped.counts["cached"] == 1 and quiet.getvalue() == ""  # only the target is needed


def test_progress_true_is_silent_without_a_terminal(store_uri: str, capsys) -> None:
    run(build(), store=store_uri, executor="inline", progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_names_running_tasks() -> None:
    progress = Progress(enabled=False)
    for nid, task in (("a", "denoise"), ("b", "denoise"), ("c", "mask")):
        progress(NodeEvent(kind="started", node_id=nid, task=task, key="0" * 64))
    progress(NodeEvent(kind="failed", node_id="c", task="mask", key="0" * 64))
    assert progress.tasks_line() == "denoise x2"
    assert progress.line().endswith("0 cached, 2 running, 0 done, 1 failed, 0 skipped")


def test_summary_table_hit_rate_and_failures(store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    result = run([build(factor=3), explode.bind(load.bind(1))], store=store_uri,
                 executor="inline", raise_on_error=False)
    s = summarize(result)
    rows = {r.task: r for r in s.rows}
    # explode reads load(1) again: same key as load-1, so a third cached load
    assert rows["load"].counts == {"cached": 3, "executed": 0, "reused": 0, "failed": 0,
                                   "skipped": 0}
    assert rows["scale"].counts["executed"] == 2 and rows["scale"].bytes_read > 0
    assert rows["explode"].counts["failed"] == 1
    assert s.hit_rate == 3 / 9
    out, err = io.StringIO(), io.StringIO()
    render_summary(result, Console(file=out, width=120), errors=Console(file=err, width=120))
    text = out.getvalue()
    assert "\x1b" not in text and "cache hit rate 33%" in text
    assert "FAILED explode-1 (explode): ValueError: cannot explode 4 values" in err.getvalue()
    assert err.getvalue().rstrip().endswith("ValueError: cannot explode 4 values")
