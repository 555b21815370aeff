"""Shared fixtures: one session-scoped local Ray, a per-test store, a run log.

The run log records which tasks really executed, from any process (Ray
workers included): tasks append a label to the file named by
DIGESTFLOW_TEST_RUNLOG, set here before Ray starts so workers inherit it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_RUNLOG_DIR = tempfile.mkdtemp(prefix="digestflow-runlog-")
os.environ.setdefault("DIGESTFLOW_TEST_RUNLOG", os.path.join(_RUNLOG_DIR, "runlog.txt"))
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole run: 2 CPUs and a fake GPU (Ray only counts)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=1,
        object_store_memory=400 * 1024 * 1024,
        include_dashboard=False,
        runtime_env={"env_vars": {"DIGESTFLOW_TEST_RUNLOG": os.environ["DIGESTFLOW_TEST_RUNLOG"]}},
    )
    yield ray
    ray.shutdown()


class RunLog:
    """Which task labels ran since the last ``clear`` (in order of completion)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def clear(self) -> None:
        self.path.write_text("")

    def labels(self) -> list[str]:
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text().splitlines() if line]

    def take(self) -> list[str]:
        """Labels since the last take, sorted; the log is cleared."""
        out = sorted(self.labels())
        self.clear()
        return out


@pytest.fixture
def runlog() -> RunLog:
    log = RunLog(Path(os.environ["DIGESTFLOW_TEST_RUNLOG"]))
    log.clear()
    return log


@pytest.fixture
def store_uri(tmp_path: Path):
    """A fresh local store; its index actor (if a run made one) is killed afterwards,
    so a long test session does not collect one idle actor process per test."""
    uri = str(tmp_path / "store")
    yield uri
    kill_index_actor(uri)


def kill_index_actor(uri: str) -> None:
    try:
        import ray
    except ImportError:
        return
    if not ray.is_initialized():
        return
    from cluster.index import NAMESPACE, index_name

    try:
        ray.kill(ray.get_actor(index_name(uri), namespace=NAMESPACE))
    except ValueError:
        pass  # no run on Ray used this store
