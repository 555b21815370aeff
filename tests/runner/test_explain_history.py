"""explain compares a node with the last run of the same pipeline, even when another
pipeline with the same node ids shares the store."""

from __future__ import annotations

from pathlib import Path

from runner import explain, run, task


@task
def make(n: int) -> int:
    return n


@task
def double(x: int) -> int:
    return 2 * x


def test_baseline_is_the_same_pipelines_last_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(double.bind(make.bind(1)), store=store, executor="inline")  # pipeline A
    run(make.bind(5), store=store, executor="inline")  # pipeline B: also has `make-1`
    why = explain(double.bind(make.bind(2)), store=store).by_id()
    assert why["make-1"].reason.endswith("; 1 -> 2)")  # not 5 -> 2: B is not A
    alone = explain(make.bind(7), store=store).by_id()
    assert alone["make-1"].reason.endswith("; 5 -> 7)")
