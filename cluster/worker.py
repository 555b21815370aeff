"""The Ray tasks that run nodes on a worker: one node (``run_node``), or a group of
fused tiny nodes (``run_group``, see ``cluster.fusion``).

Returns one object per output socket, nothing else: each output travels as
``Carried(value, digest)``, its content digest beside it, so a child's early
cutoff (``runner.cutoff``) reads its parents' digests from the inputs it
receives anyway, with no extra argument per parent. The ``NodeOutcome`` the
driver needs goes to it over ``cluster.reports``, sent after the outputs are
stored and before they are returned (if it cannot be sent, the driver reads it
from the store: see ``cluster.tracking``). A failure is reported the same way and
raised as ``NodeFailed`` carrying the node id, so a downstream task that Ray
fails with the same error can tell it was skipped, not broken. A fused node
that fails returns ``Missing`` outputs carrying that error instead, so its
group's other members still run.
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


class Missing:
    """An output of a fused node (``run_group``) that was not produced: the node failed,
    was held, or an input of it was missing. ``failed`` says which node and why, as the
    ``NodeFailed`` an unfused task would have raised."""

    __slots__ = ("failed",)

    def __init__(self, failed: NodeFailed) -> None:
        self.failed = failed

    def __reduce__(self) -> tuple[Any, ...]:
        return Missing, (self.failed,)


def unwrap(obj: Any) -> Any:
    """The value of an output as Ray returned it (raises for a ``Missing`` one)."""
    if type(obj) is Missing:
        raise obj.failed
    return obj.value if type(obj) is Carried else obj


class _Failed(Exception):
    """A node that did not produce outputs: what to raise or pass on, what to report."""

    def __init__(self, failed: NodeFailed, outcome: NodeOutcome) -> None:
        super().__init__(failed)
        self.failed = failed
        self.outcome = outcome


def run_node(task: Task, store: Any, spec: Spec, *upstream: Any) -> Any:
    """Worker body: ``spec`` (see ``Spec``); ``upstream``: the upstream outputs, in the
    order of the spec's upstream names, then (if leased) the index's answer to the run's
    leases: key -> holder of each key refused."""
    node_id, key, write, literal, names, cut, reply, leased = spec
    refused = None
    if leased:
        *upstream, refused = upstream
    try:
        carried, outcome = _run(task, store, node_id, key, write, literal, names, upstream,
                                cut, refused)
    except _Failed as err:
        reports.try_send(reply, node_id, err.outcome)
        raise err.failed from None
    try:
        reports.send(reply, node_id, outcome)
    except OSError as err:  # the driver reads the outcome from the store instead
        log.debug("digestflow: could not report %s to the driver at %s:%d: %s",
                  node_id, reply[0], reply[1], err)
    return carried[0] if task.num_returns == 1 else tuple(carried)


# One node of a group: (index of its task in the group's tasks, node id, key, write,
# literal inputs, upstream input names, where each comes from: an argument index, or
# (member index, socket) for an output of an earlier member, cutoff or None, leased)
Member = tuple[int, str, str, bool, dict[str, Any], tuple[str, ...], tuple[Any, ...],
               "tuple[str, bool] | None", bool]


def run_group(tasks: tuple[Task, ...], store: Any, layout: tuple[reports.Reply, bool,
              tuple[Member, ...]], *args: Any) -> Any:
    """Worker body of fused nodes (``cluster.fusion``): each member as ``run_node`` runs
    one, in order. A member that fails gives ``Missing`` outputs instead of raising, so
    the members that do not depend on it still run and are stored, and Ray never fails
    the group (its consumers tell the missing inputs apart). The reports go together,
    after every member's outputs are stored. Returns every member's outputs, in order."""
    reply, leased, members = layout
    refused = None
    if leased:
        *args, refused = args
    outputs: list[list[Any]] = []
    outcomes: list[tuple[str, NodeOutcome]] = []
    for index, node_id, key, write, literal, names, sources, cut, lease in members:
        upstream = [args[s] if type(s) is int else outputs[s[0]][s[1]] for s in sources]
        task = tasks[index]
        try:
            carried, outcome = _run(task, store, node_id, key, write, literal, names,
                                    upstream, cut, refused if lease else None)
        except _Failed as err:
            carried, outcome = [Missing(err.failed)] * task.num_returns, err.outcome
        outputs.append(carried)
        outcomes.append((node_id, outcome))
    try:
        reports.send_many(reply, outcomes)
    except OSError as err:  # the driver reads the outcomes from the store instead
        log.debug("digestflow: could not report %d nodes to the driver at %s:%d: %s",
                  len(outcomes), reply[0], reply[1], err)
    flat = [value for carried in outputs for value in carried]
    return flat[0] if len(flat) == 1 else tuple(flat)


def _run(task: Task, store: Any, node_id: str, key: str, write: bool,
         literal: dict[str, Any], names: tuple[str, ...], upstream: list[Any],
         cut: tuple[str, bool] | None, refused: dict[str, str] | None,
         ) -> tuple[list[Carried], NodeOutcome]:
    """Run one node where it landed; raises ``_Failed`` where it produced no outputs."""
    from cluster import metrics

    if refused is not None and key in refused:  # another driver computes it: wait for it
        raise _Failed(NodeFailed(node_id, None, held=refused[key]),
                      NodeOutcome(held=refused[key]))
    inputs = dict(literal)
    digests: dict[str, str | None] = {}
    for name, got in zip(names, upstream, strict=True):
        if type(got) is Missing:  # a fused ancestor did not produce it
            raise _Failed(got.failed, NodeOutcome(upstream_failed=got.failed.node_id))
        inputs[name] = unwrap(got)
        digests[name] = got.digest if type(got) is Carried else None
    cutoff = Cutoff(recipe=cut[0], lookup=cut[1]) if cut is not None else None
    start = time.perf_counter()
    try:
        values, outcome = execute_node(task, key, inputs, store, write=write,
                                       cutoff=cutoff, digests=digests)
    except StaleInput as err:
        raise _Failed(NodeFailed(node_id, None, err.ref), NodeOutcome(stale=[err.ref])) \
            from None
    except Exception as err:
        metrics.task_failed(task.name)
        info = error_info(err)
        raise _Failed(NodeFailed(node_id, info), NodeOutcome(
            error=info, seconds=time.perf_counter() - start)) from None
    if outcome.reused_from is None:  # reused: the function did not run here
        metrics.task_done(task.name, outcome)
    return [Carried(v, outcome.digest(s)) for s, v in enumerate(values)], outcome
