"""Early cutoff when the index's digest of a cached input is stale.

The digest a job carries for a cached input comes from the index's lookup,
which can lag the store: an index restarted from saved segments, a key
rewritten by ``cache="refresh"`` or by another driver. Cutoff must then
neither reuse outputs computed from the old content nor record the new
outputs under the old content's key.
"""

from __future__ import annotations

from runner import task
from runner.contracts import Cached, Cutoff
from runner.cutoff import find_reusable, resolved_key
from runner.work import execute_node
from storage import open_store
from tests.runner.tasks import record

PARENT, FIRST, SECOND, THIRD = "a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32
RECIPE = "e5" * 32


@task
def tenfold(x: int) -> int:
    record(f"tenfold-{x}")
    return 10 * x


def _run(store, key: str, digest: str):
    values, outcome = execute_node(
        tenfold, key, {"x": Cached(PARENT, 0, digest)}, store, write=True,
        cutoff=Cutoff(recipe=RECIPE, lookup=True))
    return values[0], outcome


def test_a_stale_digest_neither_reuses_nor_poisons(tmp_path, runlog) -> None:
    store = open_store(str(tmp_path / "store"))
    old = store.put(PARENT, 0, 1).content_digest
    assert _run(store, FIRST, old)[0] == 10
    value, outcome = _run(store, FIRST, old)  # the same input content again: reused
    assert (value, outcome.reused_from) == (10, FIRST) and runlog.take() == ["tenfold-1"]

    new = store.put(PARENT, 0, 2).content_digest  # the parent rewritten; the index lags
    value, outcome = _run(store, SECOND, old)
    assert value == 20 and outcome.reused_from is None, "reused an output of the old input"
    assert runlog.take() == ["tenfold-2"]

    # the new output is recorded under the content actually read, the old alias intact
    assert find_reusable(store, resolved_key(RECIPE, {"x": new}), tenfold)[1] == [20]
    assert find_reusable(store, resolved_key(RECIPE, {"x": old}), tenfold)[1] == [10]
    value, outcome = _run(store, THIRD, new)  # a fresh lookup's digest: reused
    assert (value, outcome.reused_from) == (20, SECOND) and runlog.take() == []
