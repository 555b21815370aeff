"""Keys depend on what a graph computes, not on how it was written down."""

from __future__ import annotations

import itertools

from runner import Graph, sign
from tests.runner.tasks import combine, source, split


def test_bind_order_does_not_change_keys():
    """Node ids follow bind order; keys must not."""

    def build(order):
        made = {label: source.bind(label, value) for label, value in order}
        lo_hi = split.bind("s", made["a"])
        return combine.bind("top", made["b"], lo_hi[1], made["c"], k=3)

    seen = set()
    for order in itertools.permutations([("a", 1), ("b", 2), ("c", 3)]):
        keys = sign(build(order))
        ids = tuple(sorted(keys))
        seen.add((tuple(sorted(k.hex() for k in keys.values())), keys["combine-1"]))
        assert ids == ("combine-1", "source-1", "source-2", "source-3", "split-1")
    assert len(seen) == 1, "six bind orders, one set of keys"


def test_node_ids_and_prompt_ids_never_enter_keys():
    prompt = {
        "x": {"class_type": "source", "inputs": {"label": "p", "value": 1}},
        "y": {"class_type": "combine", "inputs": {"label": "q", "parts[0]": ["x", 0]}},
    }
    renamed = {
        "100": {"class_type": "source", "inputs": {"value": 1, "label": "p"}},
        "7": {"class_type": "combine", "inputs": {"parts[0]": ["100", 0], "label": "q"}},
    }
    tasks = [source, combine]
    a = sign(Graph.from_prompt(prompt, tasks))
    b = sign(Graph.from_prompt(renamed, tasks))
    assert a["y"] == b["7"] and a["x"] == b["100"]
    bound = sign(combine.bind("q", source.bind("p", 1)))
    assert bound["combine-1"] == a["y"], "bind() and a prompt give the same key"
