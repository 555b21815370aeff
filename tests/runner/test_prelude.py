"""The signing prelude's shortcut: a graph from bind keeps bind order as its topological order.

It must give the same order guarantees and the same keys as full validation
of the same graph loaded from JSON (which sorts with Kahn's algorithm).
"""

from __future__ import annotations

import random

from runner import Graph, sign
from runner.graph import build_from_nodes
from runner.validate import topological_order, validate
from tests.runner.tasks import combine, source, split


def random_bound_dag(seed: int, n: int = 60) -> list:
    """Bound nodes (some reading sockets of two-output nodes), shuffled: run targets."""
    rng = random.Random(seed)
    readable = [source.bind(f"s{i}", i) for i in range(3)]
    nodes = list(readable)
    for i in range(n):
        node = combine.bind(f"c{i}", *rng.sample(readable, rng.randint(1, 3)), k=i % 4)
        nodes.append(node)
        readable.append(node)
        if rng.random() < 0.3:
            lo_hi = split.bind(f"p{i}", node)
            nodes.append(lo_hi)
            readable.extend([lo_hi[0], lo_hi[1]])
    rng.shuffle(nodes)  # targets in any order
    return nodes


def test_bind_order_is_a_topological_order():
    for seed in range(5):
        graph, _ = build_from_nodes(random_bound_dag(seed))
        order = validate(graph)
        assert graph.topological is not None, "a graph from bind keeps its order"
        assert sorted(order) == sorted(graph.nodes)
        position = {nid: i for i, nid in enumerate(order)}
        for node in graph:
            for parent, _socket in node.links.values():
                assert position[parent] < position[node.id], f"{parent} after {node.id}"
        assert sorted(topological_order(graph)) == sorted(order)


def test_keys_match_the_fully_validated_json_graph():
    tasks = [source, combine, split]
    for seed in range(3):
        targets = random_bound_dag(seed)
        graph, _ = build_from_nodes(targets)
        reloaded = Graph.from_dict(graph.to_dict(), tasks)
        assert reloaded.topological is None, "a graph from JSON is sorted and checked again"
        assert sign(targets) == sign(reloaded)


def test_adding_a_node_drops_the_shortcut():
    graph, _ = build_from_nodes([combine.bind("x", source.bind("a", 1))])
    assert graph.topological is not None
    extra, _ = build_from_nodes([source.bind("b", 2)])
    node = next(iter(extra))
    node.id = "late"
    graph.add(node)
    assert graph.topological is None
    assert validate(graph)[-1] in graph.nodes


def test_a_signer_without_recipes_gives_the_same_keys():
    import pytest

    from keys import Signer

    graph, _ = build_from_nodes(random_bound_dag(7))
    order = validate(graph)
    full, lean = Signer(), Signer(recipes=False)
    keys = full.sign([graph.nodes[nid] for nid in order])
    assert lean.sign([graph.nodes[nid] for nid in order]) == keys
    some = next(iter(keys.values()))
    assert full.recipe(some).key == some.hex()
    with pytest.raises(KeyError, match="recipes=False"):
        lean.recipe(some)
