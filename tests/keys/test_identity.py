"""task_identity: explicit versions, source digests, code-object fallback."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

from keys import task_identity

ROOT = Path(__file__).resolve().parents[2]


def sample(x: int) -> int:
    return x + 1


def test_explicit_version() -> None:
    assert task_identity(sample, "2") == "tests.keys.test_identity.sample@v=2"


def test_source_digest_changes_when_source_changes() -> None:
    ns1: dict[str, object] = {}
    ns2: dict[str, object] = {}
    exec("def f(x):\n    return x + 1\n", ns1)
    exec("def f(x):\n    return x + 2\n", ns2)
    ident = task_identity(sample)
    assert (
        ident.startswith("tests.keys.test_identity.sample@code=") and len(ident.split("=")[1]) == 64
    )
    # exec'd functions have no source: the code object decides
    assert task_identity(ns1["f"]) != task_identity(ns2["f"])  # type: ignore[arg-type]


def test_wrapped_functions_are_unwrapped() -> None:
    def deco(fn):  # type: ignore[no-untyped-def]
        @functools.wraps(fn)
        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            return fn(*a, **k)

        return wrapper

    assert task_identity(deco(sample)) == task_identity(sample)


def test_code_digest_is_stable_across_processes() -> None:
    script = "import keys\ndef f(x):\n    return [x, 1.5, 'a']\nprint(keys.task_identity(f))"
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1 and "__main__.f@code=" in runs.pop()


def other(x: int) -> int:
    return x + 1


def test_cache_is_per_function_and_per_version() -> None:
    """The memo never answers for another version or another function with the same body."""
    v1 = task_identity(sample, "1")
    assert task_identity(sample, "2") == "tests.keys.test_identity.sample@v=2"
    assert task_identity(sample) != v1 and "@code=" in task_identity(sample)
    assert task_identity(sample, "1") == v1 == "tests.keys.test_identity.sample@v=1"
    assert task_identity(other).startswith("tests.keys.test_identity.other@code=")
    assert task_identity(other, "1") == "tests.keys.test_identity.other@v=1"
