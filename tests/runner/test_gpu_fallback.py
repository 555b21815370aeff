"""Feasibility checks before dispatch, without a cluster."""

from __future__ import annotations

import pytest

from cluster.executor import check_feasible
from runner import ExecutionError, task
from runner.errors import DigestflowWarning


@task(num_gpus=1)
def on_gpu(x: int) -> int:
    return x


def test_gpu_task_runs_on_cpu_in_embedded_cluster_without_gpu(monkeypatch):
    import cluster.executor as ex

    monkeypatch.setattr(ex, "_GPU_WARNED", False)
    with pytest.warns(DigestflowWarning, match="on_gpu.*this machine has none.*run on the CPU"):
        overrides = check_feasible(on_gpu, {"CPU": 2.0}, embedded=True)
    assert overrides == {"num_gpus": 0}


def test_gpu_task_on_a_real_cluster_without_gpu_fails_listing_resources(monkeypatch):
    monkeypatch.delenv("DIGESTFLOW_AUTOSCALING", raising=False)
    with pytest.raises(ExecutionError, match=r"needs GPU=1 but the whole cluster has CPU=8, "
                                             r"memory=1000"):
        check_feasible(on_gpu, {"CPU": 8.0, "memory": 1000.0}, embedded=False)


def test_autoscaling_cluster_may_add_gpus_later(monkeypatch):
    monkeypatch.setenv("DIGESTFLOW_AUTOSCALING", "1")
    assert check_feasible(on_gpu, {"CPU": 8.0}, embedded=False) == {}
