"""Processes that die: a writer killed at each point of a put, a driver killed mid-run,
a Ray worker killed under a task. Real processes, real SIGKILL.

Each asserts that nothing half-written is ever read, that what was stored and
valid survives, and that the next run computes exactly what is missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from runner import RunError, run, task
from storage import ObjectNotFound, open_store
from tests.faults.tasks import step
from tests.processes import REPO, kill_when_stalled
from tests.runner.tasks import record, source

KEY = "5a" * 32
VALUE = np.arange(4 << 20, dtype=np.float32)  # 16 MiB: several writes, one data file

_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import storage
    from storage.backends import LocalBackend
    from storage.codecs import base
    root, point, key = sys.argv[1:4]

    def stall(*_args, **_kw):
        print("STALLED", flush=True)
        time.sleep(300)

    if point == "mid-data":
        write = base.HashingWriter.write
        def slow(self, data):
            n = write(self, data)
            if self.nbytes > 1 << 22:
                stall()
            return n
        base.HashingWriter.write = slow
    elif point == "data-complete":  # all bytes in tmp/, not yet renamed into place
        LocalBackend._rename_into_place = staticmethod(stall)
    elif point == "before-manifest":  # data in place, no manifest: no object yet
        write_bytes = LocalBackend.write_bytes
        def slow_manifest(self, path, data, also=None):
            if path.endswith(".manifest.json"):
                stall()
            return write_bytes(self, path, data, also)
        LocalBackend.write_bytes = slow_manifest
    store = storage.open_store(root)
    store.put(key, 0, np.arange(4 << 20, dtype=np.float32))
    if point == "after-put":
        stall()
""")


@pytest.mark.parametrize("point", ["mid-data", "data-complete", "before-manifest", "after-put"])
def test_writer_killed_at_each_point_of_a_put(tmp_path, point):
    root = tmp_path / "store"
    store = open_store(root)
    store.put("11" * 32, 0, [1, 2, 3])  # a valid neighbour that must survive
    kill_when_stalled(_WRITER, root, point, KEY)
    if point == "after-put":
        assert np.array_equal(store.get(KEY, 0), VALUE), "a finished put is whole"
    else:
        with pytest.raises(ObjectNotFound):
            store.get(KEY, 0)
    assert store.verify_all() == [], "a killed writer leaves nothing that reads as broken"
    store.gc(temp_age=0)
    assert not list(store.backend.list_files("tmp")), "gc removed the dead writer's temporary"
    assert store.get("11" * 32, 0) == [1, 2, 3]
    store.put(KEY, 0, VALUE)
    assert np.array_equal(store.get(KEY, 0), VALUE)


_DRIVER = textwrap.dedent("""
    import sys
    from runner import run
    from tests.faults.test_processes import blocking_chain
    run(blocking_chain(sys.argv[2]), store=sys.argv[1], executor="inline")
""")


@task
def wait_for(label: str, x: int, gate: str) -> int:
    """Blocks until ``gate`` exists (a driver is killed while this runs)."""
    import time

    record(label)
    while not os.path.exists(gate):
        time.sleep(0.05)
    return x + 100


def blocking_chain(gate: str):
    return step.bind("last", wait_for.bind("gate", step.bind("second", source.bind("first", 1)),
                                           gate))


def test_driver_killed_mid_run_then_rerun_computes_only_the_rest(tmp_path, runlog):
    root, gate = tmp_path / "store", tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(root), str(gate)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        import time

        deadline = time.monotonic() + 120
        while "gate" not in runlog.labels():  # first and second done, the gate runs
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert sorted(runlog.take()) == ["first", "gate", "second"]
    gate.touch()
    result = run(blocking_chain(str(gate)), store=root, executor="inline")
    assert result.values == 1 + 1 + 100 + 1
    assert sorted(runlog.take()) == ["gate", "last"], "finished work was kept, only the rest ran"
    assert open_store(root).verify_all() == []


@task(max_retries=2)
def crash_once(label: str, x: int, flag: str) -> int:
    """SIGKILLs its own Ray worker the first time it runs (Ray retries it)."""
    record(label)
    if not os.path.exists(flag):
        Path(flag).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 2


@pytest.mark.slow
def test_worker_killed_is_retried_and_the_run_completes(tmp_path, runlog, ray_session):
    from tests.conftest import kill_index_actor

    root = str(tmp_path / "store")
    try:
        result = run(step.bind("after", crash_once.bind("crash", source.bind("src", 4),
                                                         str(tmp_path / "flag"))), store=root)
        assert result.values == 9 and result.failed == []
        assert sorted(runlog.take()) == ["after", "crash", "crash", "src"]
        again = run(step.bind("after", crash_once.bind("crash", source.bind("src", 4),
                                                        str(tmp_path / "flag"))), store=root)
        assert again.executed == [] and runlog.take() == []
    finally:
        kill_index_actor(root)


@pytest.mark.slow
def test_worker_killed_without_retries_fails_clearly_and_is_not_cached(tmp_path, runlog,
                                                                      ray_session):
    from tests.conftest import kill_index_actor

    root, flag = str(tmp_path / "store"), str(tmp_path / "flag")
    no_retry = crash_once.options(max_retries=0)
    try:
        with pytest.raises(RunError, match="crash_once") as info:
            run(step.bind("after", no_retry.bind("crash", source.bind("src", 4), flag)),
                store=root)
        by_status = {r.id: r.status for r in info.value.result.report}
        assert sorted(by_status.values()) == ["executed", "failed", "skipped"]
        runlog.take()
        result = run(step.bind("after", no_retry.bind("crash", source.bind("src", 4), flag)),
                     store=root)
        assert result.values == 9
        assert sorted(runlog.take()) == ["after", "crash"], "the failure was not cached"
    finally:
        kill_index_actor(root)


