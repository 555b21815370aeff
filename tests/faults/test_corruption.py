"""S2/S4/S5: every kind of unreadable object is a miss that is recomputed, never a failure.

For each kind of damage: the run completes with the right value, exactly the
damaged node executes again, the other (valid) objects survive, ``verify``
reports the damage and ``verify --repair`` fixes it, and the next run
executes nothing. Pickles get the same treatment, and a planted payload never
runs. The driver reads targets itself (inline); on Ray, a worker reads a
damaged cached input.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner import run
from runner.cli import main
from storage import open_store
from tests.faults.damage import CANARY_ENV, DAMAGE, PICKLE_DAMAGE
from tests.faults.tasks import bag, numbers, size, total
from tests.layouts import to_layout_1


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pickle-payload-ran"
    monkeypatch.setenv(CANARY_ENV, str(path))
    monkeypatch.delenv("DIGESTFLOW_SECRET", raising=False)
    return path


def _array_pipeline(k: int = 0, n: int = 5000):
    return total.bind("sum", numbers.bind("nums", n), k=k)


def _pickle_pipeline(k: int = 0, n: int = 7):
    return size.bind("size", bag.bind("bag", n), k=k)


def _source(result) -> tuple[str, int]:
    """The (key, socket) of the pipeline's first node's output."""
    node = next(r for r in result.report if r.task.endswith(("numbers", "bag")))
    return node.key, 0


def _damage_and_recover(tmp_path, runlog, build, expected, damage, executor="inline"):
    root = tmp_path / "store"
    first = run(build(), store=root, executor=executor)
    assert first.values == expected
    labels = sorted(runlog.take())
    damage(root, *_source(first))
    # the damaged object is the cached input of a node that must run again (k changed)
    again = run(build(k=1), store=root, executor=executor)
    assert again.values == expected + 1, "a damaged object must never be served"
    assert sorted(runlog.take()) == labels, "the damaged object was recomputed, once"
    assert run(build(), store=root, executor=executor).values == expected
    assert runlog.take() == [], "the first run's valid target survived; nothing reruns"
    assert run(build(k=1), store=root, executor=executor).values == expected + 1
    assert runlog.take() == [], "the recomputed object is stored and read back"


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_object_is_recomputed(tmp_path, runlog, kind):
    expected = sum(range(5000))
    _damage_and_recover(tmp_path, runlog, _array_pipeline, expected, DAMAGE[kind])


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_layout_1_object_is_recomputed(tmp_path, runlog, kind):
    """The same in a store written by digestflow before layout 2, not yet migrated."""

    def damage(root: Path, key: str, socket: int) -> None:
        to_layout_1(open_store(root))
        DAMAGE[kind](root, key, socket)

    _damage_and_recover(tmp_path, runlog, _array_pipeline, sum(range(5000)), damage)


@pytest.mark.parametrize("kind", sorted(PICKLE_DAMAGE))
def test_refused_pickle_is_recomputed_and_never_loaded(tmp_path, runlog, canary, kind):
    _damage_and_recover(tmp_path, runlog, _pickle_pipeline, 7, PICKLE_DAMAGE[kind])
    assert not canary.exists(), "the planted pickle was loaded"


@pytest.mark.parametrize("kind", sorted(DAMAGE) + sorted(PICKLE_DAMAGE))
def test_verify_reports_each_damage_and_repair_fixes_it(tmp_path, runlog, canary, capsys,
                                                        kind):
    root = tmp_path / "store"
    pickled = kind in PICKLE_DAMAGE
    build = _pickle_pipeline if pickled else _array_pipeline
    first = run(build(), store=root, executor="inline")
    source = _source(first)
    (PICKLE_DAMAGE if pickled else DAMAGE)[kind](root, *source)
    capsys.readouterr()
    assert main(["verify", "--store", str(root)]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s)" in out, out
    assert main(["verify", "--store", str(root), "--repair"]) == 0
    assert "quarantined" in capsys.readouterr().out
    assert main(["verify", "--store", str(root)]) == 0
    assert "0 problem(s)" in capsys.readouterr().out
    for command in (["ls"], ["stats"], ["gc", "--max-bytes", "1G"]):
        assert main([*command, "--store", str(root)]) == 0, command
    target = next(r for r in first.report if (r.key, 0) != source)
    assert open_store(root).contains_many([(target.key, 0)]), "a valid object was lost"
    runlog.take()
    assert run(build(k=1), store=root, executor="inline").values == first.values + 1
    assert len(runlog.take()) == 2
    assert not canary.exists()


def test_every_tool_survives_every_damage_at_once(tmp_path, runlog, canary, capsys):
    """All kinds of damage in one store: ls, stats, verify, gc and a run still work."""
    root = tmp_path / "store"
    kinds = sorted({**DAMAGE, **PICKLE_DAMAGE}.items())
    for i, (kind, damage) in enumerate(kinds):
        build = _pickle_pipeline if kind in PICKLE_DAMAGE else _array_pipeline
        damage(root, *_source(run(build(n=5000 + i), store=root, executor="inline")))
    healthy = run(_array_pipeline(n=10), store=root, executor="inline")
    for command in (["ls"], ["stats"]):
        assert main([*command, "--store", str(root)]) == 0, command
    assert main(["verify", "--store", str(root)]) == 1
    assert f"{len(kinds)} problem(s)" in capsys.readouterr().out
    assert main(["gc", "--store", str(root), "--max-bytes", "1G"]) == 0
    assert main(["verify", "--store", str(root), "--repair"]) == 0
    assert main(["verify", "--store", str(root)]) == 0
    runlog.take()
    for i, (kind, _) in enumerate(kinds):
        build = _pickle_pipeline if kind in PICKLE_DAMAGE else _array_pipeline
        expected = 5000 + i if kind in PICKLE_DAMAGE else sum(range(5000 + i))
        assert run(build(n=5000 + i, k=1), store=root, executor="inline").values == expected + 1
    assert len(runlog.take()) == 2 * len(kinds), "each damaged source and its reader ran once"
    assert run(_array_pipeline(n=10), store=root, executor="inline").values == healthy.values
    assert runlog.take() == [], "the healthy objects were neither lost nor quarantined"
    assert not canary.exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flip_byte", "unknown_codec", "manifest_is_a_directory"])
def test_worker_reading_a_damaged_input_recomputes_it(tmp_path, runlog, ray_session, kind):
    from tests.conftest import kill_index_actor

    try:
        _damage_and_recover(tmp_path, runlog, _array_pipeline, sum(range(5000)), DAMAGE[kind],
                            executor="ray")
    finally:
        kill_index_actor(str(tmp_path / "store"))


@pytest.mark.slow
def test_worker_refuses_a_tampered_pickle(tmp_path, runlog, ray_session, canary):
    from tests.conftest import kill_index_actor

    os.environ[CANARY_ENV] = str(canary)
    try:
        _damage_and_recover(tmp_path, runlog, _pickle_pipeline, 7,
                            PICKLE_DAMAGE["tampered_pickle"], executor="ray")
    finally:
        kill_index_actor(str(tmp_path / "store"))
    assert not canary.exists()
