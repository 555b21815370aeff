"""S6: a store knows it is one; gc and verify delete only their own files, inside it.

A directory that is not a store is refused by every command before anything
runs (and nothing in it changes); symlinks planted inside a store are never
followed; foreign files inside a store survive gc; keys and names that could
escape the root are refused.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from runner import run
from runner.cli import main
from storage import StorageError, open_store
from storage.marker import LAYOUT_VERSION, MARKER
from tests.faults.tasks import numbers, total

COMMANDS = (["ls"], ["stats"], ["verify"], ["verify", "--repair"],
            ["gc", "--max-bytes", "0", "--keep-runs", "0"], ["migrate"], ["migrate", "--dry-run"])
OLD = time.time() - 30 * 86400


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink()
                                       else b"<dir or link>")
            for p in sorted(root.rglob("*"))}


def _plant(path: Path, text: str = "precious") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (OLD, OLD))
    return path


def _home_like(tmp_path: Path) -> Path:
    """What `digestflow gc --store ~` would see: a tmp/ and other files, no marker."""
    home = tmp_path / "home"
    for rel in ("tmp/report.txt", "quarantine/notes", "v1/thesis.tex", "docs/cv.json", ".bashrc"):
        _plant(home / rel)
    return home


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_refuses_a_directory_that_is_not_a_store(tmp_path, capsys, command):
    home = _home_like(tmp_path)
    before = _snapshot(home)
    assert main([*command, "--store", str(home)]) == 1
    err = capsys.readouterr().err
    assert "is not a digestflow store" in err and "empty directory" in err, err
    assert _snapshot(home) == before, "nothing in a foreign directory changed"


def test_run_refuses_a_foreign_directory_before_starting_anything(tmp_path, runlog):
    home = _home_like(tmp_path)
    before = _snapshot(home)
    with pytest.raises(StorageError, match="not a digestflow store"):
        run(total.bind("sum", numbers.bind("nums", 10)), store=home, executor="inline")
    assert runlog.take() == [] and _snapshot(home) == before


@pytest.mark.parametrize("where,message", [
    ("/etc/passwd", "not a directory"),
    ("/dev/null", "not a directory"),
    ("", "empty"),
    ("   ", "empty"),
    ("s3://", "names no bucket"),
])
def test_bad_store_values_are_refused_clearly(capsys, where, message):
    for command in (["ls"], ["stats"], ["verify"]):
        assert main([*command, "--store", where]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_run_with_a_file_as_store_fails_before_ray_starts(tmp_path):
    import ray

    was = ray.is_initialized()
    with pytest.raises(StorageError, match="not a directory"):
        run(numbers.bind("nums", 3), store="/dev/null")
    assert ray.is_initialized() == was, "Ray must not start for a store that cannot work"


def test_an_unwritable_store_is_refused_for_writing(tmp_path, monkeypatch):
    open_store(tmp_path / "store")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    from storage import marker

    marker.forget_checked()
    with pytest.raises(StorageError, match="not writable"):
        open_store(tmp_path / "store")
    open_store(tmp_path / "store", readonly=True)  # reading it is fine


def test_empty_or_missing_directories_become_stores(tmp_path):
    (tmp_path / "empty").mkdir()
    for where in (tmp_path / "empty", tmp_path / "missing" / "deeper"):
        store = open_store(where)
        assert json.loads((where / MARKER).read_text())["layout"] == LAYOUT_VERSION
        store.put("ab" * 32, 0, 1)
        assert open_store(where).get("ab" * 32, 0) == 1


def test_a_store_from_before_markers_is_adopted(tmp_path):
    root = tmp_path / "old"
    open_store(root).put("cd" * 32, 0, "kept")
    (root / MARKER).unlink()
    from storage import marker

    marker.forget_checked()
    assert open_store(root).get("cd" * 32, 0) == "kept"
    assert (root / MARKER).exists()


def test_a_newer_layout_is_refused(tmp_path):
    root = tmp_path / "new"
    root.mkdir()
    (root / MARKER).write_text(json.dumps({"digestflow": "store", "layout": 99}))
    with pytest.raises(StorageError, match="upgrade digestflow"):
        open_store(root)


@pytest.mark.parametrize("inside", ["tmp", "quarantine", "v2/ab", "v2", "v1/ab", "v1", "access"])
def test_gc_never_follows_a_symlink_out_of_the_store(tmp_path, inside):
    root = tmp_path / "store"
    store = open_store(root)
    store.put("ab" * 32, 0, list(range(2000)))  # a data file under v2/ab
    outside = tmp_path / "outside"
    victims = [_plant(outside / name) for name in
               ("x.1.0123456789ab.part", "0.npy", f"{'ab' * 32}-0-1/manifest.json", "a.json")]
    link = root / inside
    if link.exists():
        link.rename(tmp_path / "moved-aside")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    store.gc(max_bytes=0, temp_age=0)
    store.verify_all(repair=True)
    assert all(v.read_text() == "precious" for v in victims), "gc deleted outside the store"


def test_gc_deletes_only_names_it_writes(tmp_path):
    root = tmp_path / "store"
    store = open_store(root)
    key = "ef" * 32
    store.put(key, 0, list(range(2000)))
    mine = [_plant(root / "tmp" / "0.arrow.123.0123456789ab.part", "partial"),
            _plant(root / "v1" / "12" / ("12" * 32) / "0.plain", "orphan"),
            _plant(root / "v2" / "12" / f"{'12' * 32}.0.plain", "orphan")]
    foreign = [_plant(root / "tmp" / "user-notes.txt"), _plant(root / "quarantine" / "keep.me"),
               _plant(root / "v1" / "README"), _plant(root / "v1" / key[:2] / key / "notes.txt"),
               _plant(root / "v2" / "README"), _plant(root / "v2" / key[:2] / "notes.txt"),
               _plant(root / "v2" / key[:2] / f"{key}.notes.txt"),
               _plant(root / "v2" / key[:2] / f"{key}.00.plain"),
               _plant(root / "v2" / "12" / f"{key}.0.plain"),
               _plant(root / "docs" / "runs" / "not-json.txt")]
    report = store.gc(max_bytes=10**12, temp_age=0)
    assert sorted(report.temporaries) == sorted(str(p.relative_to(root)) for p in mine)
    assert not any(p.exists() for p in mine)
    assert all(p.read_text() == "precious" for p in foreign), "gc deleted a file not its own"
    assert store.get(key, 0) == list(range(2000)), "a valid object was lost"


@pytest.mark.parametrize("bad", ["../" * 8 + "etc/passwd", "..", "/etc/passwd", "ab" * 31 + "/..",
                                 "AB" * 32, "ab" * 32 + "\x00"])
def test_keys_that_could_escape_the_root_are_refused(tmp_path, bad):
    store = open_store(tmp_path / "store")
    for call in (lambda: store.get(bad, 0), lambda: store.put(bad, 0, 1),
                 lambda: store.delete(bad), lambda: store.manifest(bad, 0)):
        with pytest.raises(StorageError, match="invalid key"):
            call()
    for name in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(StorageError, match="invalid"):
            store.put_doc("runs", name, {})
        with pytest.raises(StorageError, match="invalid"):
            store.pin(name, [])


def test_cli_arguments_cannot_escape_the_root(tmp_path, capsys):
    root = tmp_path / "store"
    open_store(root)
    assert main(["show", "../../../etc/passwd", "--store", str(root)]) == 1
    assert "hex" in capsys.readouterr().err
    assert main(["runs", "../../../etc", "--store", str(root)]) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in root.iterdir()) == [MARKER]


def test_quarantine_never_writes_through_a_planted_symlink(tmp_path, runlog):
    from tests.faults.damage import flip_byte

    root, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    first = run(total.bind("sum", numbers.bind("nums", 5000)), store=root, executor="inline")
    (root / "quarantine").symlink_to(outside, target_is_directory=True)
    nums = next(r for r in first.report if r.task.endswith("numbers"))
    flip_byte(root, nums.key, 0)
    runlog.take()
    again = run(total.bind("sum", numbers.bind("nums", 5000), k=1), store=root,
                executor="inline")
    assert again.values == first.values + 1 and sorted(runlog.take()) == ["nums", "sum"]
    assert list(outside.iterdir()) == [], "the damaged object was deleted, not moved out"


def test_gc_through_the_api_on_a_store_object_for_a_foreign_directory(tmp_path):
    from storage import Store

    home = _home_like(tmp_path)
    before = _snapshot(home)
    for call in (lambda s: s.gc(max_bytes=0, temp_age=0), lambda s: s.verify_all(repair=True)):
        with pytest.raises(StorageError, match="not a digestflow store"):
            call(Store(str(home)))
    assert _snapshot(home) == before
