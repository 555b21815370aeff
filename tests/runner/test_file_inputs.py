"""``keys.File`` inputs, fingerprints and prompt ``no_cache``: what re-runs, and why.

File runs happen in fresh processes, so the stat records kept in the store are what
spares re-hashing an unchanged file; each run prints how many files it hashed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keys import File, SigningError
from runner import explain, run, task
from runner.file_inputs import PathLiteralWarning
from runner.graph import Graph

ROOT = Path(__file__).resolve().parents[2]

PIPE = '''
import json, os, sys
from keys import File
from keys.files import STATS
from runner import explain, run, task

@task
def count_lines(path):
    with open(os.environ["RECORD"], "a") as fh:
        fh.write(f"{path}\\n")
    with open(path) as fh:
        return len(fh.read().splitlines())

target = count_lines.bind(File(sys.argv[2]))
why = {n.id: n.reason for n in explain(target, store=sys.argv[1]).nodes
       if n.status == "will run"}
result = run(target, store=sys.argv[1], executor="inline")
print(json.dumps({"value": result.values, "hashed": STATS.hashed, "why": why}))
'''


def _run(project: Path, store: Path, path: str, cwd: Path | None = None) -> dict:
    record = project / "record.txt"
    env = {**os.environ, "RECORD": str(record), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(project / "pipe.py"), str(store), path],
                          cwd=cwd or project, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["ran"] = record.read_text().split() if record.exists() else []
    record.write_text("")
    return out


@pytest.mark.slow
def test_file_contents_key_the_node_and_unchanged_files_are_not_rehashed(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    project.mkdir()
    (project / "pipe.py").write_text(PIPE)
    data = project / "data.txt"
    data.write_text("a\nb\n")

    first = _run(project, store, str(data))
    assert (first["value"], first["hashed"], first["ran"]) == (2, 1, [str(data)])

    again = _run(project, store, str(data))  # new process: the store's stat record answers
    assert (again["value"], again["hashed"], again["ran"]) == (2, 0, [])

    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**9))
    touched = _run(project, store, str(data))  # new stat: hashed once, same contents: cached
    assert (touched["hashed"], touched["ran"]) == (1, [])

    data.write_text("a\nb\nc\n")
    edited = _run(project, store, str(data))
    assert (edited["value"], edited["ran"]) == (3, [str(data)])
    assert edited["why"] == {"count_lines-1": f"file `{data}` changed (input `path`)"}


@pytest.mark.slow
def test_same_relative_path_in_two_folders_never_shares_a_result(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    project.mkdir()
    (project / "pipe.py").write_text(PIPE)
    for name, text in (("one", "x\n"), ("two", "x\ny\nz\n")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data.txt").write_text(text)
    one = _run(project, store, "data.txt", cwd=tmp_path / "one")
    two = _run(project, store, "data.txt", cwd=tmp_path / "two")
    assert (one["value"], one["ran"]) == (1, ["data.txt"])
    assert (two["value"], two["ran"]) == (3, ["data.txt"])


def test_directory_contents_and_the_task_gets_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("1")
    (folder / "sub" / "b.txt").write_text("2")

    @task
    def files_in(path):
        return sorted(str(p.relative_to(path)) for p in Path(path).rglob("*.txt"))

    node = files_in.bind(File(folder))
    store = tmp_path / "store"
    assert run(node, store=store, executor="inline").values == ["a.txt", "sub/b.txt"]
    assert run(node, store=store, executor="inline").report[0].status == "cached"
    (folder / "sub" / "c.txt").write_text("3")
    again = run(files_in.bind(File(folder)), store=store, executor="inline")
    assert (again.values, again.report[0].status) == (["a.txt", "sub/b.txt", "sub/c.txt"],
                                                      "executed")


def test_plain_path_literals_naming_files_warn_once(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("x")

    @task
    def load(path):
        return path

    with pytest.warns(PathLiteralWarning) as caught:
        run([load.bind(str(data)), load.bind(data), load.bind("not/a/file.csv")],
            store=tmp_path / "store", executor="inline")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "2 path literal(s)" in message and "keys.File" in message and str(data) in message


def test_missing_file_is_an_error_naming_node_and_input(tmp_path: Path) -> None:
    @task
    def load(path):
        return path

    with pytest.raises(SigningError, match=r"input 'path' of node 'load-1'.*nope\.txt"):
        run(load.bind(File(tmp_path / "nope.txt")), store=tmp_path / "s", executor="inline")


def test_fingerprint_joins_the_key(tmp_path: Path) -> None:
    remote = {"etag": "v1"}
    calls = []

    def etag(url):
        return remote["etag"] + url[:0]

    @task(fingerprint=etag)
    def fetch(url, retries=3):
        calls.append(url)
        return f"{url}@{remote['etag']}"

    store = tmp_path / "store"
    node = fetch.bind("s3://b/model")
    assert run(node, store=store, executor="inline").values == "s3://b/model@v1"
    assert run(node, store=store, executor="inline").report[0].status == "cached"
    remote["etag"] = "v2"
    why = explain(node, store=store).by_id()["fetch-1"]
    assert why.status == "will run" and why.reason.startswith("fingerprint changed")
    assert run(node, store=store, executor="inline").values == "s3://b/model@v2"
    assert calls == ["s3://b/model", "s3://b/model"]


def test_fingerprint_errors_name_the_node(tmp_path: Path) -> None:
    def broken(url):
        raise RuntimeError("registry down")

    @task(fingerprint=broken)
    def fetch(url):
        return url

    with pytest.raises(SigningError, match=r"fingerprint of node 'fetch-1' \(task fetch\) "
                                           r"raised RuntimeError: registry down"):
        run(fetch.bind("x"), store=tmp_path / "s", executor="inline")


def test_prompt_no_cache_and_unknown_node_keys(tmp_path: Path) -> None:
    runs = []

    @task
    def now(tag):
        runs.append(tag)
        return tag

    prompt = {"1": {"class_type": "now", "inputs": {"tag": "a"}, "no_cache": True},
              "2": {"class_type": "now", "inputs": {"tag": "b"}, "_meta": {"title": "B"}}}
    store = tmp_path / "store"
    for _ in range(2):
        run(Graph.from_prompt(prompt, [now]), store=store, executor="inline")
    assert runs == ["a", "b", "a"]
    with pytest.warns(UserWarning, match=r"node '3': ignoring unknown key\(s\) \['is_changed'\]"):
        Graph.from_prompt({"3": {"class_type": "now", "inputs": {"tag": "c"},
                                 "is_changed": 1}}, [now])
