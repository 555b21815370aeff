"""``run`` / ``run_async`` / ``sign``: the user-facing entry points.

One run: resolve targets -> validate -> sign (keys) -> open the store and the
executor -> a ``runner.execution.Run`` plans, dispatches the missing nodes
and fetches the targets -> a Result, published to the run's subscribers
(progress, run record, metrics). See ``runner.execution`` for the rounds.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from keys.errors import DigestflowError
from runner.collector import gc_paused
from runner.errors import RunError, ValidationError
from runner.events import EventHandler, Events
from runner.execution import Run, Vanishing, new_ledger
from runner.executor import Executor, InlineExecutor
from runner.lease import run_leases
from runner.plan import CACHE_MODES
from runner.prepare import open_store, sign_keys, sign_targets
from runner.progress import Progress, make_progress
from runner.records import record_run
from runner.result import Result


def sign(targets: Any) -> dict[str, Any]:
    """{node id: keys.Key} for every node the targets need. No Ray, no store."""
    return sign_keys(targets)


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
    cutoff: bool = True,
    fuse: bool = True,
) -> Result:
    """Run the graph behind ``targets``, executing only nodes whose outputs are not stored.

    ``cache``: "use" (read + write), "refresh" (recompute and overwrite),
    "read" (read, never write), "off" (neither). ``executor``: None or "ray"
    (Ray; embedded local cluster unless connected or ``address``/RAY_ADDRESS
    is set), "inline" (in this process) or an Executor instance. ``cutoff``:
    early cutoff; a node whose inputs have the content they had in an earlier
    run is reused from that run instead of executed (see docs/internals.md). ``fuse``:
    on Ray, run consecutive tiny nodes (of tasks timed under 5 ms a node, in earlier
    runs or on this run's first few nodes) several to a Ray task; each is still
    stored, reported and failed on its own.
    """
    if cache not in CACHE_MODES:
        raise ValidationError(f"cache={cache!r}; expected one of {', '.join(CACHE_MODES)}")
    started, run_id = time.time(), _run_id()
    store_obj = open_store(store)
    signed = sign_targets(targets, store_obj)
    execu = _make_executor(executor, address, fuse)
    display = make_progress(progress)
    events = _subscribers(on_event, display)
    with gc_paused():
        ledger = new_ledger(signed.graph, signed.order, signed.hexkeys, events)
    index = await execu.open(store_obj, events)
    leases = run_leases(store_obj, index, cache=cache, run_id=run_id, started=started)
    run_obj = Run(signed=signed, store=store_obj, executor=execu, index=index, leases=leases,
                  ledger=ledger, cache=cache, cutoff=cutoff)
    vanished: Vanishing | None = None
    try:
        values: list[Any] | None = await run_obj.execute()
    except Vanishing as err:
        values, vanished = None, err
    finally:
        await leases.close()
        await execu.close()
        if isinstance(display, Progress):
            display.close()
    with gc_paused():  # the report and the run record: a few objects per node
        result = Result(
            values=signed.rebuild(values) if values is not None else None,
            report=ledger.reports(), run_id=run_id, started=started, finished=time.time(),
            lookups=index.lookups, cache=cache, executor=execu.name, graph=signed.graph,
            signer=signed.signer, store=store_obj, targets=tuple(signed.targets),
        )
        events.finish(result)
    if vanished is not None:
        raise RunError(str(vanished), result) from vanished
    if raise_on_error and result.failed:
        first = result.by_id()[result.failed[0]]
        raise RunError(
            f"{len(result.failed)} node(s) failed; first: node {first.id!r} (task "
            f"{first.task}): {first.error}\n{first.traceback or ''}",
            result,
        )
    return result


def _subscribers(on_event: EventHandler | None, progress: Any) -> Events:
    """The run's reporting: the user's handler, a progress display, the run record."""
    events = Events()
    if on_event is not None:
        events.subscribe(node=on_event)
    if progress is not None:
        events.subscribe(node=progress)
    events.subscribe(finished=record_run)
    return events


def _run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _make_executor(executor: Executor | str | None, address: str | None,
                   fuse: bool = True) -> Executor:
    if executor == "inline":
        return InlineExecutor()
    if executor is None or executor == "ray":
        from cluster import RayExecutor

        return RayExecutor(address=address, fuse=fuse)
    if isinstance(executor, str):
        raise ValidationError(f"executor={executor!r}; expected 'ray', 'inline' or an Executor")
    return executor
