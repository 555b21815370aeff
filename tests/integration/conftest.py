"""Fixtures for the integration tests: one real Ray head on loopback, shared.

The head is started once for the integration tests that need it and stopped
by killing its own process session; the test fails if any of its processes
outlive that.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.raycluster import RayHead, session_processes


@pytest.fixture(scope="session")
def head() -> Iterator[RayHead]:
    pytest.importorskip("ray.job_submission")
    node = RayHead(num_cpus=2).start()
    sid = node.proc.pid if node.proc else 0
    try:
        yield node
    finally:
        node.stop()
        assert not session_processes(sid), "Ray processes of the test head leaked"
