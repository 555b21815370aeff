"""Tasks for the early cutoff tests; each appends its label to the run log."""

from __future__ import annotations

from runner import task
from tests.runner.tasks import record


@task
def clamp(label: str, x: int) -> int:
    record(label)
    return min(x, 5)


@task
def inc(label: str, x: int) -> int:
    record(label)
    return x + 1


@task
def add(label: str, x: int, y: int) -> int:
    record(label)
    return x + y


@task(num_returns=2)
def clamp_and_keep(label: str, x: int) -> tuple[int, int]:
    record(label)
    return min(x, 5), x


@task(volatile=True)
def feed(label: str, path: str) -> str:
    """A volatile source: what the file says now."""
    record(label)
    with open(path) as f:
        return f.read()


@task
def shout(label: str, text: str) -> str:
    record(label)
    return text.upper()
