"""Nodes inside list, tuple and dict arguments (Ray's DAG API does the same).

An argument such as ``[a, 1, {"w": b[1]}]`` becomes two things: a literal
``Template`` (the structure, with a ``Slot`` where each node output sits)
and one link per slot, named ``<input>@<path>`` (``xs@[0]``,
``xs@[2]['w']``). The key thus covers the structure and every reference:
list and tuple positions count, dict order does not (dicts encode sorted,
and paths name keys, not positions). Where the node runs, ``fill`` puts the
slot values back, so the task receives the containers with values in them.

Only plain ``list``, ``tuple`` and ``dict`` are opened; a node anywhere
else (a set, a dataclass, any object) is an error that says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from keys._unencodable import Unencodable

SEPARATOR = "@"
_OPEN = (list, tuple, dict)


class Slot:
    """Where a node's output sits inside a template; ``path`` like ``[0]['w']``."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __digest__(self) -> str:
        return self.path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slot) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"<node output at {self.path}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Slot, (self.path,))


class Template:
    """An argument's containers with ``Slot``s for node outputs (a literal input)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __digest__(self) -> Any:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.value == self.value

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Template({self.value!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Template, (self.value,))

    def slots(self) -> list[str]:
        """Slot paths, in a stable order."""
        return [slot.path for slot in _slots(self.value)]


def is_ref(value: Any) -> bool:
    from runner.node import Node, Output

    return isinstance(value, (Node, Output))


def refs_in(value: Any) -> Iterator[Any]:
    """Nodes and node outputs inside plain lists, tuples and dicts, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if is_ref(item):
            yield item
        elif type(item) is dict:
            stack.extend(item.values())
        elif type(item) in (list, tuple):
            stack.extend(item)


def holds_ref(value: Any) -> bool:
    return type(value) in _OPEN and next(refs_in(value), None) is not None


@dataclass(frozen=True)
class NestedInput:
    """An input whose containers hold links: its template and {slot path: Link}."""

    template: Template
    links: dict[str, Any]


def split(value: Any, to_ref: Callable[[Any], Any],
          is_ref: Callable[[Any], bool] = is_ref) -> NestedInput:
    """``value`` (holding refs) -> its template and {slot path: to_ref(ref)}."""
    refs: dict[str, Any] = {}

    def walk(item: Any, path: str) -> Any:
        if is_ref(item):
            refs[path] = to_ref(item)
            return Slot(path)
        if type(item) is dict:
            return {k: walk(v, f"{path}[{k!r}]") for k, v in item.items()}
        if type(item) in (list, tuple):
            return type(item)(walk(v, f"{path}[{i}]") for i, v in enumerate(item))
        return item

    return NestedInput(Template(walk(value, "")), refs)


def fill(template: Template, values: Mapping[str, Any]) -> Any:
    """The argument with each slot replaced by ``values[path]``."""

    def walk(item: Any) -> Any:
        if isinstance(item, Slot):
            return values[item.path]
        if type(item) is dict:
            return {k: walk(v) for k, v in item.items()}
        if type(item) in (list, tuple):
            return type(item)(walk(v) for v in item)
        return item

    return walk(template.value)


def link_name(input_name: str, path: str) -> str:
    return f"{input_name}{SEPARATOR}{path}"


def owner(link: str) -> str | None:
    """The input a nested link belongs to (``xs`` for ``xs@[0]``), else None."""
    name, sep, path = link.partition(SEPARATOR + "[")
    return name if sep else None


def resolve(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as the function gets them: templates filled, slot links folded in."""
    if not any(isinstance(v, Template) for v in inputs.values()):
        return dict(inputs)
    out: dict[str, Any] = {}
    slots: dict[str, dict[str, Any]] = {}
    for name, value in inputs.items():
        base = owner(name)
        if base is not None and base in inputs:
            slots.setdefault(base, {})[name[len(base) + 1:]] = value
        else:
            out[name] = value
    for name, value in out.items():
        if isinstance(value, Template):
            out[name] = fill(value, slots.get(name, {}))
    return out


def _slots(value: Any) -> Iterator[Slot]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Slot):
            yield item
        elif type(item) is dict:
            stack.extend(item.values())
        elif type(item) in (list, tuple):
            stack.extend(reversed(item))


def ref_digest(value: Any) -> Any:
    """``__digest__`` of Node and Output: a node in a place digestflow cannot open."""
    raise Unencodable(
        type(value),
        f"is a node inside an object digestflow does not open ({value!r}): nodes are "
        "resolved only as an argument itself or inside a list, tuple or dict (at any "
        "depth); pass it that way, or as its own argument",
    )
