"""The contracts between the run core and an executor: jobs in, outcomes out.

The run core hands an executor one ``NodeJob`` at a time. Inputs of a job
are literals, ``Upstream`` (an output of a node submitted in this run; the
executor maps it to its own handle, e.g. a Ray ObjectRef) or ``Cached`` (a
stored object the worker reads itself, never through the driver). Where the
job ran sends back a small, picklable ``NodeOutcome``. These types sit below
both ``runner.executor`` and ``runner.work``, so an executor can be written
against them alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runner.events import Events
    from runner.index import Index
    from runner.task import Task

Ref = tuple[str, int]  # (key hex, socket)


@dataclass(frozen=True, slots=True)
class Upstream:
    """Output ``socket`` of node ``node``, computed in this run."""

    node: str
    socket: int


@dataclass(frozen=True, slots=True)
class Cached:
    """Stored object ``(key, socket)``: read from the store where the job runs.
    ``digest``: its content digest, from the lookup (for early cutoff)."""

    key: str
    socket: int
    digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class Cutoff:
    """Early cutoff for one job (see ``runner.cutoff``): ``recipe`` is the digest of its
    recipe without links; ``lookup``: try reusing stored outputs before computing."""

    recipe: str
    lookup: bool


@dataclass(frozen=True, kw_only=True)
class NodeJob:
    node_id: str
    task: Task
    key: str
    inputs: Mapping[str, Any]
    write: bool = True
    cutoff: Cutoff | None = None
    lease: Any = None  # a LeaseTicket's handle: the job runs only if it grants ``key``


@dataclass(frozen=True, kw_only=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    """Where a node ran: process id, and on Ray the node id and GPU ids."""

    pid: int
    node: str | None = None
    gpu_ids: tuple[str, ...] = ()


@dataclass(kw_only=True)
class NodeOutcome:
    """The small record a node's run sends back to the driver.

    ``stale``: a cached input could not be read (the driver recomputes its
    producer). ``upstream_failed``: the node never ran because this ancestor
    failed. ``reused_from``: early cutoff returned the outputs stored under
    this key instead of calling the function. ``held``: the job's lease
    (``NodeJob.lease``) went to this other holder, so it did not run; the next
    round waits for that holder.
    """

    manifests: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    bytes_written: int = 0
    bytes_read: int = 0
    error: ErrorInfo | None = None
    stale: list[Ref] = field(default_factory=list)
    upstream_failed: str | None = None
    reused_from: str | None = None
    worker: WorkerInfo | None = None
    held: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.stale and self.upstream_failed is None \
            and self.held is None

    def digest(self, socket: int) -> str | None:
        """Content digest of output ``socket``, None where nothing was stored."""
        for m in self.manifests:
            if m["socket"] == socket:
                return m["content_digest"]
        return None


@dataclass(kw_only=True)
class Submission:
    """What ``submit`` returns: per-socket handles now, the outcome later."""

    outputs: list[Any]
    outcome: Any  # an awaitable resolving to NodeOutcome


class Executor(Protocol):
    """Runs jobs somewhere. ``pipelined``: may submit before parents finish. An executor
    may also offer ``submit_many(jobs, handles) -> list[Submission]`` (jobs in submission
    order; it adds their handles to ``handles``): the dispatch then hands it all ready
    jobs at once, so that it can fuse some (``cluster.fusion``)."""

    name: str
    pipelined: bool

    async def open(self, store: Any, events: Events) -> Index:
        """Start a run on ``store``; subscribe to ``events`` to report on it (metrics)."""
        ...

    def prepare(self, tasks: Iterable[Task]) -> None:
        """Check every task can run here (raise ExecutionError naming it if not)."""
        ...

    def submit(self, job: NodeJob, handles: Mapping[tuple[str, int], Any]) -> Submission: ...

    async def fetch(self, handle: Any) -> Any: ...

    async def close(self) -> None: ...


__all__ = ["Cached", "Cutoff", "ErrorInfo", "Executor", "NodeJob", "NodeOutcome", "Submission",
           "Upstream", "WorkerInfo"]
