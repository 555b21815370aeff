"""The in-process ``InlineExecutor``; the protocol it implements is ``runner.contracts``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from runner.contracts import Executor, NodeJob, NodeOutcome, Submission, Upstream
from runner.events import Events
from runner.index import Index, StoreIndex
from runner.task import Task
from runner.work import execute_node, failure_outcome

__all__ = ["Executor", "InlineExecutor"]


class InlineExecutor:
    """Runs each job in the driver process, one at a time: for debugging and tests."""

    name = "inline"
    pipelined = False

    def __init__(self) -> None:
        self.store: Any = None
        self._digests: dict[tuple[str, int], str | None] = {}  # output -> content digest

    async def open(self, store: Any, events: Events) -> Index:
        self.store = store
        return StoreIndex(store)

    def prepare(self, tasks: Iterable[Task]) -> None:
        return None  # any task runs in this process

    def submit(self, job: NodeJob, handles: Mapping[tuple[str, int], Any]) -> Submission:
        inputs = {
            name: handles[(v.node, v.socket)] if isinstance(v, Upstream) else v
            for name, v in job.inputs.items()
        }
        digests = {name: self._digests.get((v.node, v.socket))
                   for name, v in job.inputs.items() if isinstance(v, Upstream)}
        start = time.perf_counter()
        try:
            values, outcome = execute_node(job.task, job.key, inputs, self.store, write=job.write,
                                           cutoff=job.cutoff, digests=digests)
        except Exception as err:  # reported, never cached
            values, outcome = [], failure_outcome(err, time.perf_counter() - start)
        for socket in range(len(values)):
            self._digests[(job.node_id, socket)] = outcome.digest(socket)
        return Submission(outputs=values, outcome=_ready(outcome))

    async def fetch(self, handle: Any) -> Any:
        return handle

    async def close(self) -> None:
        self.store = None
        self._digests.clear()


async def _ready(outcome: NodeOutcome) -> NodeOutcome:
    return outcome
