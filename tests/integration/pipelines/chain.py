"""A small pipeline for the job tests: two sources, a join, a report.

Each task appends its label to $DIGESTFLOW_TEST_RUNLOG (when set), so a test
can count what really executed, on any node, and where its pickle key came
from (the node's key file, never the job's env). Run as ``digestflow run
chain.py`` (TARGETS) or as a script (``python chain.py``), which is what
``ray job submit -- python chain.py`` does.
"""

from __future__ import annotations

import os

from runner import run, task


def _log(label: str) -> None:
    path = os.environ.get("DIGESTFLOW_TEST_RUNLOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{label} key_file={'DIGESTFLOW_SECRET_FILE' in os.environ} "
                    f"env_key={'DIGESTFLOW_SECRET' in os.environ}\n")


@task
def numbers(label: str, n: int) -> list[int]:
    _log(label)
    return list(range(n))


@task
def join(label: str, a: list[int], b: list[int]) -> int:
    _log(label)
    return sum(a) + sum(b)


@task
def report(label: str, total: int) -> str:
    _log(label)
    return f"total={total}"


def build(scale: int = 1) -> object:
    a = numbers.bind("a", 10 * scale)
    b = numbers.bind("b", 20)
    return report.bind("report", join.bind("join", a, b))


TARGETS = build()

if __name__ == "__main__":
    result = run(TARGETS)
    print(result.summary())
    print("value:", result.values)