def _die(*_args, **_kw) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@task(max_retries=2)
def dies_before_report(label: str, x: int, flag: str) -> int:
    """The first time it runs, its Ray worker stores the output and is then SIGKILLed
    where it would report to the driver (the patch lives and dies with that worker)."""
    from cluster import reports

    record(label)
    if not os.path.exists(flag):
        Path(flag).touch()
        reports.send = _die
    return x * 2


def _stored(root: str, key: str) -> int:
    return open_store(root).get(key, 0)


@pytest.mark.slow
def test_worker_killed_after_storing_before_reporting_is_retried_from_the_store(tmp_path, runlog,
                                                                 ray_session):
    from tests.conftest import kill_index_actor

    root, flag = str(tmp_path / "store"), str(tmp_path / "flag")
    try:
        result = run(step.bind("after", dies_before_report.bind("dies", source.bind("src", 4),
                                                                 flag)), store=root)
        assert result.values == 9 and result.failed == []
        assert sorted(runlog.take()) == ["after", "dies", "src"], "the function ran once"
        dies = next(r for r in result.report if r.task == "dies_before_report")
        assert (dies.status, dies.reused_from) == ("reused", dies.key), \
            "Ray's retry served the output the killed worker had stored"
    finally:
        kill_index_actor(root)


@pytest.mark.slow
def test_worker_killed_before_reporting_is_a_failure_and_keeps_what_it_stored(tmp_path, runlog,
                                                                              ray_session):
    from tests.conftest import kill_index_actor

    root, flag = str(tmp_path / "store"), str(tmp_path / "flag")
    dies = dies_before_report.options(max_retries=0)
    try:
        with pytest.raises(RunError, match="dies_before_report") as info:
            run(step.bind("after", dies.bind("dies", source.bind("src", 4), flag)), store=root)
        report = {r.id: r for r in info.value.result.report}
        assert sorted(r.status for r in report.values()) == ["executed", "failed", "skipped"]
        failed = next(r for r in report.values() if r.status == "failed")
        assert failed.task == "dies_before_report", "the error names the node that died"
        assert _stored(root, failed.key) == 8, "the output it stored before dying is kept"
        assert sorted(runlog.take()) == ["dies", "src"]
        result = run(step.bind("after", dies.bind("dies", source.bind("src", 4), flag)),
                     store=root)
        assert result.values == 9
        assert runlog.take() == ["after"], "the stored output is served, not computed again"
    finally:
        kill_index_actor(root)


@task(max_retries=0)
def loses_report(label: str, x: int) -> int:
    """Its worker stores the output, then its report is lost on the way (sent nowhere,
    no error): only this one report, the worker serves later tasks as usual."""
    from cluster import reports

    record(label)
    send = reports.send

    def lost_once(*_args, **_kw) -> None:
        reports.send = send

    reports.send = lost_once
    return x * 3


@pytest.mark.slow
def test_a_lost_report_is_read_from_the_store(tmp_path, runlog, ray_session):
    """The task ended and Ray holds its output, but the driver never heard: the watchdog
    reads its outcome from the store, where the worker put the output before returning
    it, so the run completes with the right value and the next run computes nothing."""
    from tests.conftest import kill_index_actor

    root = str(tmp_path / "store")
    try:
        result = run(step.bind("after", loses_report.bind("lost", source.bind("src", 4))),
                     store=root)
        assert result.values == 13
        assert {r.task: r.status for r in result.report} == {
            "source": "executed", "loses_report": "executed", "step": "executed"}
        assert _stored(root, result.by_id()["loses_report-1"].key) == 12
        assert runlog.take() == ["after", "lost", "src"]
        again = run(step.bind("after", loses_report.bind("lost", source.bind("src", 4))),
                    store=root)
        assert again.values == 13 and runlog.take() == [], "everything is served from the store"
    finally:
        kill_index_actor(root)


@pytest.mark.slow
def test_workers_that_cannot_reach_the_driver_still_finish_the_run(
        tmp_path, runlog, ray_session, monkeypatch, caplog):
    """A firewall between the workers and the driver's report port: every report is
    refused, yet each outcome is read from the store, failures keep their own error,
    the driver warns once, and the next run computes only the failed node."""
    import logging
    import socket

    from cluster import tracking
    from tests.conftest import kill_index_actor
    from tests.runner.tasks import boom, combine, split

    class Unreachable(tracking.ReportServer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            with socket.socket() as closed:  # a port nobody listens on: refused
                closed.bind((self.reply[0], 0))
                port = closed.getsockname()[1]
            self.reply = (self.reply[0], port, self.token)

    monkeypatch.setattr(tracking, "ReportServer", Unreachable)
    root = str(tmp_path / "store")

    def graph():
        src = source.bind("src", 4)
        return [combine.bind("sum", *split.bind("split", src)), boom.bind("boom", src)]

    try:
        with caplog.at_level(logging.WARNING, logger="digestflow"):
            result = run(graph(), store=root, raise_on_error=False)
        assert result.values[0] == 8  # (4 + 1) + (4 - 1)
        status = {r.task: r.status for r in result.report}
        assert status == {"source": "executed", "split": "executed", "combine": "executed",
                          "boom": "failed"}, status
        assert "boom in boom with x=4" in result.by_id()["boom-1"].error
        assert caplog.text.count("did not reach this driver") == 1
        assert runlog.take() == ["boom", "split", "src", "sum"]
        again = run(graph(), store=root, raise_on_error=False)
        assert again.values[0] == 8 and runlog.take() == ["boom"], "failures are never cached"
    finally:
        kill_index_actor(root)
