"""JSON Schema and the link rule for graphs given as JSON (ComfyUI prompts, our format).

Shape (checked by ``PROMPT_SCHEMA`` before anything loads): an object of node
id -> ``{"class_type": str, "inputs": {name: value}}``; other per-node keys
(``_meta``, ``no_cache``, ...) are left to the loader. Link rule, ComfyUI's: an input
``[node_id, output]`` with a string id and an int ``output >= 0`` is a link.
A list that is *almost* a link is an error, not a literal: one whose first
item is a node id of the prompt (or ``None``) but which is not exactly
``[str, int >= 0]`` (``["2", True]``, ``["2", 0.0]``, ``["2", 0, 0]``,
``[None, 0]``). Any other list is a literal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.errors import ValidationError

_NODE = {
    "type": "object",
    "required": ["class_type"],
    "properties": {
        "class_type": {"type": "string", "minLength": 1},
        "inputs": {"type": "object", "propertyNames": {"type": "string", "minLength": 1}},
        "_meta": {"type": "object"},
    },
}
PROMPT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "propertyNames": {"type": "string", "minLength": 1},
    "additionalProperties": _NODE,
}
GRAPH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "nodes"],
    "properties": {"format": {"type": "string"}, "nodes": PROMPT_SCHEMA},
}
_validators: dict[int, Any] = {}


def check_schema(data: Any, schema: dict[str, Any], what: str) -> None:
    """Raise ``ValidationError`` naming the node and input of the first schema error."""
    import jsonschema

    validator = _validators.get(id(schema))
    if validator is None:
        validator = _validators[id(schema)] = jsonschema.Draft202012Validator(schema)
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply") from None
    if error is None:
        return
    path = [str(p) for p in error.absolute_path]
    if path[:1] == ["nodes"]:
        path = path[1:]
    where = what
    if path:
        where = f"node {path[0]!r}"
        if len(path) >= 3 and path[1] == "inputs":
            where += f" input {path[2]!r}"
        elif len(path) >= 2:
            where += f" field {path[1]!r}"
    raise ValidationError(f"{where}: {_short(error.message)}; expected {_expected(path)}")


def _expected(path: list[str]) -> str:
    if len(path) <= 1:
        return '{"<node id>": {"class_type": "<task>", "inputs": {...}}}'
    if path[1] == "class_type":
        return "a non-empty string naming a task of the registry"
    if path[1] == "inputs":
        return "an object mapping input names (strings) to values or links [node_id, output]"
    return "the field's documented type"


def _short(text: str) -> str:
    return text if len(text) <= 160 else text[:157] + "..."


def link_or_value(node_id: str, name: str, value: Any, node_ids: Mapping[str, Any]) -> Any:
    """``(node, output)`` for a link, ``None`` for a literal; raise on a near-link."""
    if not isinstance(value, list) or not value:
        return None
    first = value[0]
    if (len(value) == 2 and isinstance(first, str) and type(value[1]) is int
            and value[1] >= 0):
        return first, value[1]
    names_node = (isinstance(first, str) and first in node_ids) or (
        type(first) is int and str(first) in node_ids)
    if names_node or (first is None and len(value) == 2):
        raise ValidationError(
            f"input {name!r} of node {node_id!r} is {_short(repr(value))}, which looks like a "
            "link but is not one: a link is [node_id, output] with node_id a string and "
            "output an int >= 0, e.g. [\"2\", 0]"
        )
    return None
