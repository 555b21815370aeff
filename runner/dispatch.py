"""Drive the Scheduler with an executor on asyncio: submit ready nodes, await outcomes.

Failures stop only their descendants; independent branches finish and are
cached. Manifests are recorded in the index in batches as nodes finish.
A node whose cached input turned out stale is neither done nor a failure:
its ref is returned so the next planning round recomputes the producer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from runner.contracts import Executor, NodeOutcome
from runner.graph import Graph
from runner.index import Index
from runner.plan import Plan
from runner.scheduler import SKIPPED, Scheduler

Emit = Callable[..., None]
Recorded = Callable[[list[str]], Awaitable[None]]


@dataclass(kw_only=True)
class Dispatched:
    handles: dict[tuple[str, int], Any] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    stale: list[tuple[str, int]] = field(default_factory=list)


async def dispatch(
    graph: Graph,
    plan: Plan,
    executor: Executor,
    index: Index,
    *,
    write: bool,
    emit: Emit,
    recorded: Recorded | None = None,
) -> Dispatched:
    """Run ``plan.run``; ``recorded(keys)`` follows each batch of manifests recorded."""
    parents = {nid: plan.parents(graph, nid) for nid in plan.run}
    sched = Scheduler(parents, pipelined=executor.pipelined)
    out = Dispatched(state=sched.state)
    finished: asyncio.Queue[tuple[str, asyncio.Future[Any]]] = asyncio.Queue()
    in_flight = 0
    recorder = _Recorder(index, recorded)
    position = {nid: i for i, nid in enumerate(plan.run)}
    while True:
        for nid in sched.ready():
            sub = executor.submit(plan.job(graph, nid, write=write), out.handles)
            out.handles.update({(nid, s): h for s, h in enumerate(sub.outputs)})
            fut = asyncio.ensure_future(sub.outcome)
            fut.add_done_callback(lambda f, nid=nid: finished.put_nowait((nid, f)))
            in_flight += 1
            emit("started", nid)
        if not in_flight:
            break
        done = [await finished.get()]
        while not finished.empty():  # settle everything already finished in one pass
            done.append(finished.get_nowait())
        in_flight -= len(done)
        for nid, fut in sorted(done, key=lambda d: position[d[0]]):
            _settle(sched, out, nid, fut.result(), recorder, emit)
        recorder.maybe_flush()
    await recorder.flush()
    return out


def _settle(
    sched: Scheduler, out: Dispatched, nid: str, outcome: NodeOutcome, recorder: _Recorder,
    emit: Emit,
) -> None:
    if sched.state[nid] == SKIPPED or outcome.upstream_failed is not None:
        return  # the failing ancestor reports; this node is skipped
    if outcome.ok:
        sched.done(nid)
        recorder.add(outcome.manifests)
        emit("finished", nid, outcome=outcome)
        return
    skipped = sched.failed(nid)
    if outcome.stale:
        out.stale.extend(outcome.stale)
        sched.state[nid] = "stale"
    else:
        emit("failed", nid, outcome=outcome)
    for child in skipped:
        emit("skipped", child)


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
