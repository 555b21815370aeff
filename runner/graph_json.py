"""JSON forms of a graph: our own round-trip format and ComfyUI API prompts.

Both use the ComfyUI node shape ``{"id": {"class_type": ..., "inputs": {...}}}``
where a ``[node_id, socket]`` list (a string and an int >= 0) is a link; a
list that is almost a link is an error (see ``runner.prompt_schema``, which
also holds the JSON Schema both are checked against before loading). Our
format escapes literals that JSON would blur (tuples, 2-lists that look like
links, non-str dict keys are refused) so ``from_dict(to_dict(g))`` gives the
same keys. Every problem is a ``ValidationError`` naming the node and input.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from runner.errors import ValidationError
from runner.graph import Graph, GraphNode, Link
from runner.nested import Template, fill, link_name, split
from runner.prompt_schema import GRAPH_SCHEMA, PROMPT_SCHEMA, check_schema, link_or_value
from runner.task import Task

FORMAT = "digestflow.graph/1"


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    nodes = {}
    for node in graph:
        inputs: dict[str, Any] = {}
        for name in node.order:
            if name in node.links:
                inputs[name] = list(node.links[name])
            elif isinstance(node.literals[name], Template):
                inputs[name] = {"$nested": _literal_to_json(node, name, _embed(node, name))}
            else:
                inputs[name] = _literal_to_json(node, name, node.literals[name])
        nodes[node.id] = {"class_type": node.class_type, "inputs": inputs}
    return {"format": FORMAT, "nodes": nodes}


def _embed(node: GraphNode, name: str) -> Any:
    """A nested input with its node links put back in place, as ``Link``s."""
    template = node.literals[name]
    return fill(template, {p: Link(*node.links[link_name(name, p)]) for p in template.slots()})


def graph_from_dict(data: Mapping[str, Any], registry: Any) -> Graph:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise ValidationError(
            f"not a digestflow graph (format {found!r}, expected {FORMAT!r}); "
            "for a ComfyUI prompt use Graph.from_prompt"
        )
    check_schema(data, GRAPH_SCHEMA, "graph")
    return _load_nodes(data["nodes"], registry, escaped=True)


def graph_from_prompt(prompt: Mapping[str, Any], registry: Any) -> Graph:
    if isinstance(prompt, Mapping) and isinstance(prompt.get("prompt"), Mapping):
        prompt = prompt["prompt"]
    check_schema(prompt, PROMPT_SCHEMA, "prompt")
    return _load_nodes(prompt, registry, escaped=False)


def resolve_registry(registry: Any) -> dict[str, Task]:
    """A mapping name -> Task, a module, or an iterable of tasks -> {class_type: Task}."""
    if isinstance(registry, ModuleType):
        found: dict[str, Task] = {}
        for attr, value in vars(registry).items():
            if isinstance(value, Task):
                found.setdefault(attr, value)
                found.setdefault(value.name, value)
        return found
    if isinstance(registry, Mapping):
        found = dict(registry)
        for value in registry.values():
            found.setdefault(value.name, value)
        return found
    return {t.name: t for t in registry}


def _load_nodes(nodes: Mapping[str, Any], registry: Any, *, escaped: bool) -> Graph:
    tasks = resolve_registry(registry)
    graph = Graph()
    for node_id, spec in nodes.items():
        node_id = str(node_id)
        if not isinstance(spec, Mapping) or "class_type" not in spec:
            raise ValidationError(f"node {node_id!r} has no class_type")
        class_type = spec["class_type"]
        if class_type not in tasks:
            known = ", ".join(sorted(tasks)) or "none"
            raise ValidationError(
                f"node {node_id!r} has unknown class_type {class_type!r}; "
                f"the registry knows: {known}"
            )
        task = _node_task(node_id, tasks[class_type], spec)
        inputs = {
            name: _input_from_json(node_id, name, value, nodes, escaped)
            for name, value in (spec.get("inputs") or {}).items()
        }
        inputs = _with_defaults(task, inputs)
        graph.add(GraphNode(node_id, task, inputs, where=f"class_type {class_type}",
                            class_type=class_type))
    return graph


_NODE_KEYS = frozenset({"class_type", "inputs", "_meta", "no_cache"})


def _node_task(node_id: str, task: Task, spec: Mapping[str, Any]) -> Task:
    """The node's task, uncached where the node says ``"no_cache": true``; other
    per-node keys digestflow does not know are named in a warning."""
    unknown = sorted(str(k) for k in spec if k not in _NODE_KEYS)
    if unknown:
        warnings.warn(f"node {node_id!r}: ignoring unknown key(s) {unknown}; digestflow reads "
                      "class_type, inputs, no_cache (and ignores _meta)", stacklevel=4)
    no_cache = spec.get("no_cache", False)
    if not isinstance(no_cache, bool):
        raise ValidationError(f"node {node_id!r}: no_cache must be true or false, "
                              f"got {no_cache!r}")
    return task.options(cache=False) if no_cache else task


def _with_defaults(task: Task, inputs: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults exactly as ``bind`` does, so both paths give the same keys."""
    out = dict(inputs)
    for pname, param in task.signature.parameters.items():
        if param.default is not inspect.Parameter.empty and pname not in out:
            out[pname] = param.default
    return out


def _input_from_json(
    node_id: str, name: str, value: Any, nodes: Mapping[str, Any], escaped: bool
) -> Any:
    link = link_or_value(node_id, name, value, nodes)
    if link is not None:
        return Link(*link)
    if not escaped:
        return value
    try:
        return _literal_from_json(value)
    except (TypeError, ValueError, AttributeError, RecursionError) as err:
        raise ValidationError(
            f"input {name!r} of node {node_id!r} has a malformed escaped literal ({err}); "
            'expected {"$tuple": [...]}, {"$list": [...]}, {"$float": "nan"|"inf"|"-inf"} '
            'or {"$dict": {...}}'
        ) from None


def _literal_to_json(node: GraphNode, name: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Link):
        return {"$link": [value.node, value.socket]}
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [_literal_to_json(node, name, v) for v in value]}
    if isinstance(value, list):
        items = [_literal_to_json(node, name, v) for v in value]
        return {"$list": items} if len(items) == 2 else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if any(k.startswith("$") for k in value):
            return {"$dict": {k: _literal_to_json(node, name, v) for k, v in value.items()}}
        return {k: _literal_to_json(node, name, v) for k, v in value.items()}
    raise ValidationError(
        f"input {name!r} of {node.describe()} has type {type(value).__name__}, which has no "
        "JSON form: use None/bool/int/float/str and lists, tuples or str-keyed dicts of them"
    )


def _literal_from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_literal_from_json(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (tag, inner), = value.items()
            if tag in ("$tuple", "$list") and not isinstance(inner, list):
                raise TypeError(f"{tag} takes a list, got {type(inner).__name__}")
            if tag == "$tuple":
                return tuple(_literal_from_json(v) for v in inner)
            if tag == "$list":
                return [_literal_from_json(v) for v in inner]
            if tag == "$float":
                if not isinstance(inner, str):
                    raise TypeError(f"$float takes a string, got {type(inner).__name__}")
                return float(inner)
            if tag == "$dict":
                return {k: _literal_from_json(v) for k, v in inner.items()}
            if tag == "$link":
                return Link(str(inner[0]), int(inner[1]))
            if tag == "$nested":
                return split(_literal_from_json(inner), lambda link: link,
                             lambda item: isinstance(item, Link))
        return {k: _literal_from_json(v) for k, v in value.items()}
    return value
