"""What a user sees when a task fails: one clean error, tracebacks that start at
their code, no chained event-loop noise, no duplicate from Ray's logger."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import traceback

import pytest

from runner import RunError, run, run_async
from tests.runner.tasks import boom, combine, source

TASKS_FILE = "tests/runner/tasks.py"


def _failing():
    return combine.bind("after", boom.bind("boom", source.bind("a", 1)))


def _raised(call) -> RunError:
    with pytest.raises(RunError) as info:
        call()
    return info.value


def _check(err: RunError) -> None:
    shown = "".join(traceback.format_exception(err))
    assert "no running event loop" not in shown
    assert "During handling of the above exception" not in shown
    assert shown.count('raise ValueError(f"boom in') == 1, shown  # the node's traceback, once
    rep = err.result.by_id()["boom-1"]
    frames = [ln for ln in rep.traceback.splitlines() if ln.strip().startswith("File ")]
    assert TASKS_FILE in frames[0], f"traceback starts in digestflow's frames: {frames}"
    assert not any("/runner/work.py" in f or "/cluster/worker.py" in f for f in frames)
    # above the message, only the caller's frames and run() itself
    outer = traceback.extract_tb(err.__traceback__)
    last_mine = max(i for i, f in enumerate(outer) if f.filename == __file__)
    assert [f.name for f in outer[last_mine + 1:]] == ["run"], outer


def test_script_call_error_is_clean(store_uri):
    _check(_raised(lambda: run(_failing(), store=store_uri, executor="inline")))


def test_error_inside_a_running_loop_is_clean(store_uri):
    async def main():
        return run(_failing(), store=store_uri, executor="inline")

    _check(_raised(lambda: asyncio.run(main())))


def test_error_from_a_thread_is_clean(store_uri):
    box: dict = {}

    def work():
        try:
            run(_failing(), store=store_uri, executor="inline")
        except RunError as err:
            box["err"] = err

    t = threading.Thread(target=work)
    t.start()
    t.join()
    _check(box["err"])


def test_await_run_async_raises_the_run_error(store_uri):
    err = _raised(lambda: asyncio.run(run_async(_failing(), store=store_uri,
                                                executor="inline")))
    assert err.result.status("combine-1") == "skipped"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_ray_does_not_log_failures_digestflow_reports(ray_session, store_uri):
    ray_log = logging.getLogger("ray._private.worker")
    seen = _Collect()
    ray_log.addHandler(seen)
    try:
        err = _raised(lambda: run(_failing(), store=store_uri))
        assert err.result.failed == ["boom-1"]
        del err
        deadline = time.time() + 5
        while time.time() < deadline:  # Ray logs unfetched errors as their refs are freed
            gc.collect()
            time.sleep(0.2)
        assert not [m for m in seen.messages if m.startswith("Unhandled error")], seen.messages

        # Ray's own handler, as its core worker calls it for an unfetched error object:
        # a digestflow node failure is dropped, any other error still logged
        from ray._private.worker import _unhandled_error_handler

        seen.messages.clear()
        _unhandled_error_handler(RuntimeError(
            "ray::boom() (pid=1)\ncluster.worker.NodeFailed: node 'boom-1': ValueError: x"))
        assert seen.messages == []
        _unhandled_error_handler(KeyError("not a digestflow node"))
        assert len(seen.messages) == 1 and "not a digestflow node" in seen.messages[0]
    finally:
        ray_log.removeHandler(seen)
