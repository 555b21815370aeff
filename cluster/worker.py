"""The Ray task that runs one node on a worker.

Returns ``num_returns + 1`` objects: a small NodeOutcome first, then one
object per output socket, so downstream tasks receive upstream ObjectRefs
directly and only the outcome travels to the driver. The outcome travels
pickled (``encode_outcome``): Ray would pickle it with cloudpickle, four
times slower for these small records, once on the worker and again on each
child that reads its digests. A failure is raised as
``NodeFailed`` carrying the node id, so a downstream task that Ray fails
with the same error can tell it was skipped, not broken.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import ray

from runner.contracts import ErrorInfo, NodeOutcome, WorkerInfo
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
    outcomes = [decode_outcome(o) for o in upstream[n:]]
    digests = {name: outcomes[i].digest(s) for name, (i, s) in spec["digests"].items()}
    try:
        values, outcome = execute_node(task, spec["key"], inputs, store, write=spec["write"],
                                       cutoff=spec["cutoff"], digests=digests)
    except StaleInput as err:
        raise NodeFailed(spec["node_id"], None, err.ref) from None
    except Exception as err:
        metrics.task_failed(task.name)
        raise NodeFailed(spec["node_id"], error_info(err)) from None
    outcome.worker = WorkerInfo(pid=os.getpid(), node=_node_id(), gpu_ids=tuple(
        str(g) for g in ray.get_gpu_ids()) if task.opts.num_gpus else ())
    if outcome.reused_from is None:  # reused: the function did not run here
        metrics.task_done(task.name, outcome)
    if task.num_returns == 1:
        return encode_outcome(outcome), values[0]
    return (encode_outcome(outcome), *values)


def encode_outcome(outcome: NodeOutcome) -> bytes:
    return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)


def decode_outcome(data: bytes) -> NodeOutcome:
    """The outcome a digestflow worker returned (our own bytes, beside the outputs Ray
    already unpickles from the same workers)."""
    outcome = pickle.loads(data)
    if not isinstance(outcome, NodeOutcome):
        raise TypeError(f"expected a NodeOutcome, got {type(outcome).__name__}")
    return outcome


_NODE: list[str] = []


def _node_id() -> str:
    """This worker's Ray node id (asked once per process: it never changes)."""
    if not _NODE:
        _NODE.append(ray.get_runtime_context().get_node_id())
    return _NODE[0]
