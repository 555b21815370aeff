"""Prometheus metrics via ``ray.util.metrics``, for the Ray dashboard and any scraper.

Counters, tagged ``task`` (the task name), exported by Ray with a ``ray_``
prefix (and ``_total`` on counters, by the Prometheus exporter):

- ``digestflow_cache_hits`` / ``digestflow_cache_misses``: needed nodes served
  from the store / not (counted on the driver, after planning the run);
- ``digestflow_tasks_executed`` / ``digestflow_tasks_failed``: node runs on
  workers;
- ``digestflow_bytes_stored`` / ``digestflow_bytes_loaded``: output bytes a
  worker wrote / cached input bytes it read;
- ``digestflow_task_seconds``: histogram of a node's run time on the worker.

Metric objects are created lazily, once per process (a worker registers
them on its first task), and a metrics failure never fails a task.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("digestflow")

SECONDS_BOUNDARIES = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
_COUNTERS = {
    "cache_hits": "Needed nodes whose outputs were already stored",
    "cache_misses": "Needed nodes that had to run (executed, failed or skipped)",
    "tasks_executed": "Node runs that finished",
    "tasks_failed": "Node runs whose function raised",
    "bytes_stored": "Bytes of task outputs written to the store",
    "bytes_loaded": "Bytes of cached inputs read from the store by workers",
}
_metrics: dict[str, Any] | None = None
_lock = threading.Lock()


def _get() -> dict[str, Any]:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                from ray.util.metrics import Counter, Histogram

                made: dict[str, Any] = {
                    name: Counter(f"digestflow_{name}", description=text, tag_keys=("task",))
                    for name, text in _COUNTERS.items()
                }
                made["task_seconds"] = Histogram(
                    "digestflow_task_seconds", description="Seconds a node's run took",
                    boundaries=list(SECONDS_BOUNDARIES), tag_keys=("task",))
                _metrics = made
    return _metrics


def _inc(name: str, task: str, value: float = 1) -> None:
    if value > 0:
        _get()[name].inc(value, tags={"task": task})


def task_done(task: str, outcome: Any) -> None:
    """A node finished on this worker: count it, its bytes and its time."""
    try:
        _inc("tasks_executed", task)
        _inc("bytes_stored", task, outcome.bytes_written)
        _inc("bytes_loaded", task, outcome.bytes_read)
        _get()["task_seconds"].observe(outcome.seconds, tags={"task": task})
    except Exception as err:  # metrics must never fail the work they measure
        log.debug("digestflow metrics: %s", err)


def task_failed(task: str) -> None:
    try:
        _inc("tasks_failed", task)
    except Exception as err:
        log.debug("digestflow metrics: %s", err)


def cache_lookups(hits: Mapping[str, int], misses: Mapping[str, int]) -> None:
    """One run's cache hits and misses per task name (recorded by the driver)."""
    try:
        for task, n in hits.items():
            _inc("cache_hits", task, n)
        for task, n in misses.items():
            _inc("cache_misses", task, n)
    except Exception as err:
        log.debug("digestflow metrics: %s", err)
