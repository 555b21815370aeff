"""Fusing runs of tiny nodes into one Ray task each, by how long their tasks take.

Ray spends about a millisecond of CPU on every task (submission, scheduling,
the worker's round trip); a node that computes for 100 µs pays that many
times over. The Ray executor therefore runs runs of consecutive tiny nodes
as one Ray task (``cluster.worker.run_group``): each node is still keyed,
stored, reported and failed on its own; only Ray sees fewer tasks.

Policy (``plan_groups``), for the jobs one dispatch step submits, in their
submission order (a topological order):

- A node is *fusable* when its task's mean time (``Estimates`` from earlier
  runs, else what this run's probes of it showed: ``Prober``) is at most
  ``FUSE_BELOW``, its outputs are stored and small (``FUSE_BYTES``: a group
  holds every member's outputs until it ends), and every parent computed in
  this run is fusable too. So a group never waits on a slow or unknown task,
  and its external inputs come only from other groups (or probes, run as
  groups of one), which never fail at the Ray level. A task never timed,
  with too few nodes to probe, is not fused.
- A group is a run of *consecutive* fusable jobs with the same Ray options
  and lease: consecutive in a topological order, so the groups themselves
  form a DAG (two groups never wait on each other). It closes at
  ``max_nodes`` nodes or ``BUDGET`` seconds of estimated work, whichever
  comes first; ``max_nodes`` leaves several groups per CPU for parallelism.

Estimates live in the store as one small document (``docs/stats/tasks.json``),
per task: the mean seconds its nodes took where they ran (function plus
storing the outputs) and their mean stored bytes, averaged with the previous
estimate at the end of each run that executed and stored it. A task that
became slow is fused at most once more. ``RunFusion`` holds one run's state
(the estimates, what its probes showed, which nodes are fusable) for the Ray
executor, which only submits.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.contracts import NodeJob, Upstream

log = logging.getLogger("digestflow")

FUSE_BELOW = 0.005  # seconds: a task this quick is worth fusing (Ray's overhead is ~1 ms)
FUSE_BYTES = 1 << 20  # stored bytes a node at most: a group holds its members' outputs
BUDGET = 0.02  # seconds of estimated work per group
MAX_NODES = 32  # nodes per group at most
PER_CPU = 4  # groups per CPU at least, where there are enough nodes
STATS, TASKS = "stats", "tasks"  # the estimates document: docs/stats/tasks.json
KEEP = 1000  # tasks the document remembers (the most recently run)
PROBE_AT = 8  # an untimed task with this many nodes per CPU in one step is probed first
PROBES = 2  # probe nodes per CPU
PROBE_WAIT = 2.0  # seconds: probes silent this long mean a task too slow to fuse
PROBE_CAP = 30.0  # seconds: ... counted from their submission while no worker reported


def task_ident(task: Any) -> str:
    """Which task an estimate belongs to: module and qualified name of its function."""
    fn = task.fn
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', task.name)}"


@dataclass(frozen=True, slots=True)
class Group:
    """Jobs submitted as one Ray task (``fused``), or a single job submitted alone."""

    jobs: list[NodeJob]
    fused: bool


def max_nodes(fusable: int, cpus: float) -> int:
    """Nodes per group: at most ``MAX_NODES``, and few enough for ``PER_CPU`` groups per
    CPU."""
    return max(1, min(MAX_NODES, fusable // max(1, math.ceil(cpus * PER_CPU))))


def plan_groups(jobs: Iterable[NodeJob], estimate: Callable[[NodeJob], float | None],
                options: Callable[[NodeJob], Hashable], fusable: set[str],
                *, cpus: float, probes: Collection[str] = ()) -> list[Group]:
    """Split ``jobs`` (submission order) into groups; see the module docstring.

    ``estimate(job)``: the task's mean seconds, None if never timed.
    ``options(job)``: what must be equal for jobs to share a Ray task.
    ``fusable``: node ids found fusable so far in this run; updated in place.
    ``probes``: nodes run as a group of one (``Prober``): like every node a group
    may read from, they never fail at the Ray level.
    """
    jobs = list(jobs)
    costs: dict[str, float] = {}
    for job in jobs:
        seconds = estimate(job)
        if seconds is not None and seconds <= FUSE_BELOW and all(
                v.node in fusable for v in job.inputs.values() if isinstance(v, Upstream)):
            fusable.add(job.node_id)
            costs[job.node_id] = seconds
    limit = max_nodes(len(costs), cpus)
    out: list[Group] = []
    current: list[NodeJob] = []
    current_key: Hashable = None
    spent = 0.0
    for job in jobs:
        cost = costs.get(job.node_id)
        if cost is None:
            if current:
                out.append(Group(current, True))
                current = []
            out.append(Group([job], job.node_id in probes))
            continue
        key = (options(job), id(job.lease))
        if current and (key != current_key or len(current) >= limit
                        or spent + cost > BUDGET * (1 + 1e-9)):
            out.append(Group(current, True))
            current = []
        if not current:
            current_key, spent = key, 0.0
        current.append(job)
        spent += cost
    if current:
        out.append(Group(current, True))
    return out


@dataclass(slots=True)
class _Probe:
    nodes: list[str]
    since: float  # when its probes were submitted


class Prober:
    """Times, within a run, the tasks no earlier run timed (a first run on a new store).

    State: the tasks being probed (their probe nodes and since when) and the
    tasks settled (timed by their probes, or given up on). Policy: an untimed
    task with at least ``PROBE_AT`` nodes per CPU in one dispatch step sends
    ``PROBES`` nodes per CPU first, each alone (enough to keep every CPU busy),
    and holds its other nodes, and everything below a held node, until the
    first probe reports: then they are fused if the task proved tiny and run
    one per Ray task if not. Probes that report nothing within ``PROBE_WAIT``
    seconds (a slow task) release the rest unfused; the wait counts from the
    run's first report from any worker (a fresh cluster's workers take seconds
    to start), and lasts at most ``PROBE_CAP`` seconds from the probes'
    submission. As the probes keep every CPU busy meanwhile, holding costs a
    slow task little. The executor owns the outcomes and says what they
    showed (``settle``); nothing here waits.
    """

    def __init__(self, cpus: float) -> None:
        self.cpus = max(1.0, cpus)
        self.probing: dict[str, _Probe] = {}
        self.settled: set[str] = set()
        self.probes: set[str] = set()  # every probe node of the run

    def split(self, jobs: list[NodeJob], timed: Callable[[NodeJob], bool],
              now: float) -> tuple[list[NodeJob], list[NodeJob]]:
        """``jobs`` (submission order) as (submit now, hold); holding is closed under
        descendants, so everything submitted has its parents submitted."""
        by_task: dict[int, tuple[str, bool]] = {}  # id(task) -> (ident, timed)
        for job in jobs:
            if id(job.task) not in by_task:
                by_task[id(job.task)] = (task_ident(job.task), timed(job))
        counts = Counter(by_task[id(j.task)] for j in jobs)
        submit: list[NodeJob] = []
        held: list[NodeJob] = []
        held_ids: set[str] = set()
        for job in jobs:
            if held_ids and any(isinstance(v, Upstream) and v.node in held_ids
                                for v in job.inputs.values()):
                held.append(job)
                held_ids.add(job.node_id)
                continue
            ident, is_timed = by_task[id(job.task)]
            probe = None if is_timed or ident in self.settled else self.probing.get(ident)
            if probe is None and not is_timed and ident not in self.settled \
                    and counts[ident, False] >= PROBE_AT * self.cpus:
                probe = self.probing[ident] = _Probe([], now)
            if probe is not None and len(probe.nodes) >= PROBES * self.cpus:
                held.append(job)
                held_ids.add(job.node_id)
                continue
            if probe is not None:
                probe.nodes.append(job.node_id)
                self.probes.add(job.node_id)
            submit.append(job)
        return submit, held

    def settle(self, ident: str) -> None:
        """The task's probes reported (or it was given up on): its nodes go on as any."""
        self.probing.pop(ident, None)
        self.settled.add(ident)

    def overdue(self, now: float, heard: float | None) -> list[str]:
        """Tasks whose probes reported nothing in time; ``heard``: when the run's first
        report from a worker arrived (None: none yet)."""
        return [ident for ident, p in self.probing.items() if now >= _deadline(p, heard)]

    def timeout(self, now: float, heard: float | None) -> float | None:
        """Seconds until the nearest deadline; None when nothing is being probed."""
        if not self.probing:
            return None
        return max(0.0, min(_deadline(p, heard) for p in self.probing.values()) - now)


