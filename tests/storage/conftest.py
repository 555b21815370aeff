"""Fixtures for the storage tests: a ``store`` fixture parametrised over every backend
(a local directory; S3 on the shared moto server from tests/conftest.py), so one suite
runs on all of them."""

from __future__ import annotations

import os
import uuid

import pytest

from storage import Store, open_store
from tests.conftest import subprefix


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIGESTFLOW_SECRET", "DIGESTFLOW_SECRET_FILE", "DIGESTFLOW_SECRET_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
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
