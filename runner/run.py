"""``run`` / ``run_async`` / ``sign``: the user-facing entry points.

One run: resolve targets -> validate -> sign (keys) -> one batched index
lookup -> plan -> dispatch the missing nodes -> fetch the targets. A cached
object that turns out missing or corrupt triggers another planning round
(at most ``_MAX_ROUNDS``), so it is recomputed rather than reported.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from keys.errors import DigestflowError
from runner.dispatch import Dispatched, dispatch
from runner.errors import RunError, ValidationError
from runner.events import EventHandler, NodeEvent
from runner.executor import Executor, InlineExecutor
from runner.graph import Graph
from runner.lease import run_leases
from runner.lease_tables import describe_holder
from runner.plan import CACHE_MODES, Plan, make_plan, needed_refs, stored, without_failed
from runner.prepare import open_store, sign_targets
from runner.progress import make_progress
from runner.records import write_run
from runner.result import NodeReport, Result
from runner.summary import cache_counts
from runner.targets import Target

_MAX_ROUNDS = 3


def sign(targets: Any) -> dict[str, Any]:
    """{node id: keys.Key} for every node the targets need. No Ray, no store."""
    return sign_targets(targets, recipes=False).keys


def run(targets: Any, **options: Any) -> Result:
    """Run ``targets`` (see ``run_async`` for the options) and wait for the Result.

    Safe anywhere: a script, a thread, inside a running event loop (Jupyter).
    """
    from runner.background import run_coroutine

    try:
        return run_coroutine(lambda: run_async(targets, **options))
    except DigestflowError as err:  # its message says it all: no frames of ours above it
        raise err.with_traceback(None) from err.__cause__


async def run_async(
    targets: Any,
    *,
    store: Any = None,
    address: str | None = None,
    cache: str = "use",
    executor: Executor | str | None = None,
    progress: Any = None,
    raise_on_error: bool = True,
    on_event: EventHandler | None = None,
) -> Result:
    """Run the graph behind ``targets``, executing only nodes whose outputs are not stored.

    ``cache``: "use" (read + write), "refresh" (recompute and overwrite),
    "read" (read, never write), "off" (neither). ``executor``: None or "ray"
    (Ray; embedded local cluster unless connected or ``address``/RAY_ADDRESS
    is set), "inline" (in this process) or an Executor instance.
    """
    if cache not in CACHE_MODES:
        raise ValidationError(f"cache={cache!r}; expected one of {', '.join(CACHE_MODES)}")
    started = time.time()
    store_obj = open_store(store)
    signed = sign_targets(targets, store_obj)
    graph, flat, order = signed.graph, signed.targets, signed.order
    execu = _make_executor(executor, address)
    ctx = _RunContext(graph=graph, keys=signed.hexkeys, on_event=on_event,
                      progress=make_progress(progress))
    index = await execu.open(store_obj)
    try:
        values = await _rounds(ctx, execu, index, store_obj, order, flat, cache)
        report = ctx.report(order)
        _report_cache(execu, report)
    finally:
        await execu.close()
        if hasattr(ctx.progress, "close"):
            ctx.progress.close()
    result = Result(
        values=signed.rebuild(values),
        report=report,
        run_id=ctx.run_id,
        started=started,
        finished=time.time(),
        lookups=index.lookups,
        meta={"signer": signed.signer, "store": store_obj, "targets": flat, "graph": graph},
    )
    write_run(store_obj, result, cache=cache, executor=getattr(execu, "name", ""))
    if raise_on_error and result.failed:
        first = result.by_id()[result.failed[0]]
        raise RunError(
            f"{len(result.failed)} node(s) failed; first: node {first.id!r} (task "
            f"{first.task}): {first.error}\n{first.traceback or ''}",
            result,
        )
    return result


@dataclass(kw_only=True)
class _RunContext:
    """Per-run bookkeeping shared by the planning rounds."""

    graph: Graph
    keys: dict[str, str]
    on_event: EventHandler | None
    progress: Any
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-")
                        + uuid.uuid4().hex[:6])
    status: dict[str, str] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)

    def emit(self, kind: str, nid: str, outcome: Any = None) -> None:
        node = self.graph[nid]
        info = self.reports.setdefault(nid, {})
        if outcome is not None:
            info["seconds"] = info.get("seconds", 0.0) + outcome.seconds
            info["bytes"] = outcome.bytes_written
            info["bytes_read"] = outcome.bytes_read
            if outcome.error is not None:
                info["error"] = str(outcome.error)
                info["traceback"] = outcome.error.traceback
        if kind == "finished":
            self.status[nid] = "executed"
        elif kind in ("failed", "skipped", "cached"):
            self.status[nid] = kind
        event = NodeEvent(kind=kind, node_id=nid, task=node.task.name, key=self.keys[nid],
                          seconds=info.get("seconds", 0.0), bytes=info.get("bytes", 0),
                          error=info.get("error"))
        for sink in (self.on_event, self.progress):
            if callable(sink):
                sink(event)

    def report(self, order: list[str]) -> list[NodeReport]:
        out = []
        for nid in order:
            info = self.reports.get(nid, {})
            out.append(NodeReport(
                id=nid, task=self.graph[nid].task.name,
                status=self.status.get(nid, "unneeded"), key=self.keys[nid],
                seconds=info.get("seconds", 0.0), bytes=info.get("bytes", 0),
                bytes_read=info.get("bytes_read", 0), error=info.get("error"),
                traceback=info.get("traceback"), same_as=info.get("same_as"),
                waited_for=info.get("waited_for"),
            ))
        return out


async def _rounds(ctx: _RunContext, execu: Executor, index: Any, store: Any,
                  order: list[str], flat: list[Target], cache: str) -> list[Any]:
    graph, keys = ctx.graph, ctx.keys
    refs = needed_refs(graph, order, keys) if cache != "off" else []
    leases = run_leases(store, index, cache=cache, run_id=ctx.run_id, started=time.time())
    round_no = stale_rounds = 0
    failed: set[str] = set()  # a node fails once per run, however many rounds follow
    try:
        while stale_rounds < _MAX_ROUNDS:
            round_no += 1
            found, mode = await _lookup(index, leases, refs, cache)
            plan = make_plan(graph, order, keys, [t[0] for t in flat], found, cache=mode)
            plan = without_failed(graph, plan, failed)
            if round_no == 1 or plan.run:
                execu.prepare({graph[nid].task for nid in plan.run})
            _mark_cached(ctx, plan)
            now, waiting = await leases.claim(graph, plan)  # X2 across drivers
            done, _ = await asyncio.gather(
                dispatch(graph, now, execu, index, write=cache in ("use", "refresh"),
                         emit=ctx.emit, recorded=leases.recorded),
                leases.wait(waiting))
            failed |= {nid for nid, state in done.state.items() if state == "failed"}
            if done.stale:
                stale_rounds += 1
                await leases.forget(_recheck(refs, done.stale))
                continue
            if waiting:
                continue  # another driver computed part of it: plan again
            values, stale = await _fetch_targets(ctx, plan, done, execu, store, flat)
            if not stale:
                _mark_duplicates(ctx, plan)
                _mark_waited(ctx, plan, leases.waited_for)
                return values
            stale_rounds += 1
            await leases.forget(_recheck(refs, stale))
    finally:
        await leases.close()
    raise RunError(f"cached objects kept vanishing after {_MAX_ROUNDS} rounds; "
                   "is another process deleting from the store?",
                   Result(values=None, report=ctx.report(order)))


def _recheck(refs: list[tuple[str, int]], stale: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The stale refs plus every ref the graph could be served from: the index forgets
    them all, so the next round's lookup re-checks each against the store (N vanished
    objects cost one extra round, not N)."""
    return list(dict.fromkeys([*stale, *refs]))


