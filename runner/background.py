"""One long-lived event-loop thread for blocking calls made where ``asyncio.run`` cannot be.

``run()`` is synchronous, but it may be called inside a running event loop
(Jupyter, an ``async def``) or from any thread. Such calls run their
coroutine on this module's thread, which lives as long as the process.

Why a *long-lived* thread: Ray starts its embedded cluster's processes with
the Linux parent-death signal (``PR_SET_PDEATHSIG``), which the kernel
delivers when the *thread* that spawned them exits, not the process. A
cluster started from a short-lived helper thread is killed as soon as that
thread returns, and the next call hangs on a dead GCS. Starting Ray from
the main thread or from this thread keeps it alive (``in_background``).

State: one daemon thread per process (recreated after a fork), running one
event loop forever. Policy: calls from different threads share that loop;
a call made on the loop's own thread (a task that calls ``run()``) gets a
fresh loop on a short-lived thread instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["in_background", "is_background_thread", "run_coroutine"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid: int | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """The process's background loop, started on first use (and again after a fork)."""
    global _loop, _thread, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or not _thread or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=serve, name="digestflow-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread, _pid = loop, thread, os.getpid()
        return _loop


def is_background_thread() -> bool:
    return _thread is not None and threading.current_thread() is _thread


def _needs_background() -> bool:
    """True unless this is the main thread with no event loop running."""
    if threading.current_thread() is not threading.main_thread():
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine ``make()`` to completion from synchronous code, wherever called.

    The main thread with no running loop uses ``asyncio.run``; anything else
    (a running loop, another thread) waits on the background loop. Exceptions
    propagate as raised by the coroutine, without chained loop noise.
    """
    if not _needs_background():
        return asyncio.run(make())
    if is_background_thread():  # re-entered from the loop's own thread
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(lambda: asyncio.run(make())).result()
    future = asyncio.run_coroutine_threadsafe(make(), _background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # Ctrl-C in a notebook: stop the run, not just the wait
        raise


def in_background(fn: Callable[[], T]) -> T:
    """Call ``fn`` on a thread that lives as long as the process (or the main thread).

    For starting child processes that must outlive the calling thread (Ray's
    embedded cluster). Blocks until ``fn`` returns; re-raises what it raises.
    """
    if threading.current_thread() is threading.main_thread() or is_background_thread():
        return fn()
    loop = _background_loop()
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def call() -> None:
        try:
            future.set_result(fn())
        except BaseException as err:  # handed to the waiting thread
            future.set_exception(err)

    loop.call_soon_threadsafe(call)
    return future.result()
