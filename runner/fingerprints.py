"""``@task(fingerprint=fn)``: a node's say about what its inputs cannot show.

``fn`` runs on the driver when the node is signed, with the node's literal
inputs it names as keyword arguments (all of them if it takes ``**kwargs``;
a ``keys.File`` arrives as its path). Its result joins the key as the
pseudo-input ``<fingerprint>`` (a name no parameter can have), so a new
etag, model version or mtime re-runs the node and ``explain`` says
"fingerprint changed". The task itself never sees it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any

from keys import File, SigningError

NAME = "<fingerprint>"


class _Fingerprinted:
    """A node as the signer sees it: its literals plus the fingerprint."""

    __slots__ = ("id", "identity", "literals", "links")

    def __init__(self, node: Any, value: Any) -> None:
        self.id, self.identity, self.links = node.id, node.identity, node.links
        self.literals = {**node.literals, NAME: value}


def signable(nodes: Iterable[Any]) -> Iterator[Any]:
    """``nodes``, with the fingerprint added to those whose task declares one."""
    for node in nodes:
        fn = node.task.opts.fingerprint
        yield node if fn is None else _Fingerprinted(node, call(fn, node))


def call(fn: Any, node: Any) -> Any:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {name: value.path if isinstance(value, File) else value
              for name, value in node.literals.items() if takes_all or name in params}
    try:
        return fn(**kwargs)
    except Exception as err:
        raise SigningError(
            f"fingerprint of {node.describe()} raised {type(err).__name__}: {err} "
            f"(called with {sorted(kwargs)}; it gets the node's literal inputs it names)"
        ) from err
