"""Tasks for the fault-injection tests; each appends its label to the run log."""

from __future__ import annotations

import numpy as np

from runner import task
from tests.runner.tasks import record


@task
def numbers(label: str, n: int) -> np.ndarray:
    """Large enough to live in a data file, not inline in its manifest."""
    record(label)
    return np.arange(n, dtype=np.int64)


@task
def total(label: str, arr: np.ndarray, k: int = 0) -> int:
    record(label)
    return int(arr.sum()) + k


@task
def bag(label: str, n: int) -> set[int]:
    """A set has no Arrow/plain codec: it is stored as an authenticated pickle."""
    record(label)
    return set(range(n))


@task
def size(label: str, items: set[int], k: int = 0) -> int:
    record(label)
    return len(items) + k


@task
def step(label: str, x: int) -> int:
    record(label)
    return x + 1
