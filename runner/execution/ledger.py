"""The ledger: the one owner of every node's state during a run (X6).

One ``NodeRecord`` per node, one ``NodeStatus`` vocabulary. Planning and
dispatch change a record only through the ledger's transitions, each of
which publishes a typed ``NodeEvent``; the report, explain, progress and
run records all read this one vocabulary.

Statuses: ``unneeded`` until a plan needs the node; ``pending`` while it is
needed and not settled; then ``cached`` (served from the store),
``executed`` (its function ran), ``reused`` (early cutoff: its inputs had the
content of an earlier run's, so that run's outputs were reused), ``failed``
or ``skipped`` (an ancestor failed). A pending node may stay pending across
planning rounds (a stale input, a lease held elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from runner.contracts import NodeOutcome
from runner.events import EventKind, Events, NodeEvent
from runner.result import NodeReport


class NodeStatus(StrEnum):
    UNNEEDED = "unneeded"
    PENDING = "pending"
    CACHED = "cached"
    EXECUTED = "executed"
    REUSED = "reused"
    FAILED = "failed"
    SKIPPED = "skipped"


SETTLED = frozenset({NodeStatus.CACHED, NodeStatus.EXECUTED, NodeStatus.REUSED,
                     NodeStatus.FAILED, NodeStatus.SKIPPED})
BROKEN = frozenset({NodeStatus.FAILED, NodeStatus.SKIPPED})


@dataclass(kw_only=True)
class NodeRecord:
    """Everything the run knows about one node."""

    id: str
    task: str
    key: str
    status: NodeStatus = NodeStatus.UNNEEDED
    seconds: float = 0.0
    bytes: int = 0
    bytes_read: int = 0
    error: str | None = None
    traceback: str | None = None
    same_as: str | None = None
    reused_from: str | None = None
    waited_for: str | None = None

    def report(self) -> NodeReport:
        return NodeReport(id=self.id, task=self.task, status=self.status.value, key=self.key,
                          seconds=self.seconds, bytes=self.bytes, bytes_read=self.bytes_read,
                          error=self.error, traceback=self.traceback, same_as=self.same_as,
                          reused_from=self.reused_from, waited_for=self.waited_for)


class Ledger:
    """Records by node id, in topological order; transitions publish events."""

    def __init__(self, records: list[NodeRecord], events: Events) -> None:
        self.records = {r.id: r for r in records}
        self.events = events

    def __getitem__(self, node_id: str) -> NodeRecord:
        return self.records[node_id]

    def status(self, node_id: str) -> NodeStatus:
        return self.records[node_id].status

    def with_status(self, *statuses: NodeStatus) -> set[str]:
        return {nid for nid, r in self.records.items() if r.status in statuses}

    def needed(self, node_id: str) -> None:
        rec = self.records[node_id]
        if rec.status == NodeStatus.UNNEEDED:
            rec.status = NodeStatus.PENDING

    def cached(self, node_id: str, nbytes: int, *, needed: bool = True) -> None:
        """Served from the store; a node no target needs this time is reported, not announced."""
        rec = self.records[node_id]
        if rec.status not in (NodeStatus.UNNEEDED, NodeStatus.PENDING):
            return  # settled earlier in this run
        rec.status, rec.bytes = NodeStatus.CACHED, nbytes
        if needed:
            self._emit("cached", rec)

    def started(self, node_id: str) -> None:
        self._emit("started", self.records[node_id])

    def executed(self, node_id: str, outcome: NodeOutcome) -> None:
        self._settle(node_id, NodeStatus.EXECUTED, outcome, "finished")

    def reused(self, node_id: str, outcome: NodeOutcome, source: str) -> None:
        self.records[node_id].reused_from = source
        self._settle(node_id, NodeStatus.REUSED, outcome, "reused")

    def failed(self, node_id: str, outcome: NodeOutcome) -> None:
        rec = self.records[node_id]
        if outcome.error is not None:
            rec.error, rec.traceback = str(outcome.error), outcome.error.traceback
        self._settle(node_id, NodeStatus.FAILED, outcome, "failed")

    def skipped(self, node_id: str) -> None:
        rec = self.records[node_id]
        rec.status = NodeStatus.SKIPPED
        self._emit("skipped", rec)

    def waited(self, node_id: str, holder: str) -> None:
        """A cached node was computed by ``holder`` (another run) while this one waited."""
        self.records[node_id].waited_for = holder

    def same_as(self, node_id: str, canon: str) -> None:
        """``node_id`` has ``canon``'s key: it shares its status and did no work of its own."""
        rec, src = self.records[node_id], self.records[canon]
        rec.status, rec.same_as, rec.reused_from = src.status, canon, src.reused_from

    def reports(self) -> list[NodeReport]:
        return [r.report() for r in self.records.values()]

    def _settle(self, node_id: str, status: NodeStatus, outcome: NodeOutcome,
                kind: EventKind) -> None:
        rec = self.records[node_id]
        rec.status = status
        rec.seconds += outcome.seconds
        rec.bytes, rec.bytes_read = outcome.bytes_written, outcome.bytes_read
        self._emit(kind, rec)

    def _emit(self, kind: EventKind, rec: NodeRecord) -> None:
        if not self.events.node:
            return  # nobody listens (no display, no on_event): build no event
        self.events.emit(NodeEvent(kind=kind, node_id=rec.id, task=rec.task, key=rec.key,
                                   seconds=rec.seconds, bytes=rec.bytes, error=rec.error))


def new_ledger(graph: Any, order: list[str], keys: dict[str, str], events: Events) -> Ledger:
    return Ledger([NodeRecord(id=nid, task=graph[nid].task.name, key=keys[nid])
                   for nid in order], events)
