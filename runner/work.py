"""What happens where a node runs (driver for inline, a Ray worker for Ray).

Read cached inputs from the store, call the function, split its outputs into
sockets, write each socket to the store under the node's key, and return the
values plus a small picklable ``NodeOutcome`` (manifests, timings, bytes).
With early cutoff (``runner.cutoff``), first try the outputs an earlier run
stored for the same input content (only if each cached input's stored digest is
still the one the lookup gave); after computing, record them under the content
actually read.
A cached input that vanished or is corrupt is reported as *stale*, so the
driver recomputes it instead of failing the node.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from keys import File
from runner import nested
from runner.contracts import Cached, Cutoff, ErrorInfo, NodeOutcome, WorkerInfo
from runner.cutoff import alias_of, find_reusable, resolved_key
from runner.node import call_arguments
from runner.task import Task
from runner.tracebacks import user_traceback


class StaleInput(Exception):
    """A cached input could not be read; the driver recomputes its producer."""

    def __init__(self, key: str, socket: int, reason: str) -> None:
        super().__init__(f"cached input {key[:12]}:{socket} unavailable: {reason}")
        self.ref = (key, socket)


def execute_node(
    task: Task, key: str, inputs: Mapping[str, Any], store: Any, *, write: bool,
    cutoff: Cutoff | None = None, digests: Mapping[str, str | None] | None = None,
) -> tuple[list[Any], NodeOutcome]:
    """Run one node; exceptions from the task propagate to the caller.

    ``digests``: content digest of each upstream input (by input name), for cutoff.
    """
    start = time.perf_counter()
    digests = digests or {}
    rkey = _content_key(cutoff, inputs, digests)
    if rkey is not None and cutoff is not None and cutoff.lookup:
        reused = _reuse(task, key, rkey, store, start, inputs)
        if reused is not None:
            return reused
    bytes_read = 0
    resolved: dict[str, Any] = {}
    read: dict[str, Cached] = {}  # cached inputs whose stored digest is not the lookup's
    for name, value in inputs.items():
        if isinstance(value, Cached):
            resolved[name], manifest = _read_cached(store, value, name)
            bytes_read += manifest.nbytes
            if manifest.content_digest != value.digest:
                read[name] = replace(value, digest=manifest.content_digest)
        elif isinstance(value, File):
            resolved[name] = value.path  # keyed by contents, called with the path
        else:
            resolved[name] = value
    args, kwargs = call_arguments(task.signature, nested.resolve(resolved))
    result = _call(task, args, kwargs)
    values = split_outputs(task, result)
    manifests: list[dict[str, Any]] = []
    if write and task.opts.cache:
        if rkey is not None and read:  # the index's digest was stale: key by what was read
            rkey = _content_key(cutoff, {**inputs, **read}, digests)
        for socket, value in enumerate(values):
            alias = alias_of(rkey, socket) if rkey is not None else None
            manifests.append(store.put(key, socket, value, task=task.name, alias=alias).to_dict())
    outcome = NodeOutcome(
        manifests=manifests,
        seconds=time.perf_counter() - start,
        bytes_written=sum(m["nbytes"] for m in manifests),
        bytes_read=bytes_read,
        worker=WorkerInfo(pid=os.getpid()),
    )
    return values, outcome


def _content_key(cutoff: Cutoff | None, inputs: Mapping[str, Any],
                 digests: Mapping[str, str | None]) -> str | None:
    """The node's content-resolved key, or None when some input's digest is unknown."""
    if cutoff is None:
        return None
    content: dict[str, str] = {}
    for name, value in inputs.items():
        digest = value.digest if isinstance(value, Cached) else digests.get(name, "")
        if digest is None:
            return None  # an input that was not stored (cache=False task)
        if digest:
            content[name] = digest
    return resolved_key(cutoff.recipe, content)


def _reuse(task: Task, key: str, rkey: str, store: Any, start: float,
           inputs: Mapping[str, Any]) -> tuple[list[Any], NodeOutcome] | None:
    """Outputs an earlier run stored for these inputs' content, stored under ``key`` too."""
    found = find_reusable(store, rkey, task)
    if found is None or not _digests_hold(store, inputs):
        return None
    source, values, stored = found
    if source == key:
        manifests = [m.to_dict() for m in stored]
    else:
        manifests = [store.put(key, s, v, task=task.name).to_dict() for s, v in enumerate(values)]
    outcome = NodeOutcome(
        manifests=manifests, seconds=time.perf_counter() - start,
        bytes_written=sum(m["nbytes"] for m in manifests) if source != key else 0,
        bytes_read=sum(m.nbytes for m in stored), reused_from=source,
        worker=WorkerInfo(pid=os.getpid()),
    )
    return values, outcome


def _digests_hold(store: Any, inputs: Mapping[str, Any]) -> bool:
    """Whether each cached input's digest (from the index's lookup, which may be stale:
    a restarted index, a key rewritten since) is still its stored object's."""
    for value in inputs.values():
        if isinstance(value, Cached):
            try:
                if store.manifest(value.key, value.socket).content_digest != value.digest:
                    return False
            except Exception:  # noqa: BLE001 - gone or unreadable: no reuse, compute instead
                return False
    return True


def error_info(err: BaseException) -> ErrorInfo:
    """What the driver reports of an exception raised where the node ran."""
    return ErrorInfo(
        type=type(err).__name__,
        message=str(err),
        traceback=user_traceback(err),
    )


def failure_outcome(err: BaseException, seconds: float) -> NodeOutcome:
    if isinstance(err, StaleInput):
        return NodeOutcome(seconds=seconds, stale=[err.ref])
    return NodeOutcome(seconds=seconds, error=error_info(err))


def split_outputs(task: Task, result: Any) -> list[Any]:
    n = task.num_returns
    if n == 1:
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != n:
        got = f"{type(result).__name__}" + (
            f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        )
        raise TypeError(
            f"task {task.name!r} declares num_returns={n} but returned {got}; "
            f"return a tuple of {n} values"
        )
    return list(result)


def _read_cached(store: Any, ref: Any, name: str) -> tuple[Any, Any]:
    """A cached input, on the kind of device it was returned on (as a live one would
    be: a CUDA tensor comes back on CUDA where this worker has a GPU)."""
    from storage import AS_STORED, CorruptObjectError, NotDecodableHere, ObjectNotFound

    try:
        return store.load(ref.key, ref.socket, device=AS_STORED)
    except (ObjectNotFound, CorruptObjectError) as err:
        raise StaleInput(ref.key, ref.socket, str(err)) from err
    except NotDecodableHere as err:
        raise NotDecodableHere(
            f"cached input {name!r}: {err}. It stays in the store for the machines that can "
            "read it; run with cache='refresh' to recompute it here"
        ) from None


def _call(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = task.fn(*args, **kwargs)
    if not inspect.isawaitable(result):
        return result
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(result))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # inside a running loop
        return pool.submit(asyncio.run, _await(result)).result()


async def _await(awaitable: Any) -> Any:
    return await awaitable
