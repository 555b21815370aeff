""""Did you mean" for the first-hour mistakes of building a graph.

- Calling a task with nodes (a forgotten ``.bind``) runs the plain function
  on lazy nodes and fails somewhere confusing: ``check_direct_call`` says so
  before the function runs.
- A misspelt keyword: ``bind_problem`` names the stray keyword and the
  closest parameter, instead of only the required one it left missing.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from runner.errors import ValidationError

__all__ = ["bind_problem", "check_direct_call"]


def _nodes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(argument, node) for nodes passed as arguments or inside a list/tuple/dict of them."""
    from runner.node import Node, Output

    named = [(f"argument {i}", a) for i, a in enumerate(args)]
    named += [(f"argument {k!r}", v) for k, v in kwargs.items()]
    for where, value in named:
        items = (value.values() if isinstance(value, Mapping)
                 else value if isinstance(value, (list, tuple)) else (value,))
        for item in items:
            if isinstance(item, (Node, Output)):
                yield where, item


def check_direct_call(task: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse to call ``task``'s function on lazy nodes: the user meant ``.bind``."""
    if not args and not kwargs:
        return
    found = next(_nodes(args, kwargs), None)
    if found is None:
        return
    where, node = found
    node = getattr(node, "node", node)
    raise ValidationError(
        f"task {task.name!r} was called with a node ({where} is {node!r}): calling a task "
        f"runs its function right now, on whatever it is given. Did you mean "
        f"{task.name}.bind(...)? It adds a node to the graph; run() computes it."
    )


def bind_problem(sig: inspect.Signature, kwargs: Mapping[str, Any], error: str) -> str:
    """``error`` from ``sig.bind``, led by any stray keyword and its closest parameter."""
    params = sig.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return error
    names = [n for n, p in params.items() if p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    stray = [k for k in kwargs if k not in params]
    if not stray:
        return error
    parts = []
    for key in stray:
        close = difflib.get_close_matches(key, [n for n in names if n not in kwargs], n=1,
                                          cutoff=0.6)
        parts.append(f"unexpected keyword argument {key!r}" + (
            f": did you mean {close[0]!r}?" if close else
            f" (parameters: {', '.join(names) or 'none'})"))
    return "; ".join(parts)
