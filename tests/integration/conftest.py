"""Fixtures for the integration tests: one real Ray head on loopback, shared.

The head is started once for the integration tests that need it and stopped
by killing its own process session; the test fails if any of its processes
outlive that. Like a cluster set up by ray-cluster.yaml, its node has its own
pickle key file: jobs never carry the key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.raycluster import RayHead, session_processes


@pytest.fixture(scope="session")
def head() -> Iterator[RayHead]:
    pytest.importorskip("ray.job_submission")
    node = RayHead(num_cpus=2, pickle_key="node-pickle-key-" + os.urandom(16).hex()).start()
    sid = node.proc.pid if node.proc else 0
    try:
        yield node
    finally:
        node.stop()
        assert not session_processes(sid), "Ray processes of the test head leaked"
