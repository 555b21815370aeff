"""The scheduler core: a pure state machine over the nodes that must run.

State per node: waiting -> submitted -> done | failed; a waiting or
submitted node becomes skipped when an ancestor fails. (``runner.dispatch``
also records ``stale`` for a node whose cached input vanished.) Policy: a node is *ready* when every parent is done or, for
pipelined executors (Ray: a task may be submitted with its parents' futures),
when every parent has been submitted. ``failed`` returns the descendants it
skips. No I/O and no asyncio here; ``runner.dispatch`` drives it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

WAITING, SUBMITTED, DONE, FAILED, SKIPPED = "waiting", "submitted", "done", "failed", "skipped"


class Scheduler:
    """Tracks which nodes can be submitted; knows nothing of how they run."""

    def __init__(self, parents: Mapping[str, Iterable[str]], *, pipelined: bool = False) -> None:
        self.pipelined = pipelined
        self.state: dict[str, str] = {}
        self._children: dict[str, list[str]] = {n: [] for n in parents}
        self._missing: dict[str, int] = {}
        for node, deps in parents.items():
            deps = {d for d in deps if d in self._children}
            self.state[node] = WAITING
            self._missing[node] = len(deps)
            for dep in deps:
                self._children[dep].append(node)
        self._ready = deque(n for n, m in self._missing.items() if m == 0)
        self._in_flight = 0

    def ready(self) -> list[str]:
        """Nodes to submit now; they are marked submitted."""
        out: list[str] = []
        while self._ready:
            node = self._ready.popleft()
            if self.state[node] != WAITING:
                continue
            self.state[node] = SUBMITTED
            self._in_flight += 1
            out.append(node)
            if self.pipelined:
                self._release(node)
        return out

    def done(self, node: str) -> None:
        self._finish(node, DONE)
        if not self.pipelined:
            self._release(node)

    def failed(self, node: str) -> list[str]:
        """Mark ``node`` failed; returns the descendants now skipped."""
        self._finish(node, FAILED)
        skipped: list[str] = []
        stack = list(self._children[node])
        while stack:
            child = stack.pop()
            if self.state[child] in (SKIPPED, FAILED, DONE):
                continue
            if self.state[child] == SUBMITTED:
                self._in_flight -= 1
            self.state[child] = SKIPPED
            skipped.append(child)
            stack.extend(self._children[child])
        return skipped

    def is_active(self) -> bool:
        """True while something is in flight or waiting to be submitted."""
        return self._in_flight > 0 or any(self.state[n] == WAITING for n in self._ready)

    def _finish(self, node: str, state: str) -> None:
        if self.state[node] != SUBMITTED:
            return  # a late report for a node already skipped
        self.state[node] = state
        self._in_flight -= 1

    def _release(self, node: str) -> None:
        for child in self._children[node]:
            self._missing[child] -= 1
            if self._missing[child] == 0:
                self._ready.append(child)
