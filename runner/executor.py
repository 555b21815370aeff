"""The executor protocol and the in-process ``InlineExecutor``.

The scheduler hands an executor one ``NodeJob`` at a time. Inputs of a job
are literals, ``Upstream`` (an output of a node submitted in this run; the
executor maps it to its own handle, e.g. a Ray ObjectRef) or ``Cached`` (a
stored object the worker reads itself, never through the driver).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.index import Index, StoreIndex
from runner.task import Task
from runner.work import NodeOutcome, execute_node, failure_outcome


@dataclass(frozen=True, slots=True)
class Upstream:
    """Output ``socket`` of node ``node``, computed in this run."""

    node: str
    socket: int


@dataclass(frozen=True, slots=True)
class Cached:
    """Stored object ``(key, socket)``: read from the store where the job runs."""

    key: str
    socket: int


@dataclass(frozen=True, kw_only=True)
class NodeJob:
    node_id: str
    task: Task
    key: str
    inputs: Mapping[str, Any]
    write: bool = True


@dataclass(kw_only=True)
class Submission:
    """What ``submit`` returns: per-socket handles now, the outcome later."""

    outputs: list[Any]
    outcome: Any  # an awaitable resolving to NodeOutcome
    meta: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """Runs jobs somewhere. ``pipelined``: may submit before parents finish."""

    name: str
    pipelined: bool

    async def open(self, store: Any) -> Index: ...

    def prepare(self, tasks: Iterable[Task]) -> dict[str, dict[str, Any]]:
        """Check every task can run here; returns per-task option overrides."""
        ...

    def submit(self, job: NodeJob, handles: Mapping[tuple[str, int], Any]) -> Submission: ...

    async def fetch(self, handle: Any) -> Any: ...

    async def close(self) -> None: ...


class InlineExecutor:
    """Runs each job in the driver process, one at a time: for debugging and tests."""

    name = "inline"
    pipelined = False

    def __init__(self) -> None:
        self.store: Any = None

    async def open(self, store: Any) -> Index:
        self.store = store
        return StoreIndex(store)

    def prepare(self, tasks: Iterable[Task]) -> dict[str, dict[str, Any]]:
        return {}

    def submit(self, job: NodeJob, handles: Mapping[tuple[str, int], Any]) -> Submission:
        inputs = {
            name: handles[(v.node, v.socket)] if isinstance(v, Upstream) else v
            for name, v in job.inputs.items()
        }
        start = time.perf_counter()
        try:
            values, outcome = execute_node(job.task, job.key, inputs, self.store, write=job.write)
        except Exception as err:  # reported, never cached
            values, outcome = [], failure_outcome(err, time.perf_counter() - start)
        return Submission(outputs=values, outcome=_ready(outcome))

    async def fetch(self, handle: Any) -> Any:
        return handle

    async def close(self) -> None:
        self.store = None


async def _ready(outcome: NodeOutcome) -> NodeOutcome:
    return outcome
