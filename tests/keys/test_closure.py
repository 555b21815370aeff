"""Code closures in one process: what joins an identity, what is named, what is left out."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

import keys
from keys import ClosureWarning, code_parts, task_identity

_SEQ = itertools.count()


def _module(tmp_path: Path, source: str) -> ModuleType:
    """Import ``source`` as a fresh user module (a file, so it has source)."""
    name = f"closure_case_{next(_SEQ)}"
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _names(identity: str) -> dict[str, str]:
    """User-code parts by name without the module prefix (packages left out)."""
    return {p.name.split(".", 1)[1]: p.kind for p in code_parts(identity)
            if p.kind != "package"}


def test_cosmetic_edits_keep_the_code_part(tmp_path: Path) -> None:
    plain = _module(tmp_path, "def f(x):\n    return x + 1\n")
    dressed = _module(tmp_path, (
        "import functools\n\n@functools.lru_cache(maxsize=3)\n"
        "def f(x):  # why\n    '''Add one.'''\n\n    return (x\n            + 1)\n"))
    changed = _module(tmp_path, "def f(x):\n    return x + 2\n")
    digest = {m: next(p.digest for p in code_parts(task_identity(m.f)) if p.kind == "code")
              for m in (plain, dressed, changed)}
    assert digest[plain] == digest[dressed] != digest[changed]


def test_parts_cover_helpers_values_classes_and_packages(tmp_path: Path) -> None:
    mod = _module(tmp_path, (
        "import numpy as np\nLIMIT = 7\n"
        "class Box:\n    size = 2\n    def area(self):\n        return self.size ** 2\n"
        "def helper(x):\n    return min(x, LIMIT)\n"
        "def f(x):\n    return helper(x) + Box().area() + np.sum([x])\n"))
    names = _names(task_identity(mod.f))
    assert names == {"f": "code", "helper": "code", "Box": "code", "Box.area": "code",
                     "Box.size": "value", "LIMIT": "value"}
    assert ("package", "numpy") in {(p.kind, p.name) for p in code_parts(task_identity(mod.f))}
    off = task_identity(mod.f, packages=False)
    assert "numpy" not in {p.name for p in code_parts(off)} and off != task_identity(mod.f)


def test_global_package_switch(tmp_path: Path) -> None:
    mod = _module(tmp_path, "import numpy as np\ndef f(x):\n    return np.sum(x)\n")
    keys.track_packages(False)
    try:
        assert "package" not in {p.kind for p in code_parts(task_identity(mod.f))}
    finally:
        keys.track_packages(True)
    assert "package" in {p.kind for p in code_parts(task_identity(mod.f))}


def test_unidentifiable_value_warns_with_its_name_and_can_be_excluded(tmp_path: Path) -> None:
    mod = _module(tmp_path, (
        "import threading, logging\nLOCK = threading.Lock()\nlog = logging.getLogger('x')\n"
        "def f(x):\n    log.info('x')\n    with LOCK:\n        return x\n"))
    with pytest.warns(ClosureWarning) as caught:
        ident = task_identity(mod.f)
    message = str(caught[0].message)
    assert mod.__name__ + ".f" in message and "LOCK" in message and "exclude" in message
    assert "log" not in message.replace("logging", "")  # loggers are left out silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = task_identity(mod.f, exclude=["LOCK"])
    assert quiet == ident  # the unidentified part never entered the digest
    assert "unidentified" not in {p.kind for p in code_parts(quiet)}


def test_includes_reach_what_analysis_cannot(tmp_path: Path) -> None:
    one = _module(tmp_path, "def hidden(x):\n    return x + 1\n"
                            "def f(x):\n    return globals()['hid' + 'den'](x)\n")
    two = _module(tmp_path, "def hidden(x):\n    return x + 2\n"
                            "def f(x):\n    return globals()['hid' + 'den'](x)\n")
    assert _names(task_identity(one.f)) == {"f": "code"}
    with_one = task_identity(one.f, includes=[one.hidden])
    with_two = task_identity(two.f, includes=[two.hidden])
    assert "hidden" in _names(with_one)
    assert with_one.split("@")[1] != with_two.split("@")[1]


def test_cycles_terminate_and_identity_is_computed_once(tmp_path: Path) -> None:
    mod = _module(tmp_path, (
        "def even(n):\n    return n == 0 or odd(n - 1)\n"
        "def odd(n):\n    return n != 0 and even(n - 1)\n"
        "LOOP = []\nLOOP.append(LOOP)\nLOOP.append(even)\n"
        "def f(n):\n    return even(n) and LOOP\n"))
    ident = task_identity(mod.f)
    assert {"even", "odd", "f"} <= set(_names(ident))
    assert task_identity(mod.f) is ident


def test_explicit_version_replaces_the_closure(tmp_path: Path) -> None:
    mod = _module(tmp_path, "SCALE = 2\ndef f(x):\n    return x * SCALE\n")
    assert task_identity(mod.f, "3") == f"{mod.__name__}.f@v=3"
    assert code_parts(task_identity(mod.f, "3")) == ()