def _deadline(probe: _Probe, heard: float | None) -> float:
    cap = probe.since + PROBE_CAP
    return cap if heard is None else min(cap, max(probe.since, heard) + PROBE_WAIT)


Timing = tuple[float, float]  # seconds and stored bytes, a node's mean


class Estimates:
    """Per task, what a node took: mean seconds and stored bytes (``Timing``), read from
    and merged back into the store's document."""

    def __init__(self, timings: Mapping[str, Timing]) -> None:
        self.timings = dict(timings)

    def get(self, task: Any) -> Timing | None:
        return self.timings.get(task_ident(task))

    @classmethod
    def load(cls, store: Any) -> Estimates:
        """The store's estimates; none when the document is missing or unreadable."""
        try:
            doc = store.get_doc(STATS, TASKS)
        except Exception:  # noqa: BLE001 - no estimates: nothing is fused, nothing breaks
            return cls({})
        tasks = doc.get("tasks") if isinstance(doc, dict) else None
        if not isinstance(tasks, dict):
            return cls({})
        return cls({name: (float(t[0]), float(t[1])) for name, t in tasks.items()
                    if isinstance(name, str) and isinstance(t, list) and len(t) == 2
                    and all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0
                            for x in t)})

    @staticmethod
    def observed(report: Iterable[Any], graph: Any) -> dict[str, Timing]:
        """Mean seconds and bytes per task over the nodes a run executed and stored."""
        sums: dict[str, list[float]] = {}
        for rep in report:
            if rep.status == "executed" and not rep.same_as:  # a duplicate did no work
                task = graph[rep.id].task
                if task.opts.cache:  # a task never stored has no size to go by
                    acc = sums.setdefault(task_ident(task), [0.0, 0.0, 0])
                    acc[0] += rep.seconds
                    acc[1] += rep.bytes
                    acc[2] += 1
        return {name: (seconds / n, nbytes / n) for name, (seconds, nbytes, n) in sums.items()}

    def merge(self, observed: Mapping[str, Timing]) -> dict[str, list[float]]:
        """The document's new contents: each observed task averaged with its previous
        estimate, most recent last, at most ``KEEP`` tasks."""
        merged = {n: list(t) for n, t in self.timings.items() if n not in observed}
        for name, (seconds, nbytes) in observed.items():
            old = self.timings.get(name)
            merged[name] = [seconds, nbytes] if old is None else \
                [(old[0] + seconds) / 2, (old[1] + nbytes) / 2]
        return dict(list(merged.items())[-KEEP:])

    def save(self, store: Any, observed: Mapping[str, Timing]) -> None:
        """Best effort: estimates that cannot be written only cost fusion next time."""
        if not observed:
            return
        try:
            store.put_doc(STATS, TASKS, {"tasks": self.merge(observed)})
        except Exception as err:  # noqa: BLE001 - a read-only store, say
            log.debug("digestflow: could not save task timings: %s", err)


