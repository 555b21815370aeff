"""The first steps every entry point shares: targets -> a validated, signed graph.

``run``, ``sign``, ``explain`` and ``digestflow graph`` all start here, so
they agree on node ids, order and keys. No Ray, no store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.collector import gc_paused
from runner.graph import Graph
from runner.targets import Target, resolve_targets
from runner.validate import validate


@dataclass(frozen=True, kw_only=True)
class Signed:
    graph: Graph
    targets: list[Target]               # flat (node id, socket or None)
    rebuild: Callable[[list[Any]], Any]  # flat values -> the shape the user passed
    order: list[str]                    # node ids, topological
    keys: dict[str, Any]                # node id -> keys.Key
    hexkeys: dict[str, str]             # node id -> key hex
    signer: Any                         # keys.Signer, which keeps every recipe


def sign_targets(targets: Any, store: Any = None, *, recipes: bool = True) -> Signed:
    """Resolve, validate and sign the graph behind ``targets``.

    ``store`` (optional) keeps the stat records that spare re-hashing unchanged
    ``keys.File`` inputs. ``recipes=False`` when only keys are wanted
    (``runner.sign``): the signer then keeps nothing per node.

    The cyclic garbage collector is paused meanwhile: these steps allocate a
    few long-lived, acyclic objects per node, and the collections they would
    trigger cost as much as the steps themselves on big graphs.
    """
    from keys import Signer
    from runner import file_inputs, fingerprints

    with gc_paused():
        graph, flat, rebuild = resolve_targets(targets)
        order = validate(graph)
        signer = Signer(recipes=recipes)
        nodes = graph.nodes
        if store is not None:
            file_inputs.attach(store)
        try:
            keys = signer.sign(fingerprints.signable([nodes[nid] for nid in order]))
        finally:
            if store is not None:
                file_inputs.detach_and_save(store)
        hexkeys = {nid: k.hex() for nid, k in keys.items()}
    file_inputs.warn_plain_paths(graph)
    return Signed(graph=graph, targets=flat, rebuild=rebuild, order=order, keys=keys,
                  hexkeys=hexkeys, signer=signer)


def sign_keys(targets: Any) -> dict[str, Any]:
    """{node id: keys.Key} for every node ``targets`` need (``runner.sign``).

    Targets from ``bind`` are signed as their nodes are walked, with no Graph
    (``runner.bound_keys``); a Graph goes through ``sign_targets``. Either way the
    keys, the errors and the path-literal warning are the same.
    """
    from keys import Signer
    from runner import file_inputs
    from runner.bound_keys import bound_keys
    from runner.targets import bound_roots

    roots = bound_roots(targets)
    if roots is None:
        return sign_targets(targets, recipes=False).keys
    with gc_paused():
        keys, maybe_paths = bound_keys(roots, Signer(recipes=False))
    file_inputs.warn_path_literals(maybe_paths)
    return keys


def open_store(store: Any) -> Any:
    """A Store from a Store, a URI or path, or None (``$DIGESTFLOW_STORE``)."""
    from storage import open_store as _open

    if store is None or isinstance(store, (str, os.PathLike)):
        return _open(store)
    return store
