"""Every validation error names the node, the task and the input, before anything runs."""

from __future__ import annotations

import pytest

from keys import UnhashableError
from runner import Graph, ValidationError, run, sign, task
from tests.runner.tasks import combine, gather, source, split


def test_missing_and_unexpected_arguments_at_bind():
    with pytest.raises(ValidationError, match=r"task 'source' bound at test_validation.py:\d+: "
                                              r"missing a required argument: 'value'"):
        source.bind("x")
    with pytest.raises(ValidationError, match="unexpected keyword argument 'colour'"):
        source.bind("x", 1, colour="red")


def test_socket_out_of_range():
    node = split.bind("s", 1)
    with pytest.raises(ValidationError, match=r"has 2 output\(s\); socket 2 is out of range"):
        node[2]


def test_multi_output_node_used_whole():
    with pytest.raises(ValidationError, match="input 'parts\\[0\\]' of task 'combine'.*has 2 outputs"):
        combine.bind("c", split.bind("s", 1))


def test_node_hidden_in_a_set():
    """Lists, tuples and dicts are opened (tests/runner/test_nested_inputs.py); sets not."""
    with pytest.raises(ValidationError, match=r"holds a node inside a set.*use a list"):
        source.bind("x", {source.bind("y", 1)})


REGISTRY = {"Source": source, "Combine": combine, "Split": split}


def test_prompt_cycle_is_printed():
    prompt = {
        "1": {"class_type": "Combine", "inputs": {"label": "a", "parts[0]": ["2", 0]}},
        "2": {"class_type": "Combine", "inputs": {"label": "b", "parts[0]": ["3", 0]}},
        "3": {"class_type": "Combine", "inputs": {"label": "c", "parts[0]": ["1", 0]}},
    }
    with pytest.raises(ValidationError, match=r"cycle: (1 -> 3 -> 2 -> 1|3 -> 2 -> 1 -> 3|2 -> 1 -> 3 -> 2) \(each node feeds the next\)"):
        sign(Graph.from_prompt(prompt, REGISTRY))


def test_prompt_dangling_link_and_bad_socket():
    dangling = {"1": {"class_type": "Combine", "inputs": {"label": "a", "parts[0]": ["9", 0]}}}
    with pytest.raises(ValidationError, match="input 'parts\\[0\\]' of node '1' \\(task combine\\) "
                                              "links to node '9', which is not in the graph"):
        sign(Graph.from_prompt(dangling, REGISTRY))
    bad_socket = {
        "1": {"class_type": "Source", "inputs": {"label": "s", "value": 1}},
        "2": {"class_type": "Combine", "inputs": {"label": "a", "parts[0]": ["1", 3]}},
    }
    with pytest.raises(ValidationError, match=r"reads output 3 of node '1' \(task source\), "
                                              r"which has 1 output\(s\) \(sockets 0\.\.0\)"):
        sign(Graph.from_prompt(bad_socket, REGISTRY))


def test_prompt_unknown_class_missing_and_unexpected_inputs():
    with pytest.raises(ValidationError, match="node '1' has unknown class_type 'Blur'; "
                                              "the registry knows: Combine, Source, Split, combine, source, split"):
        Graph.from_prompt({"1": {"class_type": "Blur", "inputs": {}}}, REGISTRY)
    missing = {"1": {"class_type": "Source", "inputs": {"label": "s"}}}
    with pytest.raises(ValidationError, match="node '1' \\(task source\\) is missing required "
                                              "input 'value'"):
        sign(Graph.from_prompt(missing, REGISTRY))
    extra = {"1": {"class_type": "Source", "inputs": {"label": "s", "value": 1, "gain": 2}}}
    with pytest.raises(ValidationError, match="unexpected input 'gain'"):
        sign(Graph.from_prompt(extra, REGISTRY))


class Opaque:
    pass


def test_unhashable_literal_names_node_and_input():
    node = source.bind("x", {"weights": Opaque()})
    with pytest.raises(UnhashableError) as info:
        sign(node)
    message = str(info.value)
    assert "source-1" in message and "'value'" in message and "Opaque" in message
    assert "keys.register" in message and "__digest__" in message


def test_bad_cache_mode(store_uri):
    with pytest.raises(ValidationError, match="cache='sometimes'; expected one of use, refresh"):
        run(source.bind("x", 1), store=store_uri, executor="inline", cache="sometimes")


@task(num_gpus=2)
def two_gpus(x: int) -> int:
    return x


@task(resources={"tpu_pod": 1})
def needs_tpu(x: int) -> int:
    return x


def test_infeasible_resources_fail_fast(ray_session, store_uri, runlog):
    with pytest.raises(Exception, match=r"task 'two_gpus' needs GPU=2 but the whole cluster has "
                                        r".*GPU=1.*pending forever"):
        run(two_gpus.bind(source.bind("never", 1)), store=store_uri)
    with pytest.raises(Exception, match=r"task 'needs_tpu' needs tpu_pod=1"):
        run(needs_tpu.bind(1), store=store_uri)
    assert runlog.take() == [], "nothing ran before the check"


VARIADIC = {"Source": source, "Combine": combine, "Gather": gather}


