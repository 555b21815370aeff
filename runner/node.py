"""Lazy nodes built by ``Task.bind`` and the outputs they expose.

A Node records its task and its bound inputs by parameter name. Varargs are
flattened to ``name[i]`` and ``**kwargs`` keep their keyword, so every input
has one stable name (names enter the key; positions do not).
"""

from __future__ import annotations

import inspect
import itertools
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runner.errors import ValidationError

if TYPE_CHECKING:
    from runner.task import Task

_SEQ = itertools.count()
_EMPTY = inspect.Parameter.empty
_PLAIN = frozenset({int, float, str, bool, type(None), bytes, complex})  # never hold a node


class Output:
    """Output socket ``socket`` of ``node``; what ``node[i]`` returns."""

    __slots__ = ("node", "socket")

    def __init__(self, node: Node, socket: int) -> None:
        self.node = node
        self.socket = socket

    def __repr__(self) -> str:
        return f"<output {self.socket} of {self.node.task.name}>"

    def __digest__(self) -> Any:
        from runner.nested import ref_digest

        return ref_digest(self)


class Node:
    """One call of a task on bound inputs; nothing runs until ``run``."""

    __slots__ = ("task", "inputs", "seq", "where", "__weakref__")

    def __init__(self, task: Task, inputs: dict[str, Any], where: str) -> None:
        self.task = task
        self.inputs = inputs
        self.seq = next(_SEQ)
        self.where = where

    @classmethod
    def create(cls, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Node:
        where = _caller()
        inputs = fast_inputs(task.bind_plan, args, kwargs)
        if inputs is None:
            inputs = signature_inputs(task, args, kwargs, where)
        for name, value in inputs.items():
            if type(value) not in _PLAIN:
                _check_input(task, where, name, value)
        return cls(task, inputs, where)

    def __getitem__(self, socket: int) -> Output:
        n = self.task.num_returns
        if not isinstance(socket, int) or not 0 <= socket < n:
            raise ValidationError(
                f"task {self.task.name!r} bound at {self.where} has {n} output(s); "
                f"socket {socket!r} is out of range 0..{n - 1}"
            )
        return Output(self, socket)

    def __iter__(self) -> Iterator[Output]:
        n = self.task.num_returns
        if n == 1:
            raise TypeError(
                f"task {self.task.name!r} has one output; it cannot be unpacked "
                "(declare @task(num_returns=N) for several)"
            )
        return iter([Output(self, i) for i in range(n)])

    def __len__(self) -> int:
        return self.task.num_returns

    def __repr__(self) -> str:
        return f"<node {self.task.name} bound at {self.where}>"

    def __digest__(self) -> Any:
        from runner.nested import ref_digest

        return ref_digest(self)


def signature_inputs(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any],
                     where: str) -> dict[str, Any]:
    """{input name: value} of a call, bound by ``inspect``; a clear error if it cannot be."""
    try:
        bound = task.signature.bind(*args, **kwargs)
    except TypeError as err:
        from runner.hints import bind_problem

        raise ValidationError(
            f"task {task.name!r} bound at {where}: "
            f"{bind_problem(task.signature, kwargs, str(err))}; "
            f"expected {task.name}{task.signature}"
        ) from None
    bound.apply_defaults()
    return flatten_arguments(task.signature, bound.arguments)


BindPlan = tuple[tuple[str, ...], int, tuple[Any, ...]]  # names, positional count, defaults


def bind_plan(sig: inspect.Signature) -> BindPlan | None:
    """What ``fast_inputs`` needs of a signature; None where it does not apply
    (``*args``, ``**kwargs`` or positional-only parameters: ``inspect`` binds those)."""
    params = list(sig.parameters.values())
    if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params):
        return None
    positional = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
    return tuple(p.name for p in params), positional, tuple(p.default for p in params)


def fast_inputs(plan: BindPlan | None, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The inputs ``signature_inputs`` gives for a call that binds cleanly, in parameter
    order with defaults applied, without ``inspect``; None for anything else (too many
    arguments, an unknown or repeated keyword, a missing one), which ``inspect``
    then binds or explains."""
    if plan is None:
        return None
    names, positional, defaults = plan
    if len(args) > positional:
        return None
    inputs = dict(zip(names, args, strict=False))  # len(args) <= len(names)
    used = 0
    for i in range(len(args), len(names)):
        name = names[i]
        if name in kwargs:
            inputs[name] = kwargs[name]
            used += 1
        elif defaults[i] is _EMPTY:
            return None
        else:
            inputs[name] = defaults[i]
    return inputs if used == len(kwargs) else None


def flatten_arguments(sig: inspect.Signature, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Bound arguments -> {input name: value}, varargs as ``name[i]``."""
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            out.update({f"{name}[{i}]": v for i, v in enumerate(value)})
        elif kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        else:
            out[name] = value
    return out


def call_arguments(
    sig: inspect.Signature, inputs: Mapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Inverse of ``flatten_arguments``: the (args, kwargs) to call the function with."""
    arguments: dict[str, Any] = {}
    var_kw: dict[str, Any] = {}
    varargs: dict[str, list[tuple[int, Any]]] = {}
    for name, value in inputs.items():
        if name in sig.parameters:
            arguments[name] = value
        elif name.endswith("]") and "[" in name:
            base, _, idx = name[:-1].partition("[")
            varargs.setdefault(base, []).append((int(idx), value))
        else:
            var_kw[name] = value
    ordered: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            ordered[pname] = tuple(v for _, v in sorted(varargs.get(pname, [])))
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            ordered[pname] = var_kw
        elif pname in arguments:
            ordered[pname] = arguments[pname]
    bound = inspect.BoundArguments(sig, ordered)  # type: ignore[arg-type]
    return bound.args, bound.kwargs


def _check_input(task: Task, where: str, name: str, value: Any) -> None:
    if isinstance(value, Node) and value.task.num_returns != 1:
        raise ValidationError(
            f"input {name!r} of task {task.name!r} bound at {where} is node "
            f"{value.task.name!r}, which has {value.task.num_returns} outputs: "
            f"pick one with node[i] or unpack it"
        )
    if isinstance(value, (set, frozenset)) and _contains_node(value):
        raise ValidationError(
            f"input {name!r} of task {task.name!r} bound at {where} holds a node inside a "
            f"{type(value).__name__}: nodes are resolved inside lists, tuples and dicts "
            "only; use a list"
        )
    from runner.nested import refs_in

    if type(value) in (list, tuple, dict):
        for ref in refs_in(value):
            if isinstance(ref, Node) and ref.task.num_returns != 1:
                raise ValidationError(
                    f"input {name!r} of task {task.name!r} bound at {where} holds node "
                    f"{ref.task.name!r}, which has {ref.task.num_returns} outputs: "
                    "pick one with node[i]"
                )


def _contains_node(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (Node, Output)):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
    return False


def _caller() -> str:
    """file:line of the user's ``bind`` call (two frames up)."""
    try:
        frame = sys._getframe(3)
    except ValueError:
        return "<unknown>"
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
