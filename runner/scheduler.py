"""The scheduler core: a pure state machine over the nodes one round dispatches.

States and transitions (no others; each is a method):

- ``waiting`` -> ``submitted`` by ``ready()``. Policy: a node is ready when
  every parent in the round is done or reused; for pipelined executors (Ray:
  a task may be submitted with its parents' futures) when every parent has
  been submitted.
- ``submitted`` -> ``done`` (``done``: the function ran) or ``reused``
  (``reused``: early cutoff served stored outputs; for children it is the
  same as done).
- ``submitted`` -> ``failed`` (``failed``): every waiting, submitted or
  held descendant becomes ``skipped`` for the rest of the run.
- ``submitted`` -> ``stale`` (``stale``: a cached input vanished): every
  waiting or submitted descendant becomes ``held``. Stale and held nodes are
  not failures; the next planning round runs them again.

A report for a node that is no longer ``submitted`` (Ray fails a skipped
child with its parent's error) is ignored. No I/O and no asyncio here;
``runner.dispatch`` drives it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

from runner.walk import below

WAITING, SUBMITTED, DONE, REUSED = "waiting", "submitted", "done", "reused"
FAILED, SKIPPED, STALE, HELD = "failed", "skipped", "stale", "held"
FINISHED = (DONE, REUSED)  # a child may use the outputs


class Scheduler:
    """Tracks which nodes can be submitted; knows nothing of how they run."""

    def __init__(self, parents: Mapping[str, Iterable[str]], *, pipelined: bool = False) -> None:
        self.pipelined = pipelined
        self._state: dict[str, str] = {}
        self._children: dict[str, list[str]] = {n: [] for n in parents}
        self._missing: dict[str, int] = {}
        for node, deps in parents.items():
            deps = {d for d in deps if d in self._children}
            self._state[node] = WAITING
            self._missing[node] = len(deps)
            for dep in deps:
                self._children[dep].append(node)
        self._ready = deque(n for n, m in self._missing.items() if m == 0)

    def state(self, node: str) -> str:
        return self._state[node]

    def states(self) -> dict[str, str]:
        """A copy of every node's state."""
        return dict(self._state)

    def ready(self) -> list[str]:
        """Nodes to submit now; they are marked submitted."""
        out: list[str] = []
        while self._ready:
            node = self._ready.popleft()
            if self._state[node] != WAITING:
                continue
            self._state[node] = SUBMITTED
            out.append(node)
            if self.pipelined:
                self._release(node)
        return out

    def done(self, node: str) -> bool:
        """The node ran; False when the report came too late (node no longer submitted)."""
        return self._finish(node, DONE)

    def reused(self, node: str) -> bool:
        """Early cutoff: the node's stored outputs stand in for running it."""
        return self._finish(node, REUSED)

    def failed(self, node: str) -> list[str]:
        """Mark ``node`` failed; returns the descendants now skipped (a failure outranks
        a stale input: a held node below it is skipped too)."""
        return self._cut(node, FAILED, SKIPPED, (WAITING, SUBMITTED, HELD))

    def stale(self, node: str) -> list[str]:
        """Mark ``node`` stale; returns the descendants now held for the next round."""
        return self._cut(node, STALE, HELD, (WAITING, SUBMITTED))

    def _finish(self, node: str, state: str) -> bool:
        if self._state[node] != SUBMITTED:
            return False  # a late report for a node already skipped or held
        self._state[node] = state
        if not self.pipelined:
            self._release(node)
        return True

    def _cut(self, node: str, state: str, below_state: str, reach: tuple[str, ...]) -> list[str]:
        if self._state[node] != SUBMITTED:
            return []
        self._state[node] = state
        cut = below([node], self._children, enter=lambda n: self._state[n] in reach)
        for child in cut:
            self._state[child] = below_state
        return cut

    def _release(self, node: str) -> None:
        for child in self._children[node]:
            self._missing[child] -= 1
            if self._missing[child] == 0:
                self._ready.append(child)
