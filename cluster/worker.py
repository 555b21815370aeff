"""The Ray task that runs one node on a worker.

Returns one object per output socket, nothing else: each output travels as
``Carried(value, digest)``, its content digest beside it, so a child's early
cutoff (``runner.cutoff``) reads its parents' digests from the inputs it
receives anyway, with no extra argument per parent. The ``NodeOutcome`` the
driver needs goes to it over ``cluster.reports``, sent after the outputs are
stored and before they are returned (if it cannot be sent, the driver reads it
from the store: see ``cluster.tracking``). A failure is reported the same way and
raised as ``NodeFailed`` carrying the node id, so a downstream task that Ray
fails with the same error can tell it was skipped, not broken.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cluster import reports
from runner.contracts import Cutoff, ErrorInfo, NodeOutcome
from runner.task import Task
from runner.work import StaleInput, error_info, execute_node

log = logging.getLogger("digestflow")

# (node id, key, write, literal inputs, upstream input names, cutoff (recipe, lookup) or
# None, where to report, whether the last argument is the index's answer to the leases)
Spec = tuple[str, str, bool, dict[str, Any], tuple[str, ...], "tuple[str, bool] | None",
             reports.Reply, bool]


class NodeFailed(Exception):
    """A node's function raised (or a cached input of it was stale)."""

    def __init__(self, node_id: str, info: ErrorInfo | None,
                 stale: tuple[str, int] | None = None, held: str | None = None) -> None:
        super().__init__(node_id, info, stale, held)
        self.node_id = node_id
        self.info = info
        self.stale = stale
        self.held = held  # its lease went to this holder: not run here

    def __str__(self) -> str:
        if self.held:
            return f"node {self.node_id!r}: leased to {self.held}, not run here"
        if self.stale:
            return f"node {self.node_id!r}: stale cached input {self.stale[0][:12]}:{self.stale[1]}"
        return f"node {self.node_id!r}: {self.info}"


class Carried:
    """One output of a node as Ray holds it: the value and its content digest (None
    where nothing was stored)."""

    __slots__ = ("value", "digest")

    def __init__(self, value: Any, digest: str | None) -> None:
        self.value = value
        self.digest = digest

    def __reduce__(self) -> tuple[Any, ...]:
        return Carried, (self.value, self.digest)


def unwrap(obj: Any) -> Any:
    """The value of an output as Ray returned it."""
    return obj.value if type(obj) is Carried else obj


def run_node(task: Task, store: Any, spec: Spec, *upstream: Any) -> Any:
    """Worker body: ``spec`` (see ``Spec``); ``upstream``: the upstream outputs, in the
    order of the spec's upstream names, then (if leased) the index's answer to the run's
    leases: key -> holder of each key refused."""
    from cluster import metrics

    node_id, key, write, literal, names, cut, reply, leased = spec
    if leased:
        *upstream, refused = upstream
        if key in refused:  # another driver computes it: the run waits for that one
            reports.try_send(reply, node_id, NodeOutcome(held=refused[key]))
            raise NodeFailed(node_id, None, held=refused[key])
    inputs = dict(literal)
    digests: dict[str, str | None] = {}
    for name, got in zip(names, upstream, strict=True):
        inputs[name] = unwrap(got)
        digests[name] = got.digest if type(got) is Carried else None
    cutoff = Cutoff(recipe=cut[0], lookup=cut[1]) if cut is not None else None
    start = time.perf_counter()
    try:
        values, outcome = execute_node(task, key, inputs, store, write=write,
                                       cutoff=cutoff, digests=digests)
    except StaleInput as err:
        reports.try_send(reply, node_id, NodeOutcome(stale=[err.ref]))
        raise NodeFailed(node_id, None, err.ref) from None
    except Exception as err:
        metrics.task_failed(task.name)
        info = error_info(err)
        reports.try_send(reply, node_id, NodeOutcome(
            error=info, seconds=time.perf_counter() - start))
        raise NodeFailed(node_id, info) from None
    if outcome.reused_from is None:  # reused: the function did not run here
        metrics.task_done(task.name, outcome)
    try:
        reports.send(reply, node_id, outcome)
    except OSError as err:  # the driver reads the outcome from the store instead
        log.debug("digestflow: could not report %s to the driver at %s:%d: %s",
                  node_id, reply[0], reply[1], err)
    carried = [Carried(v, outcome.digest(s)) for s, v in enumerate(values)]
    return carried[0] if task.num_returns == 1 else tuple(carried)
