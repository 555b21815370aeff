"""ray-cluster.yaml is a valid launcher config, checked offline with Ray's own code.

``ray up`` has no dry run, so a typo would only show on a real cloud. Here the
config goes through ``prepare_config`` (defaults, node-type bounds) and
``validate_config`` (``ray/autoscaler/ray-schema.json``), and mutated copies
prove the check can fail.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

CONFIG = Path(__file__).resolve().parents[2] / "ray-cluster.yaml"


def _load() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def _validate(config: dict[str, Any]) -> dict[str, Any]:
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def _gpu_type(config: dict[str, Any]) -> str:
    return next(n for n, t in config["available_node_types"].items()
                if t["resources"].get("GPU", 0) >= 1)


def test_config_passes_rays_schema() -> None:
    prepared = _validate(_load())
    assert prepared["cluster_name"] == "digestflow"


def test_head_is_cpu_and_gpu_workers_autoscale_from_zero() -> None:
    config = _load()
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu = types[_gpu_type(config)]
    assert gpu["resources"]["GPU"] == 1
    assert gpu["min_workers"] == 0 < gpu["max_workers"] <= config["max_workers"]


def test_start_commands_carry_auth_store_and_local_dashboard() -> None:
    config = _load()
    head = " ".join(config["head_start_ray_commands"])
    worker = " ".join(config["worker_start_ray_commands"])
    for cmd in (head, worker):
        assert "RAY_AUTH_MODE=token" in cmd
        assert "DIGESTFLOW_STORE='s3://" in cmd
        assert "DIGESTFLOW_AUTOSCALING=1" in cmd
        assert "DIGESTFLOW_SECRET_FILE=$HOME/.config/digestflow/digestflow.keys" in cmd
    assert "--dashboard-host=127.0.0.1" in head
    assert any("pip install" in c and "digestflow" in c for c in config["setup_commands"])
    assert "~/.ray/auth_token" in config["file_mounts"]
    keys = "~/.config/digestflow/digestflow.keys"
    assert config["file_mounts"][keys] == keys  # from the laptop's disk, not the checkout
    assert any(f"chmod 600 ~/.ray/auth_token {keys}" in c for c in config["setup_commands"])
    assert {"*.env", "*.key", "*.keys"} <= set(config["rsync_exclude"])
    assert "DIGESTFLOW_SECRET=" not in yaml.safe_dump(config)  # the key itself, never


@pytest.mark.parametrize("mutate", [
    pytest.param(lambda c: c.__setitem__("max_worker", c.pop("max_workers")), id="top-level-typo"),
    pytest.param(lambda c: c["available_node_types"][_gpu_type(c)].__setitem__(
        "min_worker", 0), id="node-type-typo"),
    pytest.param(lambda c: c["available_node_types"][_gpu_type(c)]["resources"].__setitem__(
        "GPU", 0.5), id="fractional-gpu"),
    pytest.param(lambda c: c["available_node_types"][_gpu_type(c)]["resources"].__setitem__(
        "GPU", -1), id="negative-gpu"),
    pytest.param(lambda c: c["available_node_types"][_gpu_type(c)].pop("node_config"),
                 id="missing-node-config"),
])
def test_broken_copies_fail(mutate: Any) -> None:
    config = _load()
    mutate(config)
    with pytest.raises(jsonschema.ValidationError):
        _validate(config)
