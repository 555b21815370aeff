"""The CLI and API as a newcomer meets them: described, quiet in pipes, honest help."""

from __future__ import annotations

import argparse
import json
import os
import pydoc
import subprocess
import sys
from pathlib import Path

import runner
from runner import run
from runner.cli import build_parser, main
from storage import open_store
from tests.observability.pipeline import build

ROOT = Path(__file__).resolve().parents[2]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_and_option_is_described():
    commands = _subparsers(build_parser())
    assert {"pin", "unpin", "logs", "index"} <= set(commands)
    for name, sub in commands.items():
        assert sub.description, f"`digestflow {name} --help` has no description"
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"`digestflow {name}`: {action.dest} has no help"
    cache_help = next(a.help for a in commands["explain"]._actions if a.dest == "cache")
    for mode in ("use", "refresh", "read", "off"):
        assert f"{mode} = " in cache_help


def test_help_shows_the_real_options():
    run_help = pydoc.render_doc(runner.run, renderer=pydoc.plaintext)
    for option in ("store", "address", "cache", "executor", "raise_on_error"):
        assert f"{option}:" in run_help or f"{option}=" in run_help, option
    assert "**options" not in run_help
    task_help = pydoc.render_doc(runner.task, renderer=pydoc.plaintext)
    for option in ("num_gpus", "num_returns", "version", "cache", "name"):
        assert f"    {option} = " in task_help, option


def test_runner_lists_only_its_public_api():
    assert dir(runner) == sorted(runner.__all__)
    assert "background" not in dir(runner) and "run" in dir(runner)


def test_summary_counts_add_up(store_uri):
    first = run(build(), store=store_uri, executor="inline")
    target = first.by_id()["total-1"].key
    open_store(store_uri).gc(max_bytes=0, keep=[target])  # only the target stays stored
    result = run(build(), store=store_uri, executor="inline")
    line = result.summary()  # "7 nodes: 0 executed, 1 cached, 0 failed, 0 skipped, 6 not needed"
    total = int(line.split(" nodes:")[0])
    counts = [int(part.split()[0])
              for part in line.split(": ", 1)[1].split(" in ")[0].split(", ")]
    assert sum(counts) == total == 7, line
    assert "1 cached" in line and "6 not needed" in line


def test_a_result_prints_short_whatever_the_graph_size(store_uri):
    from runner import task

    @task
    def one(i: int) -> int:
        return i

    result = run([one.bind(i) for i in range(2000)], store=store_uri, executor="inline")
    text = repr(result)
    assert len(text) < 300, text
    assert text.startswith(f"Result(run_id={result.run_id!r}, values=[0, 1, 2, 3, 4, 5, ...]")
    assert text.endswith(f"{result.summary()})")


def test_broken_pipe_is_quiet(store_uri):
    store = open_store(store_uri)
    for i in range(3000):  # enough lines to overflow the pipe after `head` stops reading
        store.put(os.urandom(32), 0, i, task="filler")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "runner.cli", "ls", "--store", store_uri],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == "", err


def test_pin_keeps_a_runs_outputs_through_gc(capsys, store_uri):
    result = run(build(), store=store_uri, executor="inline")
    assert main(["pin", "keep-me", "--run", result.run_id, "--store", store_uri]) == 0
    assert "pinned 7 key(s) as 'keep-me'" in capsys.readouterr().out
    assert main(["pin", "--store", store_uri, "--json"]) == 0
    pins = json.loads(capsys.readouterr().out)
    assert sorted(pins["keep-me"]) == sorted(r.key for r in result.report)
    assert main(["gc", "--max-bytes", "0", "--store", store_uri]) == 0
    assert "evicted 0 objects" in capsys.readouterr().out
    assert main(["unpin", "keep-me", "--store", store_uri]) == 0
    assert main(["gc", "--max-bytes", "0", "--store", store_uri]) == 0
    assert "evicted 7 objects" in capsys.readouterr().out.splitlines()[-1]
    assert main(["unpin", "keep-me", "--store", store_uri]) == 1
    assert "no pin named 'keep-me'" in capsys.readouterr().err
