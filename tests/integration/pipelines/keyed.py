"""A pipeline whose outputs are pickles (a user class), for the key-secrecy job test.

Each task appends ``label key_file=<bool> env_key=<bool>`` to
$DIGESTFLOW_TEST_RUNLOG: where the worker's pickle key came from.
"""

from __future__ import annotations

import os

from runner import task


class Tally:
    """No codec but pickle: storing and reading it needs the key."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Tally({sum(self.items)})"


def _log(label: str) -> None:
    path = os.environ.get("DIGESTFLOW_TEST_RUNLOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{label} key_file={'DIGESTFLOW_SECRET_FILE' in os.environ} "
                    f"env_key={'DIGESTFLOW_SECRET' in os.environ}\n")


@task
def tally(label: str, n: int) -> Tally:
    _log(label)
    return Tally(list(range(n)))


@task
def merge(label: str, a: Tally, b: Tally) -> Tally:
    _log(label)
    return Tally(a.items + b.items)


TARGETS = merge.bind("merge", tally.bind("a", 10), tally.bind("b", 20))
