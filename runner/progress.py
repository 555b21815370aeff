"""``Progress``: a live terminal display of a run, fed by NodeEvents.

Pass it as ``run(progress=Progress())`` (or ``progress=True``); it counts
cached / running / done / failed / skipped nodes, names the tasks running
now and shows the elapsed time. It draws with rich on stderr only when
stderr is a terminal, so logs and pipes never receive escape codes or
carriage-return spinners; ``enabled=False`` silences it anywhere.

State: counts and the running set are updated from the run's event loop
thread; rich's refresh thread only reads them to draw.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from runner.events import NodeEvent

_COUNTED = {"finished": "done", "reused": "reused", "cached": "cached", "failed": "failed",
            "skipped": "skipped"}


class Progress:
    """Callable event sink with a rich ``Live`` display; start/close are idempotent."""

    def __init__(self, console: Any = None, *, enabled: bool | None = None,
                 refresh_per_second: float = 4) -> None:
        from rich.console import Console

        self.console = console if console is not None else Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.refresh_per_second = refresh_per_second
        self.counts: Counter[str] = Counter()
        self.running: dict[str, str] = {}  # node id -> task name
        self.started: float | None = None
        self._live: Any = None

    def __call__(self, event: NodeEvent) -> None:
        if self.started is None:
            self.start()
        if event.kind == "started":
            self.running[event.node_id] = event.task
        else:
            self.running.pop(event.node_id, None)
            self.counts[_COUNTED[event.kind]] += 1

    def start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()
        if self.enabled and self._live is None:
            from rich.live import Live

            self._live = Live(self, console=self.console, transient=False,
                              refresh_per_second=self.refresh_per_second)
            self._live.start()

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> Progress:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def line(self) -> str:
        """The status line, as plain text (what the display shows, without styles)."""
        elapsed = time.monotonic() - self.started if self.started is not None else 0.0
        shown = ("cached", "done", "reused", "failed", "skipped") if self.counts["reused"] \
            else ("cached", "done", "failed", "skipped")
        parts = [f"{self.counts[k]} {k}" for k in shown]
        parts.insert(1, f"{len(self.running)} running")
        return f"{_clock(elapsed)}  " + ", ".join(parts)

    def tasks_line(self) -> str:
        by_task = Counter(self.running.values())
        return ", ".join(f"{t} x{n}" if n > 1 else t for t, n in sorted(by_task.items()))

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 1))
        status = Text(self.line())
        if self.counts["failed"]:
            status.stylize("bold red")
        grid.add_row(Spinner("dots"), status)
        tasks = self.tasks_line()
        if tasks:
            grid.add_row("", Text(f"running: {tasks}", style="dim"))
        return grid


def make_progress(progress: Any) -> Any:
    """``run``'s ``progress`` option: True -> a Progress, False/None -> None, else as given."""
    if progress is True:
        return Progress()
    if progress is False or progress is None:
        return None
    return progress


def _clock(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}"
