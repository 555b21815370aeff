"""Typed progress events delivered to ``run(on_event=...)`` and progress displays."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["cached", "started", "finished", "failed", "skipped"]


@dataclass(frozen=True, kw_only=True)
class NodeEvent:
    kind: EventKind
    node_id: str
    task: str
    key: str
    seconds: float = 0.0
    bytes: int = 0
    error: str | None = None


EventHandler = Callable[[NodeEvent], None]
