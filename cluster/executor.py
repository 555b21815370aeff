"""``RayExecutor``: each node becomes one Ray task with its resource options.

Pipelined: a node is submitted as soon as its parents are submitted, with
their output ObjectRefs as arguments, so Ray resolves dependencies on the
workers and data never passes through the driver. Feasibility is checked
before dispatch: Ray would leave an unsatisfiable task pending forever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import pickle
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import ray

from cluster.connect import ensure_ray
from cluster.index import RayIndex
from cluster.worker import NodeFailed, decode_outcome, run_node
from runner.contracts import ErrorInfo, NodeJob, NodeOutcome, Submission, Upstream
from runner.errors import DigestflowWarning, ExecutionError
from runner.events import Events, RunFinished
from runner.index import Index, StoreIndex
from runner.task import Task

_GPU_WARNED = False
# task -> {(pickled store, options): remote function}; dies with the Task object
_EXPORTED: weakref.WeakKeyDictionary[Task, dict[tuple[bytes, str], Any]] = (
    weakref.WeakKeyDictionary()
)


class RayExecutor:
    """Runs nodes as Ray tasks on the connected (or an embedded) cluster."""

    name = "ray"
    pipelined = True

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self.store: Any = None
        self.embedded = False
        self._remotes: dict[int, Any] = {}
        self._outcomes: dict[str, Any] = {}  # node id -> its outcome ObjectRef, this run
        self._overrides: dict[str, dict[str, Any]] = {}
        self._inbox: _Inbox | None = None

    async def open(self, store: Any, events: Events) -> Index:
        """Connect, or defer: with no cluster to join, a fully cached run needs no Ray."""
        self.store = store
        events.subscribe(finished=_export_cache_metrics)
        joining = ray.is_initialized() or self.address or os.environ.get("RAY_ADDRESS")
        if not joining:
            return StoreIndex(store)  # embedded: one driver, the store is the index
        self._connect()
        if self.embedded:  # a cluster this process started: no other driver to share with
            return StoreIndex(store)
        return RayIndex(store.uri)

    def _connect(self) -> None:
        conn = ensure_ray(self.address)
        self.embedded = conn.embedded

    def prepare(self, tasks: Iterable[Task]) -> None:
        """Check feasibility and remember per-task option overrides for ``submit``."""
        tasks = list(tasks)
        if not tasks:
            return
        if not ray.is_initialized():
            self._connect()
        total = ray.cluster_resources()
        for task in tasks:
            self._overrides[task.name] = check_feasible(task, total, embedded=self.embedded)

    def submit(self, job: NodeJob, handles: Mapping[tuple[str, int], Any]) -> Submission:
        literal: dict[str, Any] = {}
        names: list[str] = []
        refs: list[Any] = []
        parents: dict[str, int] = {}  # parent node id -> its position among outcome args
        digests: dict[str, tuple[int, int]] = {}  # input -> (parent position, socket)
        for name, value in job.inputs.items():
            if isinstance(value, Upstream):
                names.append(name)
                refs.append(handles[(value.node, value.socket)])
                if job.cutoff is not None:
                    digests[name] = (parents.setdefault(value.node, len(parents)), value.socket)
            else:
                literal[name] = value
        spec = {"node_id": job.node_id, "key": job.key, "write": job.write,
                "inputs": literal, "upstream": names, "cutoff": job.cutoff, "digests": digests}
        remote, opts = self._remote(job.task)
        # named per node in Ray's dashboard and state API: "train-1 (train)"; parents'
        # outcomes travel to the worker with their outputs: the digests cutoff needs
        out = remote.options(name=f"{job.node_id} ({job.task.name})", **opts).remote(
            spec, *refs, *(self._outcomes[p] for p in parents))
        outcome_ref, outputs = out[0], list(out[1:])
        self._outcomes[job.node_id] = outcome_ref
        if self._inbox is None:
            self._inbox = _Inbox(asyncio.get_running_loop())
        return Submission(outputs=outputs,
                          outcome=_outcome_future(outcome_ref, job.node_id, self._inbox))

    async def fetch(self, handle: Any) -> Any:
        return await handle

    async def close(self) -> None:
        self.store = None
        self._outcomes.clear()
        self._inbox = None

    def _remote(self, task: Task) -> tuple[Any, dict[str, Any]]:
        """The task's Ray remote function, exported once per process (not once per run),
        and the options each submission passes with its node's name.

        Keyed by the store's pickled form and the option overrides; the
        per-run dict only saves recomputing that key for every submission.
        """
        found = self._remotes.get(id(task))
        if found is None:
            opts = {**task.opts.ray_options(), **self._overrides.get(task.name, {}),
                    "num_returns": task.num_returns + 1}
            variant = (pickle.dumps(self.store), repr(sorted(opts.items())))
            per_task = _EXPORTED.setdefault(task, {})
            remote = per_task.get(variant)
            if remote is None:
                remote = ray.remote(_bound(task, self.store))
                remote.options(name=task.name, **opts)  # invalid options fail here, once
                per_task[variant] = remote
            found = self._remotes[id(task)] = (remote, opts)
        return found


def _export_cache_metrics(event: RunFinished) -> None:
    """Export a run's cache hits/misses per task (the runner knows them, not Ray)."""
    from cluster import metrics
    from runner.summary import cache_counts

    metrics.cache_lookups(*cache_counts(event.result.report))


