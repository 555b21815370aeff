"""A small pipeline for the observability tests (importable by Ray workers as
``tests.observability.pipeline``). ``build(...)`` parameters change one thing each."""

from __future__ import annotations

from runner import task


@task
def load(seed: int, size: int = 4) -> list[int]:
    return [seed * 10 + i for i in range(size)]


@task
def scale(values: list[int], factor: int = 2) -> list[int]:
    return [v * factor for v in values]


@task(version="1")
def clip(values: list[int], limit: int = 50) -> list[int]:
    return [min(v, limit) for v in values]


@task
def total(*parts: list[int], offset: float = 0.5) -> float:
    return sum(sum(p) for p in parts) + offset


@task
def explode(values: list[int]) -> int:
    raise ValueError(f"cannot explode {len(values)} values")


def build(*, size: int = 4, factor: int = 2, limit: int = 50, offset: float = 0.5,
          clip_task=clip, branches: int = 2):
    """load-i -> scale-i -> clip-i for each branch, then total."""
    parts = [clip_task.bind(scale.bind(load.bind(i, size=size), factor=factor), limit=limit)
             for i in range(1, branches + 1)]
    return total.bind(*parts, offset=offset)
