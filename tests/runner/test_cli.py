"""``digestflow run`` as a user types it, in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "runner.cli"]


def digestflow(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_run_pipeline_file_twice(tmp_path):
    store = str(tmp_path / "store")
    first = digestflow("run", "examples/images.py", "--executor", "inline", "--store", store)
    assert first.returncode == 0, first.stderr
    assert "17 nodes: 17 executed, 0 cached, 0 failed" in first.stdout
    second = digestflow("run", "examples/images.py:masks", "--executor", "inline",
                        "--store", store)
    assert second.returncode == 0, second.stderr
    assert "16 nodes: 0 executed, 16 cached, 0 failed" in second.stdout


def test_run_json_prompt_with_registry(tmp_path, runlog):
    prompt = {
        "1": {"class_type": "source", "inputs": {"label": "cli-src", "value": 2}},
        "2": {"class_type": "combine", "inputs": {"label": "cli-sum", "parts[0]": ["1", 0],
                                                  "k": 40}},
    }
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps(prompt))
    store = str(tmp_path / "store")
    args = ("run", str(path), "--registry", "tests.runner.tasks", "--executor", "inline",
            "--store", store)
    out = digestflow(*args)
    assert out.returncode == 0, out.stderr
    assert "2 executed" in out.stdout
    assert runlog.take() == ["cli-src", "cli-sum"]
    assert "0 executed, 2 cached" in digestflow(*args).stdout


def test_errors_are_one_clear_line(tmp_path):
    missing = digestflow("run", "no_such_pipeline.py")
    assert missing.returncode == 1
    assert "digestflow run: no such pipeline file: no_such_pipeline.py" in missing.stderr
    noreg = tmp_path / "g.json"
    noreg.write_text("{}")
    out = digestflow("run", str(noreg))
    assert "pass --registry MODULE" in out.stderr and out.returncode == 1
    wrong = digestflow("run", "examples/images.py:nope", "--executor", "inline")
    assert "defines no 'nope'" in wrong.stderr and "TARGETS" in wrong.stderr


def test_failed_node_exits_nonzero_with_traceback(tmp_path):
    pipeline = tmp_path / "bad.py"
    pipeline.write_text(
        "from tests.runner.tasks import boom, source\n"
        "TARGETS = [boom.bind('cli-boom', source.bind('cli-ok', 1))]\n"
    )
    out = digestflow("run", str(pipeline), "--executor", "inline", "--store",
                     str(tmp_path / "store"))
    assert out.returncode == 1
    assert "boom-1" in out.stderr and "ValueError: boom in cli-boom with x=1" in out.stderr


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_embedded_ray_runs_gpu_tasks_on_the_cpu_with_one_warning(tmp_path):
    pipeline = tmp_path / "gpu.py"
    pipeline.write_text(
        "from runner import task\n"
        "@task(num_gpus=1)\n"
        "def on_gpu(x: int) -> int:\n"
        "    return x * 2\n"
        "TARGETS = [on_gpu.bind(1), on_gpu.bind(2)]\n"
    )
    out = digestflow("run", str(pipeline), "--store", str(tmp_path / "store"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 nodes: 2 executed" in out.stdout
    assert out.stderr.count("asks for 1 GPU(s) but this machine has none") == 1
