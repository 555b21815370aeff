"""The outcomes a run awaits from its Ray tasks: reported by workers, or found by a watchdog.

State: one future per submitted node, resolved by the node's report
(``cluster.reports``). A task can end without reporting: Ray failed it
because an input could not be computed, its worker crashed past its retries,
or the report was lost. The watchdog finds those without fetching any output:
when no report arrived for a while, it asks Ray which awaited tasks already
ended (``ray.wait`` without fetching); one that ended and is still unreported
a poll later is settled from its output object. That is an error (small), or
the task succeeded and its report was lost (a worker that cannot reach the
driver's report port, say): the outcome is then read from the store, where the
worker put its outputs before returning them (the node's manifests, as a cache
hit would read them), and the run goes on. Outputs that should be stored but
are not make it a failure, never a success the store cannot back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import ray

from cluster.reports import ReportServer
from cluster.worker import Missing, NodeFailed
from runner.contracts import ErrorInfo, NodeOutcome

log = logging.getLogger("digestflow")
FIRST_POLL = 0.05  # seconds without a report before the watchdog looks
LAST_POLL = 1.0  # it backs off to this while nothing happens
UNANSWERED = "<index died before answering>"  # a held node's holder when no lease was decided


@dataclass(frozen=True, slots=True)
class _Awaited:
    future: asyncio.Future[NodeOutcome]
    ref: Any  # the node's first output ObjectRef
    start: float
    leased: bool = False  # the task checks a lease answer (``NodeJob.lease``)
    key: str = ""
    sockets: int = 1
    stores: bool = False  # its worker puts its outputs in the store before returning them


class Tracker:
    """Futures of this run's submitted nodes; see the module docstring."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, store: Any) -> None:
        self.loop = loop
        self.store = store
        self.recovered = 0  # outcomes read from the store for want of a report
        self.server = ReportServer(loop, host, self._deliver)
        self.reply = self.server.reply
        self.waiting: dict[str, _Awaited] = {}
        self._heard = False
        self.first_heard: float | None = None  # time.monotonic() of the run's first report
        self._watch = loop.create_task(self._watchdog())

    def expect(self, node_id: str, ref: Any, *, leased: bool = False, key: str = "",
               sockets: int = 1, stores: bool = False) -> asyncio.Future[NodeOutcome]:
        """The future of ``node_id``'s outcome (a resubmission replaces an earlier one)."""
        fut: asyncio.Future[NodeOutcome] = self.loop.create_future()
        self.waiting[node_id] = _Awaited(fut, ref, time.perf_counter(), leased, key, sockets,
                                         stores)
        return fut

    def close(self) -> None:
        self._watch.cancel()
        self.server.close()
        self.waiting.clear()

    def _deliver(self, reports: list[tuple[str, NodeOutcome]]) -> None:
        self._heard = True
        if self.first_heard is None:
            self.first_heard = time.monotonic()
        for node_id, outcome in reports:
            awaited = self.waiting.pop(node_id, None)
            if awaited is not None and not awaited.future.done():
                awaited.future.set_result(outcome)

    async def _watchdog(self) -> None:
        delay, suspects = FIRST_POLL, set[str]()
        while True:
            await asyncio.sleep(delay)
            if self._heard or not self.waiting:
                self._heard, delay, suspects = False, FIRST_POLL, set()
                continue
            delay = min(delay * 2, LAST_POLL)
            self.server.drain()
            try:
                ended = self._ended()
            except Exception as err:  # noqa: BLE001 - Ray going away: the watchdog must live
                log.debug("digestflow: the report watchdog could not ask Ray: %s", err)
                continue
            settle = [nid for nid in ended if nid in suspects]
            suspects = set(ended) - set(settle)
            if settle:
                await self._settle(settle)

    def _ended(self) -> list[str]:
        """Awaited nodes whose task ended, in submission order."""
        items = list(self.waiting.items())
        ready, _ = ray.wait([a.ref for _, a in items], num_returns=len(items), timeout=0,
                            fetch_local=False)
        done = set(ready)
        return [nid for nid, a in items if a.ref in done]

    async def _settle(self, node_ids: list[str]) -> None:
        """Outcomes of tasks that ended unreported, set in submission order (a parent's
        failure before the child's, so the child is skipped, not failed)."""
        awaited = [(nid, self.waiting[nid]) for nid in node_ids]
        outcomes = await asyncio.gather(*(self._outcome(nid, a) for nid, a in awaited))
        for (nid, a), outcome in zip(awaited, outcomes, strict=True):
            if self.waiting.get(nid) is a:
                del self.waiting[nid]
            if not a.future.done():
                a.future.set_result(outcome)

    async def _outcome(self, node_id: str, awaited: _Awaited) -> NodeOutcome:
        try:
            value = await asyncio.wrap_future(awaited.ref.future())
        except Exception as err:  # noqa: BLE001 - settled by what Ray raised
            return _failed(node_id, awaited, err)
        if type(value) is Missing:  # a fused node that did not produce it (a small object)
            return _not_run(node_id, value.failed)
        if self.recovered == 0:
            host, port, _ = self.server.reply
            log.warning("digestflow: a task's report did not reach this driver (listening on "
                        "%s:%d); outcomes without a report are read from the store instead, "
                        "which is slower: workers must be able to reach that port "
                        "(docs/cluster.md)", host, port)
        self.recovered += 1
        return await asyncio.to_thread(_from_store, self.store, awaited)


