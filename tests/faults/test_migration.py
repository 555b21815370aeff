"""A store written by an older digestflow (layout 1) keeps serving its cache, before,
during and after ``digestflow migrate``; a migration killed with SIGKILL at any step
loses nothing and resumes when run again."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from runner import run
from runner.cli import main
from storage import open_store, refs
from storage.marker import forget_checked
from storage.migrate import migrate
from tests.faults.tasks import numbers, total
from tests.layouts import layouts_present, object_paths, to_layout_1
from tests.processes import kill_when_stalled


def _pipeline(k: int = 0):
    arrays = [numbers.bind(f"nums{i}", 1000 + i) for i in range(3)]
    return [total.bind(f"sum{i}", a, k=k) for i, a in enumerate(arrays)]


def test_a_migrated_store_serves_the_same_cache(tmp_path, runlog, capsys):
    root = tmp_path / "store"
    first = run(_pipeline(), store=root, executor="inline")
    assert len(runlog.take()) == 6
    to_layout_1(open_store(root))  # as digestflow before layout 2 left it
    assert layouts_present(open_store(root)) == {1}
    again = run(_pipeline(), store=root, executor="inline")
    assert again.values == first.values and runlog.take() == [], "layout 1 is read as is"
    assert main(["migrate", "--dry-run", "--json", "--store", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)["moved"] == 6
    assert layouts_present(open_store(root)) == {1}, "a dry run moves nothing"
    assert main(["migrate", "--json", "--store", str(root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["moved"], report["remaining"], report["layout_after"]) == (6, 0, 2)
    forget_checked()
    assert layouts_present(open_store(root)) == {2}
    after = run(_pipeline(), store=root, executor="inline")
    assert after.values == first.values and runlog.take() == [], "nothing recomputed"
    assert [r.key for r in after.report] == [r.key for r in first.report]
    assert run(_pipeline(k=1), store=root, executor="inline").values == [
        v + 1 for v in first.values]
    assert runlog.take() == ["sum0", "sum1", "sum2"], "cached inputs read from layout 2"


_CHILD = textwrap.dedent("""
    import sys, time
    from storage import open_store
    from storage.backends import LocalBackend
    from storage.migrate import migrate

    root, method, which, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    original = getattr(LocalBackend, method)
    seen = 0

    def stalling(self, path, *args):
        global seen
        if path.startswith(which[:3]) and path.endswith(".manifest.json") == (which[3:] == "m"):
            seen += 1
            if seen == n:
                print("STALLED", flush=True)
                time.sleep(600)
        return original(self, path, *args)

    setattr(LocalBackend, method, stalling)
    migrate(open_store(root))
    print("DONE", flush=True)
""")

# (backend method, which path: layout dir + "m" manifest / "d" data) to stop before
KILL_POINTS = {
    "before-copying-data": ("copy", "v1/d"),
    "before-writing-the-new-manifest": ("write_bytes", "v2/m"),
    "before-deleting-the-old-manifest": ("delete", "v1/m"),
    "before-deleting-the-old-data": ("delete", "v1/d"),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_killed_migration_loses_nothing_and_resumes(tmp_path, point):
    root = tmp_path / "store"
    store = open_store(root)
    values = {}
    for i in range(24):  # a data file each, and an inline sibling
        k = f"{i:02x}" * 32
        values[(k, 0)] = np.arange(1000 + i, dtype=np.int64)
        values[(k, 1)] = f"small {i}"
        store.put(k, 0, values[(k, 0)])
        store.put(k, 1, values[(k, 1)])
    to_layout_1(store)
    method, which = KILL_POINTS[point]
    kill_when_stalled(_CHILD, root, method, which, "10")
    forget_checked()
    killed = open_store(root)
    assert layouts_present(killed) == {1, 2}, "killed mid-way"
    for ref, value in values.items():  # every object reads, and reads right, meanwhile
        assert _equal(killed.get(*ref), value), ref
    report = migrate(killed)
    assert report.remaining == 0 and report.quarantined == 0 and report.layout_after == 2
    assert report.moved + report.duplicates <= len(values) and report.moved > 0
    forget_checked()
    done = open_store(root)
    assert layouts_present(done) == {2}
    assert all(_equal(done.get(*ref), value) for ref, value in values.items())
    assert done.verify_all() == []
    done.gc(temp_age=0)
    assert not list(done.backend.list_files("tmp")), "a temporary of the killed copy is gone"
    paths = object_paths(done)
    assert all(p.startswith(refs.FORMAT_DIR) for p in paths), "nothing left in layout 1"
    assert len(paths) == len(values) + len(values) // 2, "one manifest each + data files"


def _equal(a: object, b: object) -> bool:
    if isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and np.array_equal(a, b)
    return a == b


def test_ray_workers_read_cached_inputs_from_layout_1(store_uri, runlog, ray_session):
    """A worker learns the store's layout from its marker and falls back as the driver."""
    first = run(_pipeline(), store=store_uri, executor="ray")
    runlog.take()
    to_layout_1(open_store(store_uri))
    changed = run(_pipeline(k=1), store=store_uri, executor="ray")
    assert changed.values == [v + 1 for v in first.values]
    assert runlog.take() == ["sum0", "sum1", "sum2"], "the arrays were read, not recomputed"
