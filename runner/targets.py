"""Turn what the user passed to ``run`` into a graph, flat targets and a rebuild.

``run`` accepts a node, an output, a Graph (every sink), a Graph selection,
or lists/tuples/dicts of these; ``Result.values`` has the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.errors import ValidationError
from runner.graph import Graph, Selection, build_from_nodes
from runner.node import Node, Output

Target = tuple[str, "int | None"]  # node id, socket (None: all outputs as a tuple)


def resolve_targets(targets: Any) -> tuple[Graph, list[Target], Callable[[list[Any]], Any]]:
    """(graph, flat targets, rebuild) where rebuild maps flat values to the user's shape."""
    leaves = _leaves(targets)
    graphs = {id(g): g for g in leaves if isinstance(g, Graph)}
    nodes = [leaf for leaf in leaves if isinstance(leaf, (Node, Output))]
    if graphs and nodes:
        raise ValidationError("run targets mix nodes from bind() with a Graph; use one or the other")
    if len(graphs) > 1:
        raise ValidationError("run targets come from more than one Graph")
    if graphs:
        graph = next(iter(graphs.values()))
        ids: dict[Node, str] = {}
    else:
        graph, ids = build_from_nodes(leaf.node if isinstance(leaf, Output) else leaf
                                      for leaf in nodes)
    flat: list[Target] = []
    template = _flatten(targets, graph, ids, flat)
    return graph, flat, lambda values: _rebuild(template, iter(values))


def bound_roots(targets: Any) -> list[Node] | None:
    """The nodes behind targets from ``bind``; None when they hold a Graph or Selection.
    Raises, as ``resolve_targets`` does, for targets that are neither."""
    leaves = _leaves(targets)
    if any(isinstance(leaf, Graph) for leaf in leaves):
        return None
    return [leaf.node if isinstance(leaf, Output) else leaf for leaf in leaves]


def _leaves(targets: Any) -> list[Any]:
    out, stack = [], [targets]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, Selection):
            out.append(item.graph)
            out.append(item)
        elif isinstance(item, (Node, Output, Graph)):
            out.append(item)
        else:
            raise ValidationError(
                f"run target {item!r} is not a node, a node output, a Graph or a "
                "list/dict of them"
            )
    return out


_LEAF = object()


def _flatten(item: Any, graph: Graph, ids: dict[Node, str], flat: list[Target]) -> Any:
    if isinstance(item, Node):
        socket = 0 if item.task.num_returns == 1 else None
        flat.append((ids[item], socket))
        return _LEAF
    if isinstance(item, Output):
        flat.append((ids[item.node], item.socket))
        return _LEAF
    if isinstance(item, Selection):
        socket = item.socket
        if socket is None and graph[item.node].task.num_returns == 1:
            socket = 0
        flat.append((item.node, socket))
        return _LEAF
    if isinstance(item, Graph):
        return {nid: _flatten(graph.select(nid), graph, ids, flat) for nid in graph.sinks()}
    if isinstance(item, Mapping):
        return {k: _flatten(v, graph, ids, flat) for k, v in item.items()}
    if isinstance(item, tuple):
        return tuple(_flatten(v, graph, ids, flat) for v in item)
    return [_flatten(v, graph, ids, flat) for v in item]


def _rebuild(template: Any, values: Any) -> Any:
    if template is _LEAF:
        return next(values)
    if isinstance(template, dict):
        return {k: _rebuild(v, values) for k, v in template.items()}
    if isinstance(template, tuple):
        return tuple(_rebuild(v, values) for v in template)
    return [_rebuild(v, values) for v in template]
