"""Typed run events: what reporting (progress, run records, metrics) subscribes to.

``NodeEvent``s go to ``run(on_event=...)`` and progress displays as the
ledger records each transition; ``RunFinished`` carries the Result once the
run is over (run records, metrics, closing a display). ``Events`` is the
run's subscription list: reporting is never called by name or probed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from runner.result import Result

EventKind = Literal["cached", "started", "finished", "reused", "failed", "skipped"]


@dataclass(frozen=True, kw_only=True)
class NodeEvent:
    """``finished``: the function ran; ``reused``: early cutoff served stored outputs."""

    kind: EventKind
    node_id: str
    task: str
    key: str
    seconds: float = 0.0
    bytes: int = 0
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    result: Result


EventHandler = Callable[[NodeEvent], None]
FinishHandler = Callable[[RunFinished], None]


@dataclass(kw_only=True)
class Events:
    """Subscribers of one run, called in subscription order."""

    node: list[EventHandler] = field(default_factory=list)
    finished: list[FinishHandler] = field(default_factory=list)

    def subscribe(self, *, node: EventHandler | None = None,
                  finished: FinishHandler | None = None) -> None:
        if node is not None:
            self.node.append(node)
        if finished is not None:
            self.finished.append(finished)

    def emit(self, event: NodeEvent) -> None:
        for handler in self.node:
            handler(event)

    def finish(self, result: Result) -> None:
        done = RunFinished(result=result)
        for handler in self.finished:
            handler(done)
