"""Shared fixtures: one session-scoped local Ray, a per-test store, a run log.

The run log records which tasks really executed, from any process (Ray
workers included): tasks append a label to the file named by
DIGESTFLOW_TEST_RUNLOG, set here before Ray starts so workers inherit it.
"""

from __future__ import annotations

import os
import socket
import tempfile
import urllib.parse
from collections.abc import Iterator
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
    from storage import open_store

    try:
        ray.kill(ray.get_actor(index_name(open_store(uri).uri), namespace=NAMESPACE))
    except ValueError:
        pass  # no run on Ray used this store


S3_BUCKET = "digestflow-test"
S3_USER, S3_PASSWORD = "testing", "testing"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_store_uri() -> Iterator[str]:
    """``s3://`` URI of an empty prefix on a moto S3 server bound to 127.0.0.1."""
    pytest.importorskip("moto.server")
    import boto3
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in ("AWS_EC2_METADATA_DISABLED",)}
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id=S3_USER,
            aws_secret_access_key=S3_PASSWORD,
        ).create_bucket(Bucket=S3_BUCKET)
        yield (
            f"s3://{S3_USER}:{S3_PASSWORD}@{S3_BUCKET}/digestflow"
            f"?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
        )
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def subprefix(uri: str, name: str) -> str:
    """``uri`` with ``/name`` appended to its path (a fresh, isolated store)."""
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(parts._replace(path=f"{parts.path}/{name}"))