class RunFusion:
    """One run's fusion, for the Ray executor: the store's estimates, what this run's
    probes showed, and which nodes are fusable (their outputs come from Ray tasks that
    never fail at the Ray level: groups, and probes, run as groups of one)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.estimates: Estimates | None = None  # read on the first question
        self.fusable: set[str] = set()
        self.prober = Prober(1.0)
        self.learned: dict[str, Timing] = {}  # task -> a node's, from its probes
        self.outcomes: dict[str, Any] = {}  # probe node id -> its outcome future
        self.held: set[str] = set()  # what the last ``hold`` held back

    def estimate(self, job: NodeJob) -> float | None:
        """The task's seconds a node (from earlier runs, else from this run's probes);
        infinite (never fused) where its outputs are large or never stored, since a
        group holds every member's outputs until it ends; None if never timed."""
        if not job.task.opts.cache:
            return math.inf
        if self.estimates is None:
            self.estimates = Estimates.load(self.store)
        found = self.estimates.get(job.task) or self.learned.get(task_ident(job.task))
        if found is None:
            return None
        return found[0] if found[1] <= FUSE_BYTES else math.inf

    def plan(self, jobs: list[NodeJob], options: Callable[[NodeJob], Hashable],
             cpus: float) -> list[Group]:
        return plan_groups(jobs, self.estimate, options, self.fusable, cpus=cpus,
                           probes=self.prober.probes)

    def submitted(self, node_id: str, outcome: Any) -> None:
        """A job went to Ray with this outcome future (kept for probes)."""
        if node_id in self.prober.probes:
            self.outcomes[node_id] = outcome

    def hold(self, jobs: list[NodeJob], *, idle: bool, cpus: float, heard: float | None,
             now: float) -> tuple[list[NodeJob], list[NodeJob]]:
        """(submit now, hold back), see ``Prober``; ``idle``: nothing is in flight, so
        holding everything would wait for nothing: then nothing is held."""
        self.prober.cpus = max(1.0, cpus)
        settled = len(self.prober.settled)
        self.read_probes(now, heard)
        if not idle and len(self.prober.settled) == settled and self.held \
                and all(job.node_id in self.held for job in jobs):
            return [], jobs  # no probe settled, nothing new: what waited still waits
        submit, held = self.prober.split(jobs, lambda job: self.estimate(job) is not None,
                                         now)
        if idle and not submit:
            for ident in list(self.prober.probing):
                self.prober.settle(ident)
            submit, held = jobs, []
        self.held = {job.node_id for job in held}
        return submit, held

    def read_probes(self, now: float, heard: float | None) -> None:
        """Settle each probed task whose probes reported (timed by those that ran) or
        whose wait is over (too slow to fuse)."""
        overdue = set(self.prober.overdue(now, heard))
        for ident, probe in list(self.prober.probing.items()):
            outcomes = [f.result() for f in map(self.outcomes.get, probe.nodes)
                        if f is not None and f.done() and not f.cancelled()
                        and f.exception() is None]
            ran = [(o.seconds, o.bytes_written) for o in outcomes
                   if o.ok and o.reused_from is None and o.manifests]  # ran and stored
            if ran:
                seconds, nbytes = (sum(x) / len(ran) for x in zip(*ran, strict=True))
                self.learned[ident] = (seconds, nbytes)
                if seconds <= FUSE_BELOW and nbytes <= FUSE_BYTES:
                    self.fusable.update(probe.nodes)
            if ran or ident in overdue or len(outcomes) == len(probe.nodes):
                self.prober.settle(ident)

    def finished(self, event: Any) -> None:
        """``RunFinished`` subscriber: fold the run's task timings into the store's."""
        result = event.result
        if result.graph is None or result.store is None or result.cache not in (
                "use", "refresh"):
            return  # nothing stored: no sizes to go by
        observed = Estimates.observed(result.report, result.graph)
        if observed:
            (self.estimates or Estimates.load(result.store)).save(result.store, observed)
