"""A driver that calls ``run()`` where a notebook or an async program would.

Each mode starts the embedded Ray itself (no RAY_ADDRESS) and prints one JSON
line per run: the value and the pid of the process that computed it.

    python anywhere.py loop STORE     # run() twice inside asyncio.run(...)
    python anywhere.py threads STORE  # run() from a thread that then exits, twice
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading

from runner import run, task


@task
def add(a: int, b: int) -> tuple[int, int]:
    return a + b, os.getpid()


def _report(label: str, store: str, a: int, b: int) -> None:
    result = run(add.bind(a, b), store=store)
    value, pid = result.values
    print(json.dumps({"label": label, "value": value, "pid": pid,
                      "executed": len(result.executed)}), flush=True)


async def _in_loop(store: str) -> None:
    _report("loop-1", store, 1, 2)
    await asyncio.sleep(0)
    _report("loop-2", store, 10, 20)


def _in_threads(store: str) -> None:
    errors: list[BaseException] = []

    def work(label: str, a: int, b: int) -> None:
        try:
            _report(label, store, a, b)
        except BaseException as err:  # re-raised by the main thread: a non-zero exit
            errors.append(err)

    for label, (a, b) in (("thread-1", (1, 2)), ("thread-2", (10, 20))):
        worker = threading.Thread(target=work, args=(label, a, b))
        worker.start()
        worker.join()
        if errors:
            raise errors[0]


if __name__ == "__main__":
    mode, store = sys.argv[1], sys.argv[2]
    if mode == "loop":
        asyncio.run(_in_loop(store))
    else:
        _in_threads(store)
