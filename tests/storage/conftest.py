"""Fixtures for the storage tests: a real S3-protocol server on loopback (moto) and a
``store`` fixture parametrised over every backend, so one suite runs on all of them."""

from __future__ import annotations

import os
import socket
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest

from storage import Store, open_store

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


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGESTFLOW_SECRET", raising=False)
    monkeypatch.delenv("DIGESTFLOW_STORE", raising=False)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Store:
    """An empty store on each backend. The S3 one gets an explicit pickle secret
    (a remote store has no key file); the local one creates ``secret.key``."""
    if request.param == "local":
        return open_store(tmp_path / "store")
    uri = request.getfixturevalue("s3_store_uri")
    return open_store(subprefix(uri, uuid.uuid4().hex), secret="conformance-secret-0123456789")


@pytest.fixture
def local_store(tmp_path: os.PathLike[str]) -> Store:
    return open_store(tmp_path / "store")