def _bound(task: Task, store: Any) -> Any:
    """The worker function with task and store captured (exported once per process, see
    ``RayExecutor._remote``)."""

    def node_task(spec: dict[str, Any], *upstream: Any) -> Any:
        return run_node(task, store, spec, *upstream)

    node_task.__name__ = node_task.__qualname__ = task.name
    return node_task


class _Inbox:
    """Completions handed from Ray's callback thread to the event loop in batches: one
    loop wake-up for every outcome that arrived meanwhile, not one per outcome."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._items: list[tuple[Callable[[Any], None], Any]] = []
        self._lock = threading.Lock()
        self._woken = False

    def put(self, fn: Callable[[Any], None], arg: Any) -> None:
        with self._lock:
            self._items.append((fn, arg))
            if self._woken:
                return
            self._woken = True
        self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items, self._woken = self._items, [], False
        for fn, arg in items:
            fn(arg)


def _outcome_future(ref: Any, node_id: str, inbox: _Inbox) -> asyncio.Future[NodeOutcome]:
    """An asyncio future for the node's outcome, resolved by Ray's completion callback.

    Cheaper than ``await ref`` per node (no chained futures): this runs once
    per task, and for small tasks the driver's per-task cost is the bottleneck.
    """
    result: asyncio.Future[NodeOutcome] = inbox.loop.create_future()
    start = time.perf_counter()

    def settle(done: concurrent.futures.Future[Any]) -> None:
        outcome = _to_outcome(done, node_id, start)
        if not result.done():
            result.set_result(outcome)

    ref.future().add_done_callback(lambda done: inbox.put(settle, done))
    return result


def _to_outcome(done: concurrent.futures.Future[Any], node_id: str, start: float) -> NodeOutcome:
    try:
        return decode_outcome(done.result())
    except ray.exceptions.RayTaskError as err:
        cause = err.as_instanceof_cause()
        failed = getattr(cause, "cause", None) or cause
        if isinstance(failed, NodeFailed):
            if failed.node_id != node_id:
                return NodeOutcome(upstream_failed=failed.node_id)
            if failed.stale:
                return NodeOutcome(stale=[failed.stale])
            return NodeOutcome(error=failed.info)
        return _error(err, start)
    except ray.exceptions.RayError as err:  # worker crashed past retries, node died...
        return _error(err, start)
    except Exception as err:  # noqa: BLE001 - an unreadable outcome fails its node, never hangs
        return _error(err, start)


def _error(err: BaseException, start: float) -> NodeOutcome:
    info = ErrorInfo(type=type(err).__name__, message=str(err).strip().splitlines()[-1]
                     if str(err).strip() else type(err).__name__, traceback=str(err))
    return NodeOutcome(seconds=time.perf_counter() - start, error=info)


def check_feasible(task: Task, total: Mapping[str, float], *, embedded: bool) -> dict[str, Any]:
    """Option overrides for ``task`` (GPU -> CPU on a GPU-less laptop), or raise."""
    global _GPU_WARNED
    opts = task.opts
    overrides: dict[str, Any] = {}
    gpus = opts.num_gpus or 0
    if gpus and total.get("GPU", 0) < gpus and embedded and total.get("GPU", 0) == 0:
        if not _GPU_WARNED:
            warnings.warn_explicit(
                f"task {task.name!r} asks for {gpus} GPU(s) but this machine has none: "
                "on this embedded local Ray, GPU tasks run on the CPU",
                DigestflowWarning, filename="digestflow", lineno=0,
            )
            _GPU_WARNED = True
        overrides["num_gpus"] = 0
        gpus = 0
    wants = {"CPU": 1 if opts.num_cpus is None else opts.num_cpus, "GPU": gpus,
             "memory": opts.memory or 0, **dict(opts.resources or {})}
    if opts.accelerator_type:
        wants[f"accelerator_type:{opts.accelerator_type}"] = 0.001
    short = {r: q for r, q in wants.items() if q and total.get(r, 0) < q}
    if short and not os.environ.get("DIGESTFLOW_AUTOSCALING"):
        have = ", ".join(f"{r}={_fmt(total[r])}" for r in sorted(total)
                         if not r.startswith("node:") and "object_store" not in r)
        need = ", ".join(f"{r}={_fmt(q)}" for r, q in short.items())
        raise ExecutionError(
            f"task {task.name!r} needs {need} but the whole cluster has {have}; "
            "Ray would leave it pending forever. Lower the task's resources, add nodes, "
            "or set DIGESTFLOW_AUTOSCALING=1 if an autoscaler will add them"
        )
    return overrides


def _fmt(q: float) -> str:
    return str(int(q)) if float(q).is_integer() else f"{q:g}"