async def _lookup(index: Any, leases: Any, refs: list[tuple[str, int]], cache: str
                  ) -> tuple[dict[Any, Any], str]:
    """This round's found outputs and the cache mode to plan them with. A refresh
    reads only outputs written since it began: by another run it waited for, or
    by itself in an earlier round."""
    found = await index.lookup(refs) if refs else {}
    if cache != "refresh":
        return found, cache
    return {r: m for r, m in found.items() if leases.fresh(m)}, "use"


def _mark_waited(ctx: _RunContext, plan: Plan, waited_for: dict[str, str]) -> None:
    """Nodes read from the store after another run computed them while this one waited."""
    for nid in plan.order:
        holder = waited_for.get(plan.keys[nid])
        if holder is not None and ctx.status.get(nid) == "cached":
            ctx.reports.setdefault(nid, {})["waited_for"] = describe_holder(holder)


def _mark_cached(ctx: _RunContext, plan: Plan) -> None:
    """Needed cached nodes get an event; others whose outputs exist are reported cached."""
    for nid in plan.order:
        if nid not in plan.run_set and stored(ctx.graph, nid, plan.keys[nid], plan.found):
            ctx.status.setdefault(nid, "cached")
    for nid in plan.cached:
        if nid not in ctx.reports:
            key, n = plan.keys[nid], ctx.graph[nid].task.num_returns
            size = sum(plan.found[(key, s)].nbytes for s in range(n))
            ctx.reports.setdefault(nid, {})["bytes"] = size
            ctx.emit("cached", nid)


