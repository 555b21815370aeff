"""Graph validation: everything that can be checked before anything runs.

``topological_order`` doubles as the cycle check (Kahn's algorithm, no
recursion, so million-node chains are fine). Every message names the node,
its task and the offending input.
"""

from __future__ import annotations

import inspect
from collections import deque

from runner.errors import ValidationError
from runner.graph import Graph, GraphNode
from runner.nested import owner


def validate(graph: Graph) -> list[str]:
    """Check links and arguments; return node ids in topological order.

    A graph built from ``bind`` (``graph.topological`` set) was checked node
    by node as it was bound, and its links can only point backwards: its
    order is returned as is.
    """
    if graph.topological is not None:
        return list(graph.topological)
    for node in graph:
        check_links(graph, node)
        if not node.bound:
            check_arguments(node)
    return topological_order(graph)


def check_links(graph: Graph, node: GraphNode) -> None:
    for name, (parent_id, socket) in node.links.items():
        parent = graph.nodes.get(parent_id)
        if parent is None:
            raise ValidationError(
                f"input {name!r} of {node.describe()} links to node {parent_id!r}, "
                "which is not in the graph: add that node or fix the link"
            )
        n = parent.task.num_returns
        if not isinstance(socket, int) or isinstance(socket, bool) or not 0 <= socket < n:
            raise ValidationError(
                f"input {name!r} of {node.describe()} reads output {socket!r} of "
                f"{parent.describe()}, which has {n} output(s) (sockets 0..{n - 1})"
            )


def check_arguments(node: GraphNode) -> None:
    """Input names against the function signature: nothing missing, nothing unknown."""
    params = node.task.signature.parameters
    var_pos = {p.name for p in params.values() if p.kind is inspect.Parameter.VAR_POSITIONAL}
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    names = set(node.literals) | {n for n in node.links if owner(n) not in node.literals}
    for pname, param in params.items():
        required = param.default is inspect.Parameter.empty and param.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        )
        if required and pname not in names:
            raise ValidationError(
                f"{node.describe()} is missing required input {pname!r}; "
                f"{node.task.name} takes {node.task.signature}"
            )
    for name in names:
        if name in params and params[name].kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            continue
        base, bracket, index = name.partition("[")
        if bracket:  # only ``args[i]`` of a *args parameter: the call reads no other
            if base in var_pos and index.endswith("]") and index[:-1].isdigit():
                continue
        elif has_var_kw and name not in params:
            continue
        raise ValidationError(
            f"{node.describe()} got unexpected input {name!r}; "
            f"{node.task.name} takes {node.task.signature}"
        )


def topological_order(graph: Graph) -> list[str]:
    """Parents before children; raises ValidationError printing a cycle if any."""
    indegree = {nid: 0 for nid in graph.nodes}
    children: dict[str, list[str]] = {nid: [] for nid in graph.nodes}
    for node in graph:
        for parent in node.parents:
            if parent in indegree:
                indegree[node.id] += 1
                children[parent].append(node.id)
    queue = deque(nid for nid, d in indegree.items() if d == 0)
    order: list[str] = []
    while queue:
        nid = queue.popleft()
        order.append(nid)
        for child in children[nid]:
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    if len(order) != len(graph):
        cycle = _find_cycle(graph, {nid for nid, d in indegree.items() if d > 0})
        raise ValidationError(
            "the graph has a cycle: " + " -> ".join(cycle) + " (each node feeds the next)"
        )
    return order


def _find_cycle(graph: Graph, remaining: set[str]) -> list[str]:
    """Walk parent links inside the unsorted remainder until a node repeats."""
    start = min(remaining)
    path: list[str] = []
    seen: dict[str, int] = {}
    nid = start
    while nid not in seen:
        seen[nid] = len(path)
        path.append(nid)
        nid = min(p for p in graph.nodes[nid].parents if p in remaining)
    cycle = path[seen[nid]:] + [nid]
    return list(reversed(cycle))
