"""A cached input that this machine cannot decode fails the node that reads it,
with the input, the cause and the fix named, and stays stored for the machines
that can read it (say, a class this checkout no longer has)."""

from __future__ import annotations

import importlib
import sys

import pytest

from runner import RunError, run, task
from storage import open_store
from tests.runner.tasks import record


@task
def make() -> object:
    record("make")
    return importlib.import_module("undecodable_mod").Thing()  # outside the code closure


@task
def use(thing: object, salt: int) -> int:
    record(f"use-{salt}")
    return thing.answer


def test_undecodable_cached_input_names_the_input_and_stays(tmp_path, monkeypatch, runlog,
                                                            store_uri) -> None:
    module = tmp_path / "undecodable_mod.py"
    module.write_text("class Thing:\n    answer = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "undecodable_mod", raising=False)
    first = run(use.bind(make.bind(), 1), store=store_uri, executor="inline")
    assert first.values == 42 and runlog.take() == ["make", "use-1"]

    module.write_text("# Thing is gone from this checkout\n")
    monkeypatch.delitem(sys.modules, "undecodable_mod")
    importlib.invalidate_caches()
    with pytest.raises(RunError) as info:
        run(use.bind(make.bind(), 2), store=store_uri, executor="inline")
    report = info.value.result.by_id()["use-1"]
    assert "cached input 'thing'" in report.error and "cache='refresh'" in report.error
    assert "Thing" in report.error
    assert runlog.take() == []  # make was not recomputed, use never got its input
    make_key = first.by_id()["make-1"].key
    assert open_store(store_uri).contains_many([(make_key, 0)]) == {(make_key, 0)}