def test_prompt_inputs_of_a_kwargs_task_reach_the_function(store_uri, runlog):
    prompt = {
        "1": {"class_type": "Source", "inputs": {"label": "s", "value": 4}},
        "2": {"class_type": "Gather", "inputs": {"label": "g", "alpha": 1, "beta": ["1", 0]}},
    }
    result = run(Graph.from_prompt(prompt, VARIADIC), store=store_uri, executor="inline")
    assert result.values == {"2": {"alpha": 1, "beta": 4}}
    assert runlog.take() == ["g", "s"]
    with pytest.raises(ValidationError, match=r"node '1' \(task gather\) is missing required "
                                              r"input 'label'"):
        sign(Graph.from_prompt({"1": {"class_type": "Gather", "inputs": {"x": 1}}}, VARIADIC))
    extras = {f"extra{i}": i for i in range(10)}
    accepted = []
    for bad in ("named", "x[0]", "label[0]"):  # the **kwargs name itself; no *args to index
        prompt = {"1": {"class_type": "Gather", "inputs": {"label": "g", **extras, bad: 1}}}
        try:
            sign(Graph.from_prompt(prompt, VARIADIC))
        except ValidationError as err:
            assert f"node '1' (task gather) got unexpected input {bad!r}" in str(err)
        else:
            accepted.append(bad)
    assert not accepted, f"validation let inputs through that the call would drop: {accepted}"


def test_prompt_inputs_of_an_args_task(store_uri):
    parts = {f"parts[{i}]": i for i in range(10)}
    good = {"1": {"class_type": "Combine", "inputs": {"label": "c", **parts, "k": 100}}}
    result = run(Graph.from_prompt(good, VARIADIC), store=store_uri, executor="inline")
    assert result.values == {"1": sum(range(10)) + 100}
    # every name is checked, however many valid *args names sit beside it (sets have no order)
    accepted = []
    for bad in ("gain", "parts", "k[0]", "label[1]", "parts[0", "partsx[0]", "parts[x]",
                "parts[0][1]", "parts[-1]", "parts[]"):
        prompt = {"1": {"class_type": "Combine", "inputs": {"label": "c", **parts, bad: 1}}}
        try:
            sign(Graph.from_prompt(prompt, VARIADIC))
        except ValidationError as err:
            assert f"node '1' (task combine) got unexpected input {bad!r}" in str(err)
        else:
            accepted.append(bad)
    assert not accepted, f"validation let unknown inputs through: {accepted}"


def test_cycle_message_leaves_out_nodes_hanging_off_the_cycle():
    prompt = {
        "0": {"class_type": "Combine", "inputs": {"label": "tail", "parts[0]": ["2", 0]}},
        "1": {"class_type": "Combine", "inputs": {"label": "a", "parts[0]": ["2", 0]}},
        "2": {"class_type": "Combine", "inputs": {"label": "b", "parts[0]": ["3", 0]}},
        "3": {"class_type": "Combine", "inputs": {"label": "c", "parts[0]": ["1", 0],
                                                   "parts[1]": ["9", 0]}},
        "9": {"class_type": "Source", "inputs": {"label": "s", "value": 1}},
    }
    with pytest.raises(ValidationError) as info:
        sign(Graph.from_prompt(prompt, REGISTRY))
    cycle = str(info.value).split("cycle: ", 1)[1].split(" (", 1)[0].split(" -> ")
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["1", "2", "3"], str(info.value)
    for a, b in zip(cycle, cycle[1:], strict=False):
        assert [a, 0] in prompt[b]["inputs"].values(), f"{a} does not feed {b}: {info.value}"


def test_prompt_required_input_given_by_a_link(store_uri, runlog):
    prompt = {
        "1": {"class_type": "Source", "inputs": {"label": "s", "value": 4}},
        "2": {"class_type": "Split", "inputs": {"label": "p", "x": ["1", 0]}},
    }
    result = run(Graph.from_prompt(prompt, REGISTRY), store=store_uri, executor="inline")
    assert result.values == {"2": (5, 3)}
    assert runlog.take() == ["p", "s"]


def test_prompt_socket_one_past_the_last_output():
    prompt = {
        "1": {"class_type": "Split", "inputs": {"label": "s", "x": 1}},
        "2": {"class_type": "Split", "inputs": {"label": "p", "x": ["1", 2]}},
    }
    with pytest.raises(ValidationError) as info:
        sign(Graph.from_prompt(prompt, REGISTRY))
    assert str(info.value) == (
        "input 'x' of node '2' (task split) reads output 2 of node '1' (task split), "
        "which has 2 output(s) (sockets 0..1)"
    )


def test_cycle_found_when_the_smallest_node_id_is_a_source_feeding_it():
    prompt = {
        "0": {"class_type": "Source", "inputs": {"label": "s", "value": 1}},
        "1": {"class_type": "Combine", "inputs": {"label": "a", "parts[0]": ["0", 0],
                                                   "parts[1]": ["2", 0]}},
        "2": {"class_type": "Combine", "inputs": {"label": "b", "parts[0]": ["1", 0]}},
    }
    with pytest.raises(ValidationError, match=r"cycle: (1 -> 2 -> 1|2 -> 1 -> 2) \(each node"):
        sign(Graph.from_prompt(prompt, REGISTRY))
