"""Tasks used by the runner tests. Each appends its label to the run log."""

from __future__ import annotations

import os

from runner import task


def record(label: str) -> None:
    with open(os.environ["DIGESTFLOW_TEST_RUNLOG"], "a") as f:
        f.write(label + "\n")


@task
def source(label: str, value: int) -> int:
    record(label)
    return value


@task
def combine(label: str, *parts: int, k: int = 0) -> int:
    record(label)
    return sum(parts) + k


@task(num_returns=2)
def split(label: str, x: int) -> tuple[int, int]:
    record(label)
    return x + 1, x - 1


@task
def boom(label: str, x: int) -> int:
    record(label)
    raise ValueError(f"boom in {label} with x={x}")


@task
async def asource(label: str, value: int) -> int:
    record(label)
    return value * 10


@task(num_gpus=1)
def gpu_probe(label: str, x: int) -> list[str]:
    import ray

    record(label)
    return [str(g) for g in ray.get_gpu_ids()]


#: ``source`` that never reads or writes the store (same identity, so same keys).
volatile = source.options(cache=False)


@task
def step(label: str, *parts: int, fail: bool = False) -> int:
    record(label)
    if fail:
        raise ValueError(f"step {label} failed on purpose")
    return sum(parts) + 1


@task
def gather(label: str, **named: int) -> dict[str, int]:
    record(label)
    return dict(named)


@task
def evict(label: str, store: str, key: str) -> int:
    """Deletes a stored object mid-run, as a concurrent gc would."""
    from storage import open_store

    record(label)
    open_store(store).delete(key)
    return 0


@task
def nest(label: str, parts: object) -> object:
    """Returns its argument as received: nodes inside it arrive as their values."""
    record(label)
    return parts


@task
def traced(label: str, *parts: int, fail: bool = False, sleep: float = 0.0) -> int:
    """``step`` that also records which Ray task ran it (fused nodes share one)."""
    import time

    import ray

    record(f"{label} {ray.get_runtime_context().get_task_id()}")
    time.sleep(sleep)
    if fail:
        raise ValueError(f"traced {label} failed on purpose")
    return sum(parts) + 1


@task(num_returns=2)
def traced_pair(label: str, x: int) -> tuple[int, int]:
    """``split`` that also records which Ray task ran it."""
    import ray

    record(f"{label} {ray.get_runtime_context().get_task_id()}")
    return x + 1, x - 1
