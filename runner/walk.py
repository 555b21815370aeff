"""The one walk down a DAG: every node below some roots, each visited once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping


def below(
    roots: Iterable[str],
    children: Mapping[str, Iterable[str]],
    *,
    enter: Callable[[str], bool] = lambda _: True,
) -> list[str]:
    """Descendants of ``roots`` (not the roots themselves), in discovery order.

    ``enter(node)`` false stops the walk at ``node``: it is neither returned
    nor walked through. Iterative, so a 200k-node chain does not recurse.
    """
    seen: set[str] = set(roots)
    out: list[str] = []
    stack = [c for r in seen for c in children.get(r, ())]
    while stack:
        node = stack.pop()
        if node in seen or not enter(node):
            continue
        seen.add(node)
        out.append(node)
        stack.extend(children.get(node, ()))
    return out
