"""CLI commands: human output by default, --json that round-trips, plain text in pipes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keys import Key
from runner import run
from runner.cli import main
from runner.records import RunHistory
from storage import open_store
from tests.layouts import object_paths
from tests.observability.pipeline import build

REPO = Path(__file__).resolve().parents[2]


def cli_json(capsys, *argv: str):
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_records_and_runs_command(capsys, store_uri: str) -> None:
    first = run(build(), store=store_uri, executor="inline")
    second = run(build(factor=3), store=store_uri, executor="inline")
    runs = cli_json(capsys, "runs", "--store", store_uri)
    assert [r["run_id"] for r in runs] == [second.run_id, first.run_id]
    rec = runs[0]
    assert rec["cache"] == "use" and rec["executor"] == "inline"
    assert rec["targets"] == ["total-1:0"]
    assert rec["started"] <= rec["finished"]
    nodes = {n["id"]: n for n in rec["nodes"]}
    assert nodes["load-1"]["status"] == "cached" and nodes["scale-1"]["status"] == "executed"
    assert nodes["scale-1"]["key"] == second.by_id()["scale-1"].key
    assert nodes["scale-1"]["bytes"] > 0 and nodes["scale-1"]["seconds"] >= 0
    store = open_store(store_uri)
    recipes = store.get_doc("recipes", store.list_docs("runs")[-1])
    assert set(recipes["recipes"]) == {n["key"] for n in rec["nodes"] if n["status"] != "cached"}
    history = RunHistory(store)  # a key found stored: its recipe is the run's that computed it
    newest, load = history.latest(), nodes["load-1"]["key"]
    assert newest.run_id == second.run_id
    assert history.recipe(newest, load) == first.signer.recipe(Key.fromhex(load)).to_dict()
    one = cli_json(capsys, "runs", second.run_id[-6:], "--store", store_uri)
    assert one == rec
    assert main(["runs", "--store", store_uri]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:4] == ["run", "started", "seconds", "executed"]
    assert second.run_id in text.splitlines()[1]


def test_record_write_failure_does_not_fail_the_run(store_uri: str, caplog) -> None:
    store = open_store(store_uri)

    def broken(*a, **k):
        raise OSError("read-only store")

    store.put_doc = broken  # type: ignore[method-assign]
    result = run(build(), store=store, executor="inline")
    assert result.ok
    assert "could not write the run record" in caplog.text


def test_failed_node_record_keeps_error_and_traceback_tail(store_uri: str) -> None:
    from tests.observability.pipeline import explode, load

    run(explode.bind(load.bind(1)), store=store_uri, executor="inline", raise_on_error=False)
    store = open_store(store_uri)
    rec = store.get_doc("runs", store.list_docs("runs")[-1])
    node = {n["id"]: n for n in rec["nodes"]}["explode-1"]
    assert node["status"] == "failed"
    assert node["error"] == "ValueError: cannot explode 4 values"
    assert node["traceback"].splitlines()[-1] == "ValueError: cannot explode 4 values"


def test_stats_ls_show(capsys, store_uri: str) -> None:
    result = run(build(), store=store_uri, executor="inline")
    stats = cli_json(capsys, "stats", "--store", store_uri)
    st = open_store(store_uri).stats()
    assert stats["objects"] == st.objects == 7 and stats["bytes"] == st.bytes
    assert stats["by_task"]["load"]["objects"] == 2 and stats["runs"] == 1
    assert set(stats["by_codec"]) == {"plain"}
    listed = cli_json(capsys, "ls", "--task", "clip", "--store", store_uri)
    assert sorted(m["key"] for m in listed) == sorted(
        r.key for r in result.report if r.task == "clip")
    key = result.by_id()["clip-2"].key
    shown = cli_json(capsys, "show", key[:10], "--store", store_uri)
    assert shown["key"] == key
    assert shown["run"]["run_id"] == result.run_id and shown["run"]["node"] == "clip-2"
    assert shown["recipe"]["identity"].endswith("pipeline.clip@v=1")
    assert [lit["preview"] for lit in shown["recipe"]["literals"]] == ["50"]
    assert shown["manifests"][0]["task"] == "clip"
    assert main(["show", key[:10], "--store", store_uri]) == 0
    text = capsys.readouterr().out
    assert f"produced by run {result.run_id}" in text and "literal   limit = 50" in text
    assert main(["show", "zz", "--store", store_uri]) == 1
    assert "at least 4 hex digits" in capsys.readouterr().err


def test_show_refuses_an_ambiguous_prefix(capsys, store_uri: str) -> None:
    store = open_store(store_uri)
    store.put("ab" + "0" * 62, 0, 1)
    store.put("ab" + "1" * 62, 0, 2)
    assert main(["show", "ab00", "--store", store_uri]) == 0
    capsys.readouterr()
    assert main(["show", "ab", "--store", store_uri]) == 1  # too short
    assert main(["show", "ab0", "--store", store_uri]) == 1  # too short as well
    store.put("ab00" + "2" * 60, 0, 3)
    assert main(["show", "ab00", "--store", store_uri]) == 1
    assert "ambiguous" in capsys.readouterr().err


def test_gc_and_verify(capsys, store_uri: str) -> None:
    run(build(), store=store_uri, executor="inline")
    total = open_store(store_uri).stats().bytes
    dry = cli_json(capsys, "gc", "--max-bytes", "0", "--dry-run", "--store", store_uri)
    assert dry["dry_run"] and len(dry["evicted"]) == 7 and dry["freed_bytes"] == total
    assert open_store(store_uri).stats().objects == 7
    assert cli_json(capsys, "verify", "--store", store_uri) == []
    victim = Path(store_uri) / next(p for p in object_paths(open_store(store_uri))
                                    if p.endswith(".0.manifest.json"))
    manifest = json.loads(victim.read_text())  # small outputs are inline: flip one stored bit
    data = bytearray(base64.b64decode(manifest["inline"]))
    data[-2] ^= 0x01
    victim.write_text(json.dumps({**manifest, "inline": base64.b64encode(data).decode()}))
    assert main(["verify", "--store", store_uri]) == 1
    assert "broken" in capsys.readouterr().out
    issues = cli_json(capsys, "verify", "--repair", "--store", store_uri)
    assert len(issues) == 1 and issues[0]["repaired"]
    done = cli_json(capsys, "gc", "--max-bytes", "1G", "--store", store_uri)
    assert done["evicted"] == [] and not done["dry_run"]
    assert cli_json(capsys, "gc", "--max-bytes", "0", "--store", store_uri)["bytes_after"] == 0
    assert open_store(store_uri).stats().objects == 0
    assert main(["gc", "--store", store_uri]) == 1


@pytest.mark.parametrize("size,expected", [("50G", 50 * 10**9), ("1.5Ki", 1536),
                                           ("200MB", 200 * 10**6), ("0", 0)])
def test_sizes(size: str, expected: int) -> None:
    from runner.cli.output import parse_size

    assert parse_size(size) == expected


def test_run_cli_in_a_pipe_has_no_escapes_and_a_summary(tmp_path: Path, pipeline_file) -> None:
    """stdout and stderr are pipes: no progress spinner, no ANSI, no carriage returns."""
    store = str(tmp_path / "store")
    env = dict(os.environ, PYTHONPATH=str(REPO), TERM="xterm-256color")
    env.pop("FORCE_COLOR", None)
    cmd = [sys.executable, "-m", "runner.cli", "run", pipeline_file(), "--store", store,
           "--executor", "inline"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert "\x1b" not in stream and "\r" not in stream
    assert proc.stderr == ""
    out = proc.stdout
    assert "cache hit rate 0%" in out
    cells = [line.split() for line in out.splitlines()]
    rows = {c[0]: c[1:] for c in cells if c and c[0] in ("load", "scale", "clip", "total")}
    assert len(rows) == 4
    assert rows["scale"][:4] == ["0", "2", "0", "0"]  # cached, executed, failed, skipped
    assert rows["total"][:4] == ["0", "1", "0", "0"]
    again = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=120)
    data = json.loads(again.stdout)
    assert data["summary"]["hit_rate"] == 1.0
    assert {n["status"] for n in data["nodes"]} == {"cached"}


def test_explain_cli(capsys, store_uri: str, pipeline_file) -> None:
    assert main(["run", pipeline_file(2), "--store", store_uri, "--executor", "inline",
                 "--quiet"]) == 0
    path = pipeline_file(4)
    got = cli_json(capsys, "explain", path, "--store", store_uri)
    by_id = {n["id"]: n for n in got["nodes"]}
    assert by_id["scale-1"]["reason"].endswith("2 -> 4)") and by_id["scale-1"]["first_cause"]
    assert main(["explain", path, "clip-1", "--store", store_uri]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "upstream `scale-1` changed (because: literal `factor`" in lines[1]


def test_gc_keeps_only_the_newest_run_records(capsys, store_uri: str) -> None:
    for factor in (2, 3, 4):
        run(build(factor=factor), store=store_uri, executor="inline")
    store = open_store(store_uri)
    names = sorted(store.list_docs("runs"))
    assert len(names) == 3 and sorted(store.list_docs("recipes")) == names
    dry = cli_json(capsys, "gc", "--keep-runs", "1", "--dry-run", "--store", store_uri)
    assert dry["pruned_runs"] == names[1::-1] and len(store.list_docs("runs")) == 3
    done = cli_json(capsys, "gc", "--keep-runs", "1", "--store", store_uri)
    assert done["pruned_runs"] == names[1::-1] and done["evicted"] == []
    assert store.list_docs("runs") == store.list_docs("recipes") == [names[-1]]
    assert main(["gc", "--keep-runs", "-1", "--store", store_uri]) == 1
    assert "--keep-runs must be >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [
    {"run_id": "x", "started": 1.0, "finished": 2.0, "nodes": [{"id": "a"}]},
    {"run_id": "x", "started": 1.0, "finished": 2.0, "nodes": [{"id": "a", "key": 7,
                                                              "status": "executed"}]},
    {"run_id": "x", "started": 1.0, "finished": 2.0, "nodes": "abc"},
    {"run_id": "x", "started": 1.0, "finished": 2.0, "nodes": [["id", "a"]]},
    {"run_id": "x", "started": "soon", "finished": 2.0},
    [1, 2, 3],
])
def test_a_malformed_run_record_is_skipped_by_runs_and_explain(capsys, store_uri: str,
                                                               pipeline_file, bad) -> None:
    assert main(["run", pipeline_file(2), "--store", store_uri, "--executor", "inline",
                 "--quiet"]) == 0
    store = open_store(store_uri)
    good = store.list_docs("runs")
    store.put_doc("runs", "99999999-999999-zzzzzz.broken", bad)  # newest by name
    runs = cli_json(capsys, "runs", "--store", store_uri)
    assert [r["run_id"] for r in runs] == [good[0].split(".", 1)[-1]]
    got = cli_json(capsys, "explain", pipeline_file(4), "--store", store_uri)
    by_id = {n["id"]: n for n in got["nodes"]}
    assert by_id["scale-1"]["reason"].endswith("2 -> 4)"), "compared with the readable run"


@pytest.mark.parametrize("recipes", [[1, 2], {"*": {"links": 5, "literals": "x"}}, {"*": 3}])
def test_explain_survives_malformed_stored_recipes(capsys, store_uri: str, pipeline_file,
                                                   recipes) -> None:
    assert main(["run", pipeline_file(2), "--store", store_uri, "--executor", "inline",
                 "--quiet"]) == 0
    store = open_store(store_uri)
    name = store.list_docs("runs")[0]
    keys = store.get_doc("recipes", name)["recipes"]
    if isinstance(recipes, dict):  # the same garbage under every key the run recorded
        recipes = {key: recipes["*"] for key in keys}
    store.put_doc("recipes", name, {"recipes": recipes})
    got = cli_json(capsys, "explain", pipeline_file(4), "--store", store_uri)
    by_id = {n["id"]: n for n in got["nodes"]}
    assert by_id["scale-1"]["reason"] in (
        f"key changed (run {name.split('.', 1)[-1]}'s recipe is unreadable)",
        f"key changed (run {name.split('.', 1)[-1]} kept no recipe)")
