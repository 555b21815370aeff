"""Find, describe and stop a store's detached index actor (``digestflow index``).

The index actor is detached, so it outlives every driver and job; these
helpers let a user see it and remove it. Stopping it loses nothing: the
store is the source of truth and the next run on the cluster rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ray

from cluster.index import NAMESPACE, index_name

__all__ = ["IndexInfo", "find_index", "stop_index"]


@dataclass(frozen=True, kw_only=True)
class IndexInfo:
    store: str
    name: str
    namespace: str
    alive: bool
    stats: dict[str, Any]  # entries, leases, calls, segments (empty when it did not answer)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _actor(store_uri: str) -> Any:
    try:
        return ray.get_actor(index_name(store_uri), namespace=NAMESPACE)
    except ValueError:
        return None


def find_index(store_uri: str, timeout: float = 10.0) -> IndexInfo | None:
    """The store's index actor on the connected cluster, or None if there is none."""
    actor = _actor(store_uri)
    if actor is None:
        return None
    try:
        stats = ray.get(actor.stats.remote(), timeout=timeout)
        alive = True
    except (ray.exceptions.RayError, TimeoutError):
        stats, alive = {}, False
    return IndexInfo(store=store_uri, name=index_name(store_uri), namespace=NAMESPACE,
                     alive=alive, stats=stats)


def stop_index(store_uri: str) -> bool:
    """Kill the store's index actor for good (no restart); False if there was none."""
    actor = _actor(store_uri)
    if actor is None:
        return False
    ray.kill(actor, no_restart=True)
    return True
