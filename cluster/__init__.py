"""cluster: everything Ray — executor, index actor, worker wrapper, metrics."""

from __future__ import annotations

from cluster.connect import Connection, ensure_ray
from cluster.executor import RayExecutor
from cluster.index import RayIndex, get_index_actor, index_name

__all__ = ["Connection", "RayExecutor", "RayIndex", "ensure_ray", "get_index_actor", "index_name"]
