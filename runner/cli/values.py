"""The values a run computed, one per target, as the CLI prints them (``runner.peek``).

Targets are labelled by node id (``mask-1``, ``split-1[0]`` for one socket of
a multi-output node), or by their key when the pipeline names its targets in
a dict. A target that failed or was skipped has no value to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.peek import NOT_JSON, as_json, describe


@dataclass(frozen=True, kw_only=True)
class Shown:
    label: str
    node: str
    status: str
    value: Any

    @property
    def computed(self) -> bool:
        return self.status in ("executed", "cached")

    def text(self) -> str:
        if not self.computed:
            return f"{self.label}: not computed ({self.status})"
        body = describe(self.value)
        if "\n" in body:
            return f"{self.label} =\n" + "\n".join("  " + ln for ln in body.splitlines())
        return f"{self.label} = {body}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.label, "node": self.node, "status": self.status}
        if self.computed:
            value = as_json(self.value)
            if value is NOT_JSON:
                out["summary"] = describe(self.value)
            else:
                out["value"] = value
        return out


def shown_values(targets: Any, result: Any) -> list[Shown]:
    """One ``Shown`` per flat target of ``result``, in the order the run flattened them."""
    graph = result.graph
    flat = result.targets
    paths: list[tuple[Any, ...]] = []
    _paths(targets, graph, (), paths)
    status = {r.id: r.status for r in result.report}
    out = []
    for (nid, socket), path in zip(flat, paths, strict=True):
        value = result.values
        for step in path:
            value = value[step]
        key = next((p for p in reversed(path) if isinstance(p, str)), None)
        label = nid if key is None or key == nid else f"{key} ({nid})"
        if socket is not None and graph[nid].task.num_returns > 1:
            label += f"[{socket}]"
        out.append(Shown(label=label, node=nid, status=status.get(nid, "?"), value=value))
    return out


def _paths(item: Any, graph: Any, path: tuple[Any, ...], out: list[tuple[Any, ...]]) -> None:
    """Where each flat target's value sits in ``Result.values`` (mirrors runner.targets)."""
    from runner.graph import Graph, Selection
    from runner.node import Node, Output

    if isinstance(item, (Node, Output, Selection)):
        out.append(path)
    elif isinstance(item, Graph):
        out.extend(path + (nid,) for nid in graph.sinks())
    elif isinstance(item, Mapping):
        for k, v in item.items():
            _paths(v, graph, path + (k,), out)
    else:
        for i, v in enumerate(item):
            _paths(v, graph, path + (i,), out)


def print_values(shown: list[Shown]) -> None:
    if not shown:
        return
    print("\nvalues:" if len(shown) > 1 else "\nvalue:")
    for item in shown:
        print("  " + item.text().replace("\n", "\n  "), flush=True)
