"""Nodes inside list, tuple and dict arguments, as Ray's DAG API resolves them:
on both executors, with keys that follow structure and references."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from keys import SigningError
from runner import Graph, ValidationError, run, sign
from tests.runner.tasks import nest, source, split


def test_every_ray_dag_case_resolves_on_the_worker(executor, store_uri, runlog) -> None:
    a, b = source.bind("a", 1), source.bind("b", 2)
    pair = split.bind("s", 10)
    targets = {
        "list": nest.bind("list", [a, b, 3]),
        "tuple": nest.bind("tuple", (a, "x")),
        "dict": nest.bind("dict", {"x": a, "y": b}),
        "nested": nest.bind("nested", {"xs": [a, (b, {"z": pair[1]})], "k": 0}),
        "output_in_dict": nest.bind("output", {"first": pair[0], "second": pair[1]}),
        "twice": nest.bind("twice", [a, a]),
    }
    got = run(targets, store=store_uri, executor=executor).values
    assert got == {
        "list": [1, 2, 3],
        "tuple": (1, "x"),
        "dict": {"x": 1, "y": 2},
        "nested": {"xs": [1, (2, {"z": 9})], "k": 0},
        "output_in_dict": {"first": 11, "second": 9},
        "twice": [1, 1],
    }
    assert runlog.take() == ["a", "b", "dict", "list", "nested", "output", "s", "tuple",
                             "twice"]
    run(targets, store=store_uri, executor=executor)
    assert runlog.take() == []
    targets["list"] = nest.bind("list", [source.bind("a", 5), b, 3])
    assert run(targets, store=store_uri, executor=executor).values["list"] == [5, 2, 3]
    assert runlog.take() == ["a", "list"]


def test_keys_follow_structure_and_references() -> None:
    a, b = source.bind("a", 1), source.bind("b", 2)

    def key(value):
        node = nest.bind("g", value)
        return sign(node)[Graph.from_targets(node).sinks()[0]]

    assert key([a, b]) != key([b, a])  # list order counts
    assert key({"x": a, "y": b}) == key({"y": b, "x": a})  # dict order does not
    assert key([a, b]) != key((a, b)) != key([a, [b]])
    assert key([a]) != key([1]) and key([a]) != key([source.bind("a", 2)])
    assert key({"x": a}) != key({"w": a})


def test_to_dict_from_dict_round_trip_keeps_keys() -> None:
    a, pair = source.bind("a", 1), split.bind("s", 3)
    node = nest.bind("g", {"xs": [a, (pair[1], 2)], "$odd": [a, a], "n": None})
    graph = Graph.from_targets(node)
    again = Graph.from_dict(graph.to_dict(), [nest, source, split])
    assert sign(again) == sign(graph)


def test_node_inside_an_object_is_an_error_that_says_so(tmp_path) -> None:
    @dataclass
    class Holder:
        inner: object

    node = nest.bind("g", Holder(source.bind("a", 1)))
    with pytest.raises(SigningError, match=r"input 'parts' of node 'nest-1'.*is a node "
                                           r"inside an object digestflow does not open"):
        run(node, store=tmp_path / "s", executor="inline")


def test_node_inside_a_set_and_unpicked_multi_output_are_refused() -> None:
    with pytest.raises(ValidationError, match="inside a frozenset"):
        nest.bind("g", frozenset([source.bind("a", 1)]))
    with pytest.raises(ValidationError, match=r"pick one with node\[i\]"):
        nest.bind("g", [split.bind("s", 1)])
