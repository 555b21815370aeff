"""The Ray task that runs one node on a worker.

Returns ``num_returns + 1`` objects: a small NodeOutcome first, then one
object per output socket, so downstream tasks receive upstream ObjectRefs
directly and only the outcome travels to the driver. A failure is raised as
``NodeFailed`` carrying the node id, so a downstream task that Ray fails
with the same error can tell it was skipped, not broken.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from runner.contracts import ErrorInfo, WorkerInfo
from runner.task import Task
from runner.work import StaleInput, error_info, execute_node


class NodeFailed(Exception):
    """A node's function raised (or a cached input of it was stale)."""

    def __init__(self, node_id: str, info: ErrorInfo | None,
                 stale: tuple[str, int] | None = None) -> None:
        super().__init__(node_id, info, stale)
        self.node_id = node_id
        self.info = info
        self.stale = stale

    def __str__(self) -> str:
        if self.stale:
            return f"node {self.node_id!r}: stale cached input {self.stale[0][:12]}:{self.stale[1]}"
        return f"node {self.node_id!r}: {self.info}"


def run_node(task: Task, store: Any, spec: dict[str, Any], *upstream: Any) -> Any:
    """Worker body: ``spec`` holds id, key, write flag, literal/cached inputs, upstream
    names, and the cutoff settings; ``upstream`` is the upstream values, then the
    outcomes of the parents whose output digests cutoff needs."""
    from cluster import metrics

    inputs = dict(spec["inputs"])
    n = len(spec["upstream"])
    inputs.update(zip(spec["upstream"], upstream[:n], strict=True))
    outcomes = upstream[n:]
    digests = {name: outcomes[i].digest(s) for name, (i, s) in spec["digests"].items()}
    try:
        values, outcome = execute_node(task, spec["key"], inputs, store, write=spec["write"],
                                       cutoff=spec["cutoff"], digests=digests)
    except StaleInput as err:
        raise NodeFailed(spec["node_id"], None, err.ref) from None
    except Exception as err:
        metrics.task_failed(task.name)
        raise NodeFailed(spec["node_id"], error_info(err)) from None
    outcome.worker = WorkerInfo(pid=os.getpid(), node=ray.get_runtime_context().get_node_id(),
                                gpu_ids=tuple(str(g) for g in ray.get_gpu_ids()))
    if outcome.reused_from is None:  # reused: the function did not run here
        metrics.task_done(task.name, outcome)
    if task.num_returns == 1:
        return outcome, values[0]
    return (outcome, *values)
