"""Drive the Scheduler with an executor on asyncio: submit ready nodes, await outcomes.

Each outcome becomes one scheduler transition and one ledger transition:
executed, reused (early cutoff), failed (descendants skipped) or stale (a
cached input vanished: the node and its descendants are held, and the ref is
returned so the next planning round recomputes the producer). Failures stop
only their descendants; independent branches finish and are cached.
Manifests are recorded in the index in batches as nodes finish.

An executor may take every ready job at once (``submit_many``: Ray's fuses
tiny ones) and hold some back for a while (``hold``: Ray's times new tasks
on a few nodes first); with nothing in flight nothing is held, so holding
delays a run and never wedges it. A node reported as never run because of a
failure that is not its ancestor's (it shared a fused Ray task with a node
below that failure) runs again in the next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.contracts import Cutoff, ErrorInfo, Executor, NodeJob, NodeOutcome, Ref, Submission
from runner.execution.ledger import Ledger
from runner.graph import Graph
from runner.index import Index
from runner.plan import Plan
from runner.scheduler import FINISHED, SUBMITTED, Scheduler

Recorded = Callable[[list[str]], Awaitable[None]]


@dataclass(kw_only=True)
class Dispatched:
    """One round's dispatch: output handles, final scheduler states, stale refs."""

    handles: dict[tuple[str, int], Any] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    stale: list[Ref] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # to run next round: a lease went
    # elsewhere, or it never ran (fused with a node below a failure, see ``_settle``)


async def dispatch(graph: Graph, plan: Plan, executor: Executor, index: Index, ledger: Ledger,
                   *, write: bool, cutoff: Callable[[str], Cutoff | None],
                   recorded: Recorded | None = None, lease: Any = None) -> Dispatched:
    """Run ``plan.run``; ``recorded(keys)`` follows each batch of manifests recorded;
    ``lease``: a lease handle every job carries (see ``runner.lease``)."""
    parents = {nid: plan.parents(graph, nid) for nid in plan.run}
    sched = Scheduler(parents, pipelined=executor.pipelined)
    out = Dispatched()
    finished: asyncio.Queue[tuple[str, asyncio.Future[Any]]] = asyncio.Queue()
    in_flight: set[str] = set()  # submitted, not yet settled, skipped or held
    recorder = _Recorder(index, recorded)
    position = {nid: i for i, nid in enumerate(plan.run)}
    held: list[NodeJob] = []  # ready, but the executor holds them back for now
    while True:
        jobs = [job for job in held if sched.state(job.node_id) == SUBMITTED]
        jobs += [plan.job(graph, nid, write=write, cutoff=cutoff(nid), lease=lease)
                 for nid in sched.ready()]
        jobs, held = _hold(executor, jobs, idle=not in_flight)
        for job, sub in zip(jobs, _submit(executor, jobs, out.handles), strict=True):
            nid = job.node_id  # its handles are in out.handles already (``_submit``)
            fut = asyncio.ensure_future(sub.outcome)
            fut.add_done_callback(lambda f, nid=nid: finished.put_nowait((nid, f)))
            in_flight.add(nid)
            ledger.started(nid)
        if not in_flight:
            break  # nothing held either: with nothing in flight, nothing is held
        try:
            done = [await asyncio.wait_for(finished.get(), executor.hold_timeout()
                                           if held else None)]
        except TimeoutError:
            continue  # ask the executor again about what it holds
        while not finished.empty():  # settle everything already finished in one pass
            done.append(finished.get_nowait())
        for nid, fut in sorted(done, key=lambda d: position[d[0]]):
            in_flight.difference_update(_settle(sched, ledger, out, nid, fut.result(),
                                                recorder, parents))
            if sched.state(nid) != SUBMITTED:
                in_flight.discard(nid)  # else an ancestor's report will skip or hold it
        recorder.maybe_flush()
    await recorder.flush()
    out.states = sched.states()
    return out


