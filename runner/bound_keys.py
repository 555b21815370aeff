"""Keys of a graph from ``bind``, signed in the pass that walks it (``runner.sign``).

``runner.sign`` wants keys only, so it builds no Graph: the nodes the targets
need are collected in bind order (a topological order: a node can only read
nodes that already exist), named as ``build_from_nodes`` names them, and
signed in that order. Each preimage is assembled straight from the node's
inputs, with its parents' digests found by the parent nodes: no GraphNode,
no per-node literal/link dicts, no id -> key lookups. A task's identity and
its sorted, encoded input names are worked out once per task.

A node this shortcut does not cover (nodes inside a list/tuple/dict input, a
``fingerprint``) is split as the graph splits it and signed by
``Signer.sign_node``. Keys and errors are those of the graph path
(tests/runner/test_prelude.py signs the same graphs both ways).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blake3 import blake3

from keys import Key, Signer
from keys.signer import ANCESTOR, NODE_DOMAIN, SOCKETS, count
from runner import fingerprints
from runner.file_inputs import SCALARS
from runner.graph import GraphNode, assign_ids, collect, split_inputs
from runner.nested import holds_ref
from runner.node import Node, Output

__all__ = ["bound_keys"]

_OPEN = (list, tuple, dict)
_SOCKET0 = SOCKETS[0]
_NOT_PATHS = SCALARS | {Node, Output}
_Key = Key
_new_key = object.__new__
_set_digest = Key.digest.__set__  # type: ignore[attr-defined]  # a trusted digest, as the signer sets it


class _Plan:
    """What every node of one task shares: its encoded identity and input names."""

    __slots__ = ("identity", "ident", "names", "general", "volatile")

    def __init__(self, node: Node, signer: Signer) -> None:
        task = node.task
        self.identity = task.identity
        self.ident = signer.text(self.identity)
        # bind fills every parameter (defaults applied): without *args/**kwargs, every
        # node of the task has the same input names
        fixed = all(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                    for p in task.signature.parameters.values())
        self.names = _sorted_names(node.inputs, signer) if fixed else None
        self.general = task.opts.fingerprint is not None
        self.volatile = bool(task.opts.volatile)


def _sorted_names(inputs: Iterable[str], signer: Signer) -> list[tuple[str, bytes]]:
    return [(name, signer.text(name)) for name in sorted(inputs)]


def bound_keys(roots: Iterable[Node], signer: Signer) -> tuple[dict[str, Key], list[Any]]:
    """{node id: key} for every node ``roots`` need, and the (node id, input, value)
    literals that may name files (for ``file_inputs.warn_path_literals``)."""
    ids = assign_ids(collect(roots))  # in bind order
    digests: dict[Node, bytes] = {}  # by identity: no read of a parent's seq
    keys: dict[str, Key] = {}
    maybe_paths: list[Any] = []
    plans: dict[Any, _Plan] = {}
    literal = signer.literal
    for node, nid in ids.items():
        plan = plans.get(node.task)
        if plan is None:
            plan = plans[node.task] = _Plan(node, signer)
        inputs, identity = node.inputs, plan.identity
        names = plan.names
        if names is None or len(names) != len(inputs):
            names = _sorted_names(inputs, signer)
        parts: list[Any] = [NODE_DOMAIN, plan.ident, None]
        links: list[bytes] = []
        general, paths = plan.general, False
        for name, enc in names:
            value = inputs[name]
            cls = type(value)
            if cls is Node:
                links += (enc, ANCESTOR, digests[value], _SOCKET0)
            elif cls is Output:
                socket = value.socket
                if type(socket) is not int or not 0 <= socket < 1024:
                    general = True  # the graph path's checks and errors, in its order
                    break
                links += (enc, ANCESTOR, digests[value.node], SOCKETS[socket])
            elif cls in SCALARS:
                parts += (enc, literal(name, value, nid, identity))
            elif isinstance(value, (Node, Output)) or (cls in _OPEN and holds_ref(value)):
                general = True
                break
            else:
                parts += (enc, literal(name, value, nid, identity))
                paths = True
        if general:
            key = keys[nid] = _general(node, nid, plan, digests, signer, maybe_paths)
            digests[node] = key.digest
            continue
        parts[2] = count((len(parts) - 3) >> 1)
        parts.append(count(len(links) >> 2))
        parts += links
        key = keys[nid] = _new_key(_Key)
        _set_digest(key, blake3(b"".join(parts)).digest())
        digests[node] = key.digest
        if paths and not plan.volatile:
            maybe_paths += [(nid, name, value) for name, value in inputs.items()
                            if type(value) not in _NOT_PATHS]
    return keys, maybe_paths


def _general(node: Node, nid: str, plan: _Plan, digests: dict[Node, bytes], signer: Signer,
             maybe_paths: list[Any]) -> Key:
    """The key of a node the shortcut leaves out, signed as a graph node; its literals
    that may name files join ``maybe_paths`` in input order, as the graph lists them."""
    literals, links = split_inputs(node, digests)
    if not plan.volatile:
        maybe_paths += [(nid, name, value) for name, value in literals.items()
                        if type(value) not in SCALARS]
    fn = node.task.opts.fingerprint
    if fn is not None:
        shown = GraphNode.bound_node(nid, node.task, literals, {}, node.inputs, node.where)
        literals = {**literals, fingerprints.NAME: fingerprints.call(fn, shown)}
    parents = {name: (Key(parent), socket) for name, (parent, socket) in links.items()}
    return signer.sign_node(plan.identity, literals, parents, nid)