def _failed(node_id: str, awaited: _Awaited, err: BaseException) -> NodeOutcome:
    """The outcome of a task that ended with ``err`` (its output object) unreported."""
    if not isinstance(err, ray.exceptions.RayTaskError):  # crashed past retries, node died...
        return _error(err, awaited.start)
    cause = err.as_instanceof_cause()
    failed = getattr(cause, "cause", None) or cause
    if isinstance(failed, NodeFailed):
        return _not_run(node_id, failed)
    if awaited.leased and isinstance(failed, ray.exceptions.RayActorError):
        return NodeOutcome(held=UNANSWERED)  # the index died before its lease answer
    return _error(err, awaited.start)


def _not_run(node_id: str, failed: NodeFailed) -> NodeOutcome:
    """The outcome of a node that produced no outputs because of ``failed``: its own
    failure, or an ancestor's."""
    if failed.node_id != node_id:
        return NodeOutcome(upstream_failed=failed.node_id)
    if failed.stale:
        return NodeOutcome(stale=[failed.stale])
    if failed.held:
        return NodeOutcome(held=failed.held)
    return NodeOutcome(error=failed.info)


def _from_store(store: Any, awaited: _Awaited) -> NodeOutcome:
    """A succeeded task's outcome from the manifests its worker stored (none where it
    stores nothing); a failure if they are not all there."""
    seconds = time.perf_counter() - awaited.start
    if not awaited.stores:
        return NodeOutcome(seconds=seconds)
    try:
        manifests = [store.manifest(awaited.key, s).to_dict() for s in range(awaited.sockets)]
    except Exception as err:  # noqa: BLE001 - missing or unreadable: not backed by the store
        return NodeOutcome(seconds=seconds, error=ErrorInfo(
            type="ReportLost", message="the task finished but its report never reached the "
            f"driver, and its outputs are not in the store ({err})", traceback=""))
    return NodeOutcome(manifests=manifests, seconds=seconds,
                       bytes_written=sum(m["nbytes"] for m in manifests))


def _error(err: BaseException, start: float) -> NodeOutcome:
    text = str(err).strip()
    info = ErrorInfo(type=type(err).__name__,
                     message=text.splitlines()[-1] if text else type(err).__name__,
                     traceback=str(err))
    return NodeOutcome(seconds=time.perf_counter() - start, error=info)
