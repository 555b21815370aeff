"""Load run targets for the CLI: ``FILE.py[:TARGET]`` or a JSON graph."""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from runner.errors import ValidationError
from runner.graph import Graph


def add_target_arguments(p: argparse.ArgumentParser) -> None:
    """The ``TARGET`` and ``--registry`` arguments every pipeline command takes."""
    p.add_argument("target", help="FILE.py[:TARGET] or GRAPH.json")
    p.add_argument("--registry", help="module mapping class_type -> task (JSON graphs)")


def load_targets(spec: str, registry: str | None = None) -> Any:
    """Targets named by ``spec``: a module-level object of a pipeline file
    (``TARGETS`` by default), or a JSON graph / ComfyUI prompt with a registry."""
    path_part, _, attr = spec.partition(":")
    if ":" in spec and len(path_part) == 1:  # a Windows drive letter, not a target
        path_part, attr = spec, ""
    path = Path(path_part)
    if path.suffix == ".json":
        return _load_json(path, registry)
    if not path.exists():
        raise ValidationError(f"no such pipeline file: {path}")
    sys.path.insert(0, str(path.resolve().parent))
    namespace = runpy.run_path(str(path), run_name="__digestflow__")
    name = attr or "TARGETS"
    if name not in namespace:
        found = sorted(k for k, v in namespace.items() if _looks_like_target(v))
        raise ValidationError(
            f"{path} defines no {name!r}; name the target as {path}:NAME "
            f"(candidates: {', '.join(found) or 'none'})"
        )
    return namespace[name]


def _load_json(path: Path, registry: str | None) -> Any:
    if not registry:
        raise ValidationError(
            f"{path} is a JSON graph: pass --registry MODULE naming the module whose "
            "tasks its class_type values refer to"
        )
    data = json.loads(path.read_text())
    sys.path.insert(0, str(Path.cwd()))
    module = import_module(registry)
    if isinstance(data, dict) and data.get("format", "").startswith("digestflow.graph/"):
        return Graph.from_dict(data, module)
    return Graph.from_prompt(data, module)


def _looks_like_target(value: Any) -> bool:
    from runner.node import Node, Output

    if isinstance(value, (Node, Output, Graph)):
        return True
    return isinstance(value, (list, tuple, dict)) and bool(value) and all(
        isinstance(v, (Node, Output)) for v in (value.values() if isinstance(value, dict)
                                                  else value)
    )