def _mark_duplicates(ctx: _RunContext, plan: Plan) -> None:
    for nid, canon in plan.canon.items():
        if canon != nid and canon in ctx.status:
            ctx.status[nid] = ctx.status[canon]
            ctx.reports.setdefault(nid, {})["same_as"] = canon


async def _fetch_targets(ctx: _RunContext, plan: Plan, done: Dispatched, execu: Executor,
                         store: Any, flat: list[Target]) -> tuple[list[Any], list[Any]]:
    """Target values: computed ones fetched from the executor concurrently, cached ones
    read from the store; refs that turned out missing or corrupt are returned as stale."""
    stale: list[tuple[str, int]] = []
    per_target: list[list[Any]] = []
    for nid, socket in flat:
        canon = plan.canon[nid]
        sockets = [socket] if socket is not None else range(ctx.graph[canon].task.num_returns)
        per_target.append([_target_value(ctx, plan, done, execu, store, canon, s, stale)
                           for s in sockets])
    fetched = iter(await asyncio.gather(*(v for got in per_target for v in got
                                          if isinstance(v, _Fetch))))
    values = []
    for (_, socket), got in zip(flat, per_target, strict=True):
        got = [next(fetched) if isinstance(v, _Fetch) else v for v in got]
        values.append(got[0] if socket is not None else tuple(got))
    return values, stale


class _Fetch:
    """An awaitable marking a value still to be fetched from the executor."""

    def __init__(self, coro: Any) -> None:
        self.coro = coro

    def __await__(self) -> Any:
        return self.coro.__await__()


def _target_value(ctx: _RunContext, plan: Plan, done: Dispatched, execu: Executor, store: Any,
                  canon: str, socket: int, stale: list[tuple[str, int]]) -> Any:
    from storage import CorruptObjectError, ObjectNotFound

    if canon in plan.run_set:
        ok = done.state.get(canon) == "done"
        return _Fetch(execu.fetch(done.handles[(canon, socket)])) if ok else None
    if ctx.status.get(canon) in ("failed", "skipped"):
        return None  # failed in an earlier round of this run
    try:
        return store.get(plan.keys[canon], socket)
    except (ObjectNotFound, CorruptObjectError):
        stale.append((plan.keys[canon], socket))
        return None


def _report_cache(execu: Executor, report: list[NodeReport]) -> None:
    """Tell an executor that exports metrics (Ray) this run's cache hits and misses."""
    hook = getattr(execu, "record_cache", None)
    if hook is not None:
        hook(*cache_counts(report))


def _make_executor(executor: Executor | str | None, address: str | None) -> Executor:
    if executor == "inline":
        return InlineExecutor()
    if executor is None or executor == "ray":
        from cluster import RayExecutor

        return RayExecutor(address=address)
    if isinstance(executor, str):
        raise ValidationError(f"executor={executor!r}; expected 'ray', 'inline' or an Executor")
    return executor