def _hold(executor: Executor, jobs: list[NodeJob], *, idle: bool,
          ) -> tuple[list[NodeJob], list[NodeJob]]:
    """(submit now, hold back), where the executor holds some back (``hold``); with
    nothing in flight, nothing is held, whatever the executor says."""
    hold = getattr(executor, "hold", None)
    if hold is None:
        return jobs, []
    now, later = hold(jobs, idle=idle)
    return (now, later) if now or not idle else (jobs, [])


def _descends(parents: Mapping[str, Iterable[str]], nid: str, root: str) -> bool:
    """Whether ``root`` is an ancestor of ``nid`` among the nodes this round runs."""
    seen, stack = {nid}, [nid]
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent == root:
                return True
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return False


def _submit(executor: Executor, jobs: list[NodeJob],
            handles: dict[tuple[str, int], Any]) -> list[Submission]:
    """Submit ``jobs`` in order: all at once where the executor can (it may fuse some),
    else one by one; ``handles`` gains each job's output handles."""
    many = getattr(executor, "submit_many", None)
    if many is not None:
        return many(jobs, handles)
    subs = []
    for job in jobs:
        sub = executor.submit(job, handles)
        handles.update({(job.node_id, s): h for s, h in enumerate(sub.outputs)})
        subs.append(sub)
    return subs


def _settle(sched: Scheduler, ledger: Ledger, out: Dispatched, nid: str,
            outcome: NodeOutcome, recorder: _Recorder,
            parents: Mapping[str, Iterable[str]]) -> list[str]:
    """Apply one outcome; returns the descendants it skipped or held (no longer awaited)."""
    if sched.state(nid) != SUBMITTED:
        return []  # reported late: an ancestor's report skipped or held it
    if outcome.upstream_failed is not None:
        root = outcome.upstream_failed
        if not _descends(parents, nid, root):  # it shared a Ray task (fusion) with a node
            out.held.append(nid)  # below ``root``, which Ray failed whole: it never ran,
            return sched.stale(nid)  # and no report of ``root`` will skip it: next round
        if sched.states().get(root) not in FINISHED:  # rare: a copy of the states is fine
            return []  # never ran: the ancestor's own report skips or holds it
        outcome = NodeOutcome(error=ErrorInfo(  # the ancestor reported success, then broke
            type="UpstreamLost", message=f"an output of node {root!r} could not be delivered "
            "to this node", traceback=""))
    if outcome.ok and outcome.reused_from is not None:
        sched.reused(nid)
        recorder.add(outcome.manifests)
        ledger.reused(nid, outcome, outcome.reused_from)
    elif outcome.ok:
        sched.done(nid)
        recorder.add(outcome.manifests)
        ledger.executed(nid, outcome)
    elif outcome.stale:
        out.stale.extend(outcome.stale)
        return sched.stale(nid)
    elif outcome.held is not None:  # like a stale input: it and all below wait a round
        out.held.append(nid)
        return sched.stale(nid)
    else:
        skipped = sched.failed(nid)
        ledger.failed(nid, outcome)
        for child in skipped:
            ledger.skipped(child)
        return skipped
    return []


class _Recorder:
    """Batches manifests for the index: one call per flush, not one per node."""

    def __init__(self, index: Index, recorded: Recorded | None = None, batch: int = 512) -> None:
        self.index = index
        self.recorded = recorded
        self.batch = batch
        self.buffer: list[dict[str, Any]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def add(self, manifests: list[dict[str, Any]]) -> None:
        self.buffer.extend(manifests)

    def maybe_flush(self) -> None:
        if len(self.buffer) >= self.batch:
            self.tasks.append(asyncio.ensure_future(self._send()))

    async def _send(self) -> None:
        batch, self.buffer = self.buffer, []
        if batch:
            await self.index.record(batch)
            if self.recorded is not None:
                await self.recorded(sorted({m["key"] for m in batch}))

    async def flush(self) -> None:
        await self._send()
        if self.tasks:
            await asyncio.gather(*self.tasks)
