"""What ``run`` returns: target values plus a per-node report."""

from __future__ import annotations

import reprlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

STATUSES = ("cached", "executed", "reused", "failed", "skipped", "unneeded")


@dataclass(frozen=True, kw_only=True)
class NodeReport:
    """One node of a run. ``unneeded``: not required by the targets this time;
    ``reused``: early cutoff served the outputs stored under ``reused_from``."""

    id: str
    task: str
    status: str
    key: str
    seconds: float = 0.0
    bytes: int = 0
    bytes_read: int = 0
    error: str | None = None
    traceback: str | None = None
    same_as: str | None = None  # another node with the same key did the work
    reused_from: str | None = None
    waited_for: str | None = None  # "run X in this process" / "driver Y" computed it meanwhile

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(kw_only=True)
class Result:
    """Target values (shaped as the targets were given) and one report per node.

    ``graph``, ``signer`` (every key's recipe), ``store`` and ``targets``
    (flat ``(node id, socket or None)``) let ``explain`` and the run record
    describe this run later; ``cache`` and ``executor`` are how it ran.
    """

    values: Any
    report: list[NodeReport]
    run_id: str = ""
    started: float = 0.0
    finished: float = 0.0
    lookups: int = 0
    cache: str = "use"
    executor: str = ""
    graph: Any = None
    signer: Any = None
    store: Any = None
    targets: tuple[tuple[str, int | None], ...] = ()

    def __repr__(self) -> str:
        """Short whatever the graph's size: a notebook shows it, and asyncio formats it
        (twice per ``asyncio.run``, in a message it then drops) for the task it ends."""
        return f"Result(run_id={self.run_id!r}, values={reprlib.repr(self.values)}: " \
               f"{self.summary()})"

    def status(self, node_id: str) -> str:
        return self.by_id()[node_id].status

    def by_id(self) -> dict[str, NodeReport]:
        return {r.id: r for r in self.report}

    def ids(self, status: str) -> list[str]:
        return [r.id for r in self.report if r.status == status]

    @property
    def executed(self) -> list[str]:
        return self.ids("executed")

    @property
    def cached(self) -> list[str]:
        return self.ids("cached")

    @property
    def reused(self) -> list[str]:
        return self.ids("reused")

    @property
    def failed(self) -> list[str]:
        return self.ids("failed")

    @property
    def skipped(self) -> list[str]:
        return self.ids("skipped")

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.report))

    def summary(self) -> str:
        """One line: ``12 nodes: 3 executed, 9 cached, 0 failed, 0 skipped in 1.23 s``;
        nodes the targets did not need are counted too, so the parts add up."""
        c = self.counts()
        shown = ("executed", "reused", "cached", "failed", "skipped") if c.get("reused") else \
            ("executed", "cached", "failed", "skipped")
        parts = [f"{c.get(s, 0)} {s}" for s in shown]
        if c.get("unneeded"):
            parts.append(f"{c['unneeded']} not needed")
        waited = sum(1 for r in self.report if r.waited_for)
        if waited:
            i = shown.index("cached")
            parts[i] += f" ({waited} computed meanwhile by another run)"
        written = sum(r.bytes for r in self.report if r.status == "executed")
        return (
            f"{len(self.report)} nodes: {', '.join(parts)} in "
            f"{self.finished - self.started:.2f} s; {human_bytes(written)} written"
        )


def human_bytes(n: float) -> str:
    """``1.6 MiB``: a byte count as people read it."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
