"""``run()`` works wherever Python runs: inside a running event loop, from threads
that exit, and in a real Jupyter kernel, each time starting the embedded Ray itself.

Ray's embedded processes die with the thread that spawned them
(PR_SET_PDEATHSIG); before the fix the second call in a loop or a notebook
hung on a dead GCS and the process died. Each scenario runs in its own
process, so the embedded cluster is really started by ``run()``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).parent / "drivers" / "anywhere.py"
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.pop("DIGESTFLOW_STORE", None)
    return env


def _drive(mode: str, store: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, str(DRIVER), mode, str(store)], env=_env(),
                          capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("mode", ["loop", "threads"])
def test_run_twice_starting_the_embedded_ray(mode: str, tmp_path: Path) -> None:
    lines = _drive(mode, tmp_path / "store")
    assert [(d["value"], d["executed"]) for d in lines] == [(3, 1), (30, 1)]
    # computed by Ray workers, not in the driver
    assert all(d["pid"] != 0 for d in lines) and lines[0]["pid"] != os.getpid()


_CELLS = [
    """\
import os
from runner import run, run_async, task

STORE = {store!r}

@task
def add(a, b):
    return a + b, os.getpid()
""",
    "first = run(add.bind(1, 2), store=STORE)\nfirst.values",
    "second = run(add.bind(10, 20), store=STORE)\nsecond.values",
    "third = await run_async(add.bind(100, 200), store=STORE)\nthird.values",
    "import json; print(json.dumps([[r.values[0], r.values[1], r.executed] "
    "for r in (first, second, third)] + [os.getpid()]))",
]


def test_a_jupyter_kernel_runs_on_ray_cell_after_cell(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    store = str(tmp_path / "store")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src.format(store=store) if "{store" in src else src)
                for src in _CELLS]
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    os.environ.pop("RAY_ADDRESS", None)
    client.execute()  # raises CellExecutionError (with the traceback) if a cell fails
    out = "".join(o["text"] for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    *runs, kernel_pid = json.loads(out)
    assert [(v, ex) for v, _, ex in runs] == [(3, ["add-1"]), (30, ["add-1"]), (300, ["add-1"])]
    assert all(pid != kernel_pid for _, pid, _ in runs), "tasks ran in the kernel, not on Ray"
    noise = "".join(o.get("text", "") for c in nb.cells for o in c.outputs
                    if o.get("name") == "stderr")
    assert "SIGTERM handler" not in noise and "Traceback" not in noise, noise
    shown = [o["data"]["text/plain"] for c in nb.cells[1:4] for o in c.outputs
             if o["output_type"] == "execute_result"]
    assert shown == [f"(3, {runs[0][1]})", f"(30, {runs[1][1]})", f"(300, {runs[2][1]})"]
