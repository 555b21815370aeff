"""Code edits between runs, each run in a fresh process: a task re-runs exactly when
something its code reaches changed, and ``explain`` names that part.

The project lives in a temporary folder (a pipeline module, a helper module and a
fake installed distribution); tasks append their name to a file when they execute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HELPERS = '''
SCALE = {scale}

def bump(x):
    return x + {bump}

def bump_scaled(x):
    return x * SCALE

def unused():
    return {unused}

class Model:
    def apply(self, x):
        return x * {method}
'''

PIPE = '''
import os
from runner import task
import helpers
import fakepkg

OFFSET = {offset}

def _log(name):
    with open(os.environ["RECORD"], "a") as fh:
        fh.write(name + "\\n")

def local_helper(x):{local_comment}
    return x + {local}

def scaled(x, factor={default}):
    return x * factor

def even(n):
    return n == 0 or odd(n - 1)

def odd(n):
    return n != 0 and even(n - {odd})

def make_adder(c):
    def add(x):
        return x + c
    return add

ADD = make_adder({closure})

@task
def t_local(x):
    _log("t_local")
    return local_helper(x)

@task
def t_other(x):
    _log("t_other")
    return helpers.bump(x)

@task
def t_const(x):
    _log("t_const")
    return x + OFFSET

@task
def t_other_const(x):
    _log("t_other_const")
    return helpers.bump_scaled(x)

@task
def t_method(x):
    _log("t_method")
    return helpers.Model().apply(x)

@task
def t_closure(x):
    _log("t_closure")
    return ADD(x)

@task
def t_default(x):
    _log("t_default")
    return scaled(x)

@task
def t_recursive(x):
    _log("t_recursive")
    return even(x)

@task
def t_package(x):
    _log("t_package")
    return fakepkg.scale(x)

@task({options})
def t_cosmetic(x):
    {doc}
    _log("t_cosmetic")
    return x * 2

TARGETS = {{t.__name__: t.bind(4) for t in (t_local, t_other, t_const, t_other_const,
            t_method, t_closure, t_default, t_recursive, t_package, t_cosmetic)}}
'''

DRIVER = '''
import json, sys
from runner import explain, run
import pipe

reasons = {n.id: n.reason for n in explain(pipe.TARGETS, store=sys.argv[1]).nodes
           if n.status == "will run"}
result = run(pipe.TARGETS, store=sys.argv[1], executor="inline")
print(json.dumps({"reasons": reasons}))
'''

BASE = dict(scale=2, bump=1, unused=1, method=3, offset=1, local=1, local_comment="",
            default=2, odd=1, closure=10, options="", doc='"""Double."""', version="1.0")


def _write(project: Path, **changes: object) -> None:
    params = {**BASE, **changes}
    (project / "helpers.py").write_text(HELPERS.format(**params))
    (project / "pipe.py").write_text(PIPE.format(**params))
    (project / "drive.py").write_text(DRIVER)
    site = project / "site"
    (site / "fakepkg").mkdir(parents=True, exist_ok=True)
    (site / "fakepkg" / "__init__.py").write_text("def scale(x):\n    return 3 * x\n")
    for old in site.glob("fakepkg-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    info = site / f"fakepkg-{params['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {params['version']}\n")


def _run(project: Path, store: Path) -> tuple[list[str], dict[str, str]]:
    record = project / "record.txt"
    record.write_text("")
    env = {**os.environ, "RECORD": str(record),
           "PYTHONPATH": os.pathsep.join([str(project), str(project / "site"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "drive.py", str(store)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return sorted(record.read_text().split()), out["reasons"]


@pytest.mark.slow
def test_code_edits_rerun_exactly_what_they_touch(tmp_path: Path) -> None:
    project, store = tmp_path / "project", tmp_path / "store"
    project.mkdir()
    _write(project)
    ran, _ = _run(project, store)
    assert len(ran) == 10

    # Cosmetic edits and an edit to a function no task references: nothing re-runs.
    _write(project, local_comment="  # a comment\n    # another one", unused=99,
           options="num_cpus=1", doc='"""Double the input, as documented."""')
    assert _run(project, store) == ([], {})

    # One real edit per task: exactly that task re-runs, and explain names the part.
    _write(project, local=2, bump=5, offset=5, scale=4, method=7, closure=20, default=3,
           odd=2, version="2.0")
    ran, reasons = _run(project, store)
    assert ran == ["t_closure", "t_const", "t_default", "t_local", "t_method",
                   "t_other", "t_other_const", "t_package", "t_recursive"]
    assert reasons == {
        "t_local-1": "helper `local_helper` changed",
        "t_other-1": "helper `helpers.bump` changed",
        "t_const-1": "global `OFFSET` changed (1 -> 5)",
        "t_other_const-1": "global `helpers.SCALE` changed (2 -> 4)",
        "t_method-1": "helper `helpers.Model.apply` changed",
        "t_closure-1": "closure value `c` of `make_adder.<locals>.add` changed (10 -> 20)",
        # the default sits in the helper's source too: both are named
        "t_default-1": "helper `scaled` changed; default `factor` of `scaled` changed (2 -> 3)",
        "t_recursive-1": "helper `odd` changed",
        "t_package-1": "fakepkg 1.0 -> 2.0",
    }

    # Back to the first code: every key is one computed before, nothing re-runs.
    _write(project)
    assert _run(project, store) == ([], {})

