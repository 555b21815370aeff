"""The explicit graph model: nodes with literal inputs and links, by id.

``Graph.from_targets`` collects the nodes that ``bind`` built; node ids are
``name`` when the task has one, else ``<task>-<n>`` numbered by bind order
within the graph, so the same script gives the same ids in every process.
Ids never enter keys. JSON forms live in ``runner.graph_json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from runner.errors import ValidationError
from runner.nested import NestedInput, holds_ref, link_name, refs_in, split
from runner.node import Node, Output
from runner.task import Task

_OPEN = (list, tuple, dict)
_seq = attrgetter("seq")


@dataclass(frozen=True, slots=True)
class Link:
    """An input read from output ``socket`` of node ``node``."""

    node: str
    socket: int = 0


class GraphNode:
    """One node: a task, its literal inputs and its links (the SignableNode protocol)."""

    __slots__ = ("id", "task", "literals", "links", "order", "where", "class_type", "bound")

    def __init__(
        self, id: str, task: Task, inputs: Mapping[str, Any], where: str = "",
        class_type: str | None = None, bound: bool = False,
    ) -> None:
        self.id = id
        self.task = task
        self.where = where
        self.bound = bound  # inputs already checked against the signature by bind()
        self.class_type = class_type or task.name  # the registry name, for JSON
        self.literals: dict[str, Any] = {}
        self.links: dict[str, tuple[str, int]] = {}
        self.order = tuple(inputs)
        for name, value in inputs.items():
            if isinstance(value, Link):
                self.links[name] = (value.node, value.socket)
            elif isinstance(value, NestedInput):
                self.literals[name] = value.template
                for path, link in value.links.items():
                    self.links[link_name(name, path)] = (link.node, link.socket)
            else:
                self.literals[name] = value

    @classmethod
    def bound_node(
        cls, id: str, task: Task, literals: dict[str, Any], links: dict[str, tuple[str, int]],
        inputs: Mapping[str, Any], where: str,
    ) -> GraphNode:
        """A node from ``bind``, its inputs already split and checked (no copying)."""
        node = cls.__new__(cls)
        node.id, node.task, node.where, node.bound = id, task, where, True
        node.class_type = task.name
        node.literals, node.links, node.order = literals, links, tuple(inputs)
        return node

    @property
    def identity(self) -> str:
        return self.task.identity

    @property
    def parents(self) -> set[str]:
        return {parent for parent, _ in self.links.values()}

    def describe(self) -> str:
        """``node 'resize-2' (task resize)`` for error messages."""
        return f"node {self.id!r} (task {self.task.name})"


class Graph:
    """Nodes by id, in insertion order. Build with ``from_targets`` or the JSON loaders."""

    def __init__(self, nodes: Iterable[GraphNode] = ()) -> None:
        self.nodes: dict[str, GraphNode] = {}
        # node ids parents-first when known by construction (bind order), else None
        self.topological: list[str] | None = None
        for node in nodes:
            self.add(node)

    def add(self, node: GraphNode) -> None:
        if node.id in self.nodes:
            raise ValidationError(f"duplicate node id {node.id!r}")
        self.nodes[node.id] = node
        self.topological = None

    def __getitem__(self, node_id: str) -> GraphNode:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise ValidationError(
                f"no node {node_id!r} in the graph; nodes are: {_preview(self.nodes)}"
            ) from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def __iter__(self) -> Iterator[GraphNode]:
        return iter(self.nodes.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def select(self, node_id: str, socket: int | None = None) -> Selection:
        """A run target: output ``socket`` of ``node_id`` (all outputs when None)."""
        node = self[node_id]
        if socket is not None and not 0 <= socket < node.task.num_returns:
            raise ValidationError(
                f"{node.describe()} has {node.task.num_returns} output(s); socket {socket} "
                "is out of range"
            )
        return Selection(self, node_id, socket)

    def sinks(self) -> list[str]:
        """Nodes nobody reads from: the default targets of ``run(graph)``."""
        used = {parent for node in self for parent in node.parents}
        return [nid for nid in self.nodes if nid not in used]

    @classmethod
    def from_targets(cls, targets: Any) -> Graph:
        """The graph of every node the targets (nodes, outputs, nested lists/dicts) need."""
        graph, _ = build_from_nodes(_iter_nodes(targets))
        return graph

    def to_dict(self) -> dict[str, Any]:
        from runner.graph_json import graph_to_dict

        return graph_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], registry: Any) -> Graph:
        from runner.graph_json import graph_from_dict

        return graph_from_dict(data, registry)

    @classmethod
    def from_prompt(cls, prompt: Mapping[str, Any], registry: Any) -> Graph:
        from runner.graph_json import graph_from_prompt

        return graph_from_prompt(prompt, registry)


@dataclass(frozen=True, slots=True)
class Selection:
    """A target inside an explicit Graph; ``socket`` None means every output."""

    graph: Graph
    node: str
    socket: int | None = None


def build_from_nodes(roots: Iterable[Node]) -> tuple[Graph, dict[Node, str]]:
    """Collect every node reachable from ``roots``; returns the graph and node -> id.

    ``bind`` numbers nodes as it creates them and a node can only read nodes
    that already exist, so bind order is a topological order: the graph keeps
    it (``Graph.topological``) and validation need not sort again. One pass
    per node, no per-input objects: this is on every run's critical path.
    """
    nodes = collect(roots)
    ids = assign_ids(nodes)
    graph = Graph()
    table = graph.nodes
    for node in nodes:
        nid = ids[node]
        literals, links = split_inputs(node, ids)
        table[nid] = GraphNode.bound_node(nid, node.task, literals, links, node.inputs, node.where)
    graph.topological = list(table)
    return graph, ids


def collect(roots: Iterable[Node]) -> list[Node]:
    """Every node reachable from ``roots``, in bind order (parents first)."""
    found: dict[Node, None] = {}  # by identity: no read of the node's seq until the sort
    stack = list(roots)
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if node in found:
            continue
        found[node] = None
        for value in node.inputs.values():
            if isinstance(value, Node):
                if value not in found:
                    push(value)
            elif isinstance(value, Output):
                push(value.node)
            elif type(value) in _OPEN:
                for ref in refs_in(value):
                    push(ref if isinstance(ref, Node) else ref.node)
    return sorted(found, key=_seq)


def split_inputs(
    node: Node, refs: Mapping[Node, Any]
) -> tuple[dict[str, Any], dict[str, tuple[Any, int]]]:
    """A bound node's inputs as literals and links ``(refs[parent], socket)``; a
    list/tuple/dict holding nodes is a literal template plus one link per node."""
    literals: dict[str, Any] = {}
    links: dict[str, tuple[Any, int]] = {}
    for name, value in node.inputs.items():
        if isinstance(value, Node):
            links[name] = (refs[value], 0)
        elif isinstance(value, Output):
            links[name] = (refs[value.node], value.socket)
        elif type(value) in _OPEN and holds_ref(value):
            nested = split(value, lambda ref: _link(ref, refs))
            literals[name] = nested.template
            for path, link in nested.links.items():
                links[link_name(name, path)] = link
        else:
            literals[name] = value
    return literals, links


def _link(ref: Node | Output, refs: Mapping[Node, Any]) -> tuple[Any, int]:
    if isinstance(ref, Node):
        return (refs[ref], 0)
    return (refs[ref.node], ref.socket)


def assign_ids(nodes: Iterable[Node]) -> dict[Node, str]:
    """``name`` option if given, else ``<task>-<n>``; clashes get a ``-k`` suffix."""
    ids: dict[Node, str] = {}
    used: set[str] = set()
    counters: dict[str, int] = {}
    names: dict[Task, tuple[str | None, str]] = {}  # task -> (name option, display name)
    for node in nodes:
        task = node.task
        named, base = names.get(task) or names.setdefault(task, (task.opts.name, task.name))
        if named:
            candidate = named
        else:
            count = counters[base] = counters.get(base, 0) + 1
            candidate = f"{base}-{count}"
        if candidate in used:
            k = 1
            while candidate in used:
                k += 1
                candidate = f"{base}-{k}" if named else f"{base}-{counters[base]}.{k}"
        used.add(candidate)
        ids[node] = candidate
    return ids


def _iter_nodes(targets: Any) -> Iterator[Node]:
    stack = [targets]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            yield item
        elif isinstance(item, Output):
            yield item.node
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            raise ValidationError(
                f"run target {item!r} is not a node, a node output, or a list/dict of them"
            )


def _preview(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")
