"""Jobs, tasks, real stores and futures shared by the fusion tests (no Ray)."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from runner.contracts import Cached, NodeJob, Upstream
from runner.task import task
from storage import open_store

TIMINGS = "docs/stats/tasks.json"  # where a store keeps the timings (cluster.fusion)
_STORES = tempfile.TemporaryDirectory(prefix="digestflow-fusion-")  # removed at exit


@task
def tiny(*xs: int) -> int:
    return sum(xs)


@task
def slow(*xs: int) -> int:
    return sum(xs)


@task(num_gpus=1)
def on_gpu(*xs: int) -> int:
    return sum(xs)


TIMES = {"tiny": 0.0001, "slow": 0.5, "on_gpu": 0.0001}


def make_job(nid: str, t, parents=(), lease=None) -> NodeJob:
    inputs = {f"x{i}": Upstream(p, 0) for i, p in enumerate(parents)}
    inputs["c"] = Cached("ab" * 32, 0, "d")  # a stored input never ties nodes together
    return NodeJob(node_id=nid, task=t, key=nid, inputs=inputs, lease=lease)


def store_with(doc: Any = None, *, unwritable: bool = False) -> Any:
    """A real local store in a fresh directory, its timings file
    (``docs/stats/tasks.json``) holding ``doc`` as JSON (none if None: NaN allowed, as
    a damaged file may hold). ``unwritable``: ``docs/stats`` is a regular file, so
    saving timings fails."""
    store = open_store(tempfile.mkdtemp(dir=_STORES.name))
    path = Path(store.uri) / TIMINGS
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    if unwritable:
        path.parent.write_text("not a directory")
    elif doc is not None:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(doc))
    return store


def saved(store: Any) -> tuple[str, str, Any] | None:
    """("stats", "tasks", the timings document) as the store holds it, None if none."""
    path = Path(store.uri) / TIMINGS
    return ("stats", "tasks", json.loads(path.read_text())) if path.is_file() else None


def future(outcome: Any = None) -> Any:
    """An asyncio future as the tracker hands out: resolved to ``outcome``, or still
    pending (None)."""
    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future()
        if outcome is not None:
            fut.set_result(outcome)
    finally:
        loop.close()
    return fut
