"""``RayExecutor``: each node becomes one Ray task with its resource options.

Pipelined: a node is submitted as soon as its parents are submitted, with
their output ObjectRefs as arguments, so Ray resolves dependencies on the
workers and data never passes through the driver. Feasibility is checked
before dispatch: Ray would leave an unsatisfiable task pending forever.
Runs of tiny nodes (timed by earlier runs, or by a few probe nodes of this
one) share one Ray task (``cluster.fusion``; ``fuse=False`` turns that off).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import time
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import ray

from cluster import fusion
from cluster.connect import ensure_ray
from cluster.index import RayIndex
from cluster.tracking import Tracker
from cluster.worker import run_group, run_node, unwrap
from runner.contracts import NodeJob, Submission, Upstream
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

    def __init__(self, address: str | None = None, *, fuse: bool = True) -> None:
        self.address = address
        self.fuse = fuse
        self.store: Any = None
        self.embedded = False
        self._remotes: dict[int, Any] = {}
        self._groups: dict[tuple[Any, ...], Any] = {}
        self._overrides: dict[str, dict[str, Any]] = {}
        self._tracker: Tracker | None = None
        self._cpus = 1.0
        self._fusion: fusion.RunFusion | None = None  # this run's, where fusing

    async def open(self, store: Any, events: Events) -> Index:
        """Connect, or defer: with no cluster to join, a fully cached run needs no Ray."""
        self.store = store
        events.subscribe(finished=_export_cache_metrics)
        self._fusion = fusion.RunFusion(store) if self.fuse else None
        if self._fusion is not None:
            events.subscribe(finished=self._fusion.finished)
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
        self._cpus = total.get("CPU", 1.0)
        for task in tasks:
            self._overrides[task.name] = check_feasible(task, total, embedded=self.embedded)

    def submit(self, job: NodeJob, handles: Mapping[tuple[str, int], Any]) -> Submission:
        literal: dict[str, Any] = {}
        names: list[str] = []
        refs: list[Any] = []
        for name, value in job.inputs.items():
            if isinstance(value, Upstream):
                names.append(name)
                refs.append(handles[(value.node, value.socket)])
            else:
                literal[name] = value
        tracker = self._tracking()
        cut = None if job.cutoff is None else (job.cutoff.recipe, job.cutoff.lookup)
        leased = job.lease is not None
        spec = (job.node_id, job.key, job.write, literal, tuple(names), cut, tracker.reply,
                leased)
        remote, opts, _ = self._remote(job.task)
        # named per node in Ray's dashboard and state API: "train-1 (train)"; ``_remote``
        # takes the name directly (``.options(name=...)`` builds a class per call); a
        # lease handle goes last (the task starts once the index has answered it)
        args = (spec, *refs, job.lease) if leased else (spec, *refs)
        out = remote._remote(args=args, name=f"{job.node_id} ({job.task.name})", **opts)
        outputs = [out] if job.task.num_returns == 1 else list(out)
        stores = job.write and job.task.opts.cache
        return Submission(outputs=outputs, outcome=tracker.expect(
            job.node_id, outputs[0], leased=leased, key=job.key,
            sockets=job.task.num_returns, stores=stores))

    def submit_many(self, jobs: list[NodeJob], handles: dict[tuple[str, int], Any],
                    ) -> list[Submission]:
        """Submit ``jobs`` (in submission order), fusing runs of tiny ones
        (``cluster.fusion``); ``handles`` gains each job's output handles as it goes."""
        run = self._fusion
        groups = [fusion.Group([job], False) for job in jobs] if run is None else \
            run.plan(jobs, lambda job: self._remote(job.task)[2], self._cpus)
        subs: list[Submission] = []
        for group in groups:
            got = self._submit_group(group.jobs, handles) if group.fused \
                else [self.submit(group.jobs[0], handles)]
            for job, sub in zip(group.jobs, got, strict=True):
                handles.update({(job.node_id, s): h for s, h in enumerate(sub.outputs)})
                if run is not None:
                    run.submitted(job.node_id, sub.outcome)
            subs.extend(got)
        return subs

    def hold(self, jobs: list[NodeJob], *, idle: bool) -> tuple[list[NodeJob], list[NodeJob]]:
        """(submit now, hold back): nodes of tasks being timed in this run wait for their
        probes' first report (``fusion.Prober``); nothing is held while ``idle``."""
        if self._fusion is None:
            return jobs, []
        return self._fusion.hold(jobs, idle=idle, cpus=self._cpus, heard=self._heard(),
                                 now=time.monotonic())

    def hold_timeout(self) -> float | None:
        """Seconds the dispatch may wait for an outcome before asking ``hold`` again."""
        if self._fusion is None:
            return None
        return self._fusion.prober.timeout(time.monotonic(), self._heard())

    def _heard(self) -> float | None:
        """When this run's first report from a worker arrived (None: none yet)."""
        return self._tracker.first_heard if self._tracker is not None else None

    def _submit_group(self, jobs: list[NodeJob], handles: Mapping[tuple[str, int], Any],
                      ) -> list[Submission]:
        """Fused jobs as one Ray task (``cluster.worker.run_group``): inputs from members
        stay in the worker, other inputs become its arguments (each ref once)."""
        tracker = self._tracking()
        tasks: list[Task] = []
        task_index: dict[int, int] = {}
        member_of: dict[str, int] = {}
        args: list[Any] = []
        arg_of: dict[tuple[str, int], int] = {}
        members = []
        for m, job in enumerate(jobs):
            literal: dict[str, Any] = {}
            names: list[str] = []
            sources: list[Any] = []
            for name, value in job.inputs.items():
                if not isinstance(value, Upstream):
                    literal[name] = value
                    continue
                names.append(name)
                inside = member_of.get(value.node)
                if inside is not None:
                    sources.append((inside, value.socket))
                    continue
                ref = (value.node, value.socket)
                if ref not in arg_of:
                    arg_of[ref] = len(args)
                    args.append(handles[ref])
                sources.append(arg_of[ref])
            index = task_index.setdefault(id(job.task), len(tasks))
            if index == len(tasks):
                tasks.append(job.task)
            cut = None if job.cutoff is None else (job.cutoff.recipe, job.cutoff.lookup)
            members.append((index, job.node_id, job.key, job.write, literal, tuple(names),
                            tuple(sources), cut, job.lease is not None))
            member_of[job.node_id] = m
        leased = jobs[0].lease is not None
        remote, opts = self._group_remote(tuple(tasks))
        returns = sum(job.task.num_returns for job in jobs)
        layout = (tracker.reply, leased, tuple(members))
        call = (layout, *args, jobs[0].lease) if leased else (layout, *args)
        tasks_text = ", ".join(sorted({job.task.name for job in jobs}))
        name = f"{jobs[0].node_id} ({tasks_text})" if len(jobs) == 1 else \
            f"{jobs[0].node_id} +{len(jobs) - 1} fused ({tasks_text})"
        out = remote._remote(args=call, name=name, num_returns=returns, **opts)
        outputs = [out] if returns == 1 else list(out)
        subs, at = [], 0
        for job in jobs:
            mine, at = outputs[at:at + job.task.num_returns], at + job.task.num_returns
            subs.append(Submission(outputs=mine, outcome=tracker.expect(
                job.node_id, mine[0], leased=job.lease is not None, key=job.key,
                sockets=job.task.num_returns, stores=job.write and job.task.opts.cache)))
        return subs

    def _group_remote(self, tasks: tuple[Task, ...]) -> tuple[Any, dict[str, Any]]:
        """The Ray remote function running a group of ``tasks`` (exported once per process
        and combination of tasks and options), and the group's options."""
        _, opts, text = self._remote(tasks[0])
        opts = {k: v for k, v in opts.items() if k != "num_returns"}  # the group's own
        key = (*map(id, tasks), text)
        remote = self._groups.get(key)
        if remote is None:
            exported = _EXPORTED.setdefault(tasks[0], {}).setdefault(
                (pickle.dumps(self.store), f"group {text}"), [])
            # a list of (tasks, remote): matched by the tasks themselves, as ids alone
            # could be those of dead tasks
            remote = next((r for held, r in exported if held == tasks), None)
            if remote is None:
                remote = ray.remote(_bound_group(tasks, self.store))
                exported.append((tasks, remote))
            self._groups[key] = remote
        return remote, opts

    def _tracking(self) -> Tracker:
        if self._tracker is None:
            self._tracker = Tracker(asyncio.get_running_loop(), ray.util.get_node_ip_address(),
                                    self.store)
        return self._tracker

    async def fetch(self, handle: Any) -> Any:
        return unwrap(await handle)

    async def close(self) -> None:
        self.store = None
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    def _remote(self, task: Task) -> tuple[Any, dict[str, Any], str]:
        """The task's Ray remote function, exported once per process (not once per run),
        the options each submission passes with its node's name, and the canonical text
        of those options but ``num_returns`` (tasks with equal texts may share a fused
        group).

        Keyed by the store's pickled form and the option overrides; the
        per-run dict only saves recomputing that key for every submission.
        """
        found = self._remotes.get(id(task))
        if found is None:
            shared = {**task.opts.ray_options(), **self._overrides.get(task.name, {})}
            text = repr(sorted(shared.items()))
            opts = {**shared, "num_returns": task.num_returns}
            variant = (pickle.dumps(self.store), f"{text} returns {task.num_returns}")
            per_task = _EXPORTED.setdefault(task, {})
            remote = per_task.get(variant)
            if remote is None:
                remote = ray.remote(_bound(task, self.store))
                remote.options(name=task.name, **opts)  # invalid options fail here, once
                per_task[variant] = remote
            found = self._remotes[id(task)] = (remote, opts, text)
        return found


def _export_cache_metrics(event: RunFinished) -> None:
    """Export a run's cache hits/misses per task (the runner knows them, not Ray)."""
    from cluster import metrics
    from runner.summary import cache_counts

    metrics.cache_lookups(*cache_counts(event.result.report))


def _bound(task: Task, store: Any) -> Any:
    """The worker function with task and store captured (exported once per process, see
    ``RayExecutor._remote``)."""

    def node_task(spec: Any, *upstream: Any) -> Any:
        return run_node(task, store, spec, *upstream)

    node_task.__name__ = node_task.__qualname__ = task.name
    return node_task


def _bound_group(tasks: tuple[Task, ...], store: Any) -> Any:
    """The worker function of a fused group of these tasks (see ``_bound``)."""

    def fused(layout: Any, *args: Any) -> Any:
        return run_group(tasks, store, layout, *args)

    fused.__name__ = fused.__qualname__ = "digestflow.fused"
    return fused


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
