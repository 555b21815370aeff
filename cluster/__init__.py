"""cluster: everything Ray — executor, index actor, worker wrapper, metrics."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Connection", "RayExecutor", "RayIndex", "ensure_ray", "get_index_actor", "index_name"]

_WHERE = {"Connection": "cluster.connect", "ensure_ray": "cluster.connect",
          "RayExecutor": "cluster.executor", "RayIndex": "cluster.index",
          "get_index_actor": "cluster.index", "index_name": "cluster.index"}


def __getattr__(name: str) -> Any:
    """Imported on first use, so a Ray worker or the index actor imports only what it
    runs (``cluster.worker``, ``cluster.index``), not the driver's executor."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'cluster' has no attribute {name!r}")
    return getattr(importlib.import_module(where), name)
