"""Malformed prompts and graphs: every problem is a ValidationError naming node and input.

Graphs from JSON are checked against a JSON Schema before loading; ComfyUI's
link rule (``[str, int >= 0]``) decides what is a link; a list that is almost
a link to a node of the prompt is an error, never a silent literal. A
Hypothesis fuzz mutates a valid prompt and our own format: only the
ValidationError family may escape ``from_prompt``/``from_dict`` + ``sign``.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import Graph, ValidationError, sign
from tests.runner.tasks import combine, source, split

REGISTRY = {"Source": source, "Combine": combine, "Split": split}
PROMPT = {
    "4": {"class_type": "Source", "inputs": {"label": "p4", "value": 3}},
    "5": {"class_type": "Split", "inputs": {"label": "p5", "x": ["4", 0]}},
    "3": {"class_type": "Combine", "inputs": {"label": "p3", "parts[0]": ["5", 1],
                                              "parts[1]": ["4", 0], "k": 10}},
}


def _with_input(value):
    prompt = copy.deepcopy(PROMPT)
    prompt["3"]["inputs"]["parts[1]"] = value
    return prompt


@pytest.mark.parametrize("near", [["4", True], ["4", 0.0], ["4", 0, 0], [None, 0], ["4"],
                                  ["4", -1], ["4", "0"], [4, 0]])
def test_a_near_link_is_an_error_not_a_literal(near):
    with pytest.raises(ValidationError, match=r"input 'parts\[1\]' of node '3' is .*looks like a "
                                              r"link but is not one.*\[\"2\", 0\]"):
        Graph.from_prompt(_with_input(near), REGISTRY)


@pytest.mark.parametrize("literal", [[1, 2], ["x", "y"], [1.5, 0], [], ["not-a-node", "0"]])
def test_other_lists_stay_literals(literal):
    graph = Graph.from_prompt(_with_input(literal), REGISTRY)
    assert graph["3"].literals["parts[1]"] == literal


@pytest.mark.parametrize("prompt,where", [
    ([], "prompt"),
    ({"1": []}, "node '1'"),
    ({"1": {"inputs": {}}}, "node '1'"),
    ({"1": {"class_type": 5, "inputs": {}}}, "node '1' field 'class_type'"),
    ({"1": {"class_type": "", "inputs": {}}}, "node '1' field 'class_type'"),
    ({"1": {"class_type": "Source", "inputs": []}}, "node '1' field 'inputs'"),
])
def test_schema_errors_name_the_node_and_field(prompt, where):
    with pytest.raises(ValidationError, match=where):
        Graph.from_prompt(prompt, REGISTRY)


def test_our_format_rejects_malformed_escapes_clearly():
    graph = Graph.from_prompt(PROMPT, REGISTRY).to_dict()
    for bad in ({"$tuple": 5}, {"$float": 1}, {"$dict": [1]}, {"$list": "ab"}):
        broken = copy.deepcopy(graph)
        broken["nodes"]["4"]["inputs"]["value"] = bad
        with pytest.raises(ValidationError, match="input 'value' of node '4'.*malformed escaped"):
            Graph.from_dict(broken, REGISTRY)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 6) | st.floats(allow_nan=False)
    | st.text(max_size=3) | st.sampled_from(["3", "4", "5", "$tuple", "$float", "Source"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["class_type", "inputs", "label", "value", "x", "k",
                                       "$tuple", "$dict", "$float", "$list", "4"]), inner,
                      max_size=3),
    max_leaves=8,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _mutate(doc, path, value, how):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if how == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "rename" and isinstance(parent, dict):
        parent[json.dumps(value)[:8]] = parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw, base):
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        doc = _mutate(doc, path, draw(_JSON), draw(st.sampled_from(["set", "delete", "rename"])))
    return doc


def _load_and_sign(load, doc):
    try:
        sign(load(json.loads(json.dumps(doc)), REGISTRY))
    except ValidationError as err:
        assert str(err)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(PROMPT))
def test_fuzzed_prompts_raise_only_validation_errors(doc):
    _load_and_sign(Graph.from_prompt, doc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(Graph.from_prompt(PROMPT, REGISTRY).to_dict()))
def test_fuzzed_graph_documents_raise_only_validation_errors(doc):
    _load_and_sign(Graph.from_dict, doc)
