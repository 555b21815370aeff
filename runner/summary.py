"""The end-of-run summary: a table per task, totals, cache hit rate, failures.

``summarize(result)`` gives the numbers (for ``--json`` and tests);
``render_summary(result, console)`` prints them with rich, which writes
plain text (no escape codes) when the console is not a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.records import tail
from runner.result import human_bytes

_STATUSES = ("cached", "executed", "reused", "failed", "skipped")


@dataclass(kw_only=True)
class TaskRow:
    task: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_STATUSES, 0))
    seconds: float = 0.0
    bytes_written: int = 0
    bytes_read: int = 0


@dataclass(kw_only=True)
class Summary:
    rows: list[TaskRow]
    seconds: float
    hit_rate: float | None  # cached / needed nodes; None when nothing was needed
    failures: list[Any]     # NodeReports of failed nodes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds, "hit_rate": self.hit_rate,
            "tasks": [dict(r.__dict__) for r in self.rows],
            "failures": [{"id": f.id, "task": f.task, "error": f.error,
                          "traceback": f.traceback} for f in self.failures],
        }


def summarize(result: Any) -> Summary:
    rows: dict[str, TaskRow] = {}
    for rep in result.report:
        if rep.status not in _STATUSES:
            continue
        row = rows.setdefault(rep.task, TaskRow(task=rep.task))
        row.counts[rep.status] += 1
        if rep.status != "cached" and not rep.same_as:
            row.seconds += rep.seconds
            row.bytes_written += rep.bytes
            row.bytes_read += rep.bytes_read
    needed = sum(sum(r.counts.values()) for r in rows.values())
    cached = sum(r.counts["cached"] for r in rows.values())
    return Summary(rows=sorted(rows.values(), key=lambda r: r.task),
                   seconds=result.finished - result.started,
                   hit_rate=cached / needed if needed else None,
                   failures=[r for r in result.report if r.status == "failed"])


def render_summary(result: Any, console: Any, *, errors: Any = None,
                   traceback_lines: int = 12) -> None:
    """Print the per-task table and totals on ``console``, then each failure with its
    traceback tail on ``errors`` (default: the same console)."""
    from rich import box
    from rich.table import Table

    summary = summarize(result)
    table = Table(title=f"run {result.run_id}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in ("task", *_STATUSES, "seconds", "written", "read"):
        table.add_column(col, justify="left" if col == "task" else "right", no_wrap=True)
    for row in summary.rows:
        table.add_row(row.task, *(str(row.counts[s]) for s in _STATUSES),
                      f"{row.seconds:.2f}", human_bytes(row.bytes_written), human_bytes(row.bytes_read))
    console.print(table)
    rate = "n/a" if summary.hit_rate is None else f"{summary.hit_rate:.0%}"
    console.print(f"{result.summary()}; cache hit rate {rate}", highlight=False,
                  soft_wrap=True)
    render_failures(summary.failures, console if errors is None else errors,
                    traceback_lines=traceback_lines)


def render_failures(failures: list[Any], console: Any, *, traceback_lines: int = 12) -> None:
    """Each failed node with the tail of its traceback."""
    for rep in failures:
        console.print(f"FAILED {rep.id} ({rep.task}): {rep.error}", style="bold red",
                      highlight=False, markup=False)
        if rep.traceback:
            text = tail(rep.traceback, traceback_lines)
            console.print("\n".join("    " + ln for ln in text.splitlines()),
                          highlight=False, markup=False)


def cache_counts(report: list[Any]) -> tuple[dict[str, int], dict[str, int]]:
    """({task: cache hits}, {task: misses}) over the needed nodes of a run's report.
    A miss is a needed node that was not cached (executed, reused, failed or skipped);
    nodes sharing another's key (``same_as``) are not lookups of their own."""
    hits: dict[str, int] = {}
    misses: dict[str, int] = {}
    for rep in report:
        if rep.same_as or rep.status not in _STATUSES:
            continue
        side = hits if rep.status == "cached" else misses
        side[rep.task] = side.get(rep.task, 0) + 1
    return hits, misses
