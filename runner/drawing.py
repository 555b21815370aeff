"""Pictures of a graph coloured by each node's status in the latest recorded run.

``graph_status`` signs the graph and matches it with the newest run record
that mentions its nodes: a node whose current key ran in that run gets that
run's status (cached, executed, failed, skipped); anything else — changed
since, not needed, never run — is "not run". ``to_dot`` writes Graphviz
source (no Graphviz needed), ``render_dot`` calls ``dot`` for SVG/PNG, and
``layered_svg`` draws a simple top-down layered layout without Graphviz.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from typing import Any

from runner.errors import ExecutionError

COLORS = {"cached": "#9ecae1", "executed": "#74c476", "failed": "#fb6a4a",
          "skipped": "#fdae6b", "not run": "#eeeeee"}
INSTALL_HINT = ("Graphviz's `dot` is not installed: apt-get install graphviz "
                "(or brew install graphviz / conda install -c conda-forge graphviz); "
                ".dot and .html output need no Graphviz")


@dataclass(frozen=True, kw_only=True)
class DrawNode:
    id: str
    task: str
    key: str
    status: str
    parents: tuple[str, ...]
    seconds: float = 0.0
    bytes: int = 0
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.task} {self.key[:8]}"


def graph_status(targets: Any, store: Any) -> tuple[list[DrawNode], Any]:
    """(nodes in topological order with their status, the run record used or None)."""
    from runner.prepare import open_store, sign_targets
    from runner.records import RunHistory

    signed = sign_targets(targets)
    graph, order, keys = signed.graph, signed.order, signed.hexkeys
    ids = set(order)
    record = next((r for r in RunHistory(open_store(store)) if ids & r.nodes.keys()), None)
    nodes = []
    for nid in order:
        entry = record.nodes.get(nid) if record else None
        ran = entry is not None and entry["key"] == keys[nid] and entry["status"] in COLORS
        entry = entry if ran else {}
        nodes.append(DrawNode(
            id=nid, task=graph[nid].task.name, key=keys[nid],
            status=entry["status"] if ran else "not run",
            parents=tuple(dict.fromkeys(sorted(p for p, _ in graph[nid].links.values()))),
            seconds=entry.get("seconds", 0.0), bytes=entry.get("bytes", 0),
            error=entry.get("error")))
    return nodes, record


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(nodes: list[DrawNode], title: str = "") -> str:
    """Graphviz source: top-down, one filled box per node, class = its status (for SVG)."""
    lines = ["digraph digestflow {", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [color="#888888"];']
    lines.append(f"  label=<{_legend(title)}>; labelloc=t; fontname=\"Helvetica\";")
    for n in nodes:
        label = f"{n.id}\\n{n.label}".replace('"', "'")
        lines.append(f'  {_q(n.id)} [label="{label}", fillcolor="{COLORS[n.status]}", '
                     f'class="status-{n.status.replace(" ", "-")}", tooltip={_q(n.status)}];')
    for n in nodes:
        lines.extend(f"  {_q(p)} -> {_q(n.id)};" for p in n.parents)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _legend(title: str) -> str:
    """An HTML-like Graphviz label: the title over one coloured cell per status."""
    cells = "".join(f'<td bgcolor="{c}" border="1">&nbsp;{escape(s)}&nbsp;</td>'
                    for s, c in COLORS.items())
    head = f'<tr><td colspan="{len(COLORS)}">{escape(title)}</td></tr>' if title else ""
    return f'<table border="0" cellspacing="4">{head}<tr>{cells}</tr></table>'


def find_dot() -> str | None:
    return shutil.which("dot")


def render_dot(source: str, fmt: str, dot: str | None = None) -> bytes:
    """``dot -T<fmt>`` of ``source``; a clear error naming how to install Graphviz."""
    dot = dot or find_dot()
    if dot is None:
        raise ExecutionError(INSTALL_HINT)
    proc = subprocess.run([dot, f"-T{fmt}"], input=source.encode(), capture_output=True,
                          timeout=120, check=False)
    if proc.returncode != 0:
        raise ExecutionError(f"dot -T{fmt} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


_W, _H, _GAP_X, _GAP_Y, _PAD = 180, 46, 24, 48, 20


def layers(nodes: list[DrawNode]) -> list[list[DrawNode]]:
    """Longest-path layering; within a layer, order by the mean position of parents."""
    depth: dict[str, int] = {}
    for n in nodes:  # topological order: parents first
        depth[n.id] = 1 + max((depth[p] for p in n.parents), default=-1)
    out: list[list[DrawNode]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    pos: dict[str, float] = {}
    for n in nodes:
        out[depth[n.id]].append(n)
    for row in out:
        row.sort(key=lambda n: sum(pos[p] for p in n.parents) / len(n.parents)
                 if n.parents else float("inf"))
        pos.update({n.id: float(i) for i, n in enumerate(row)})
    return out


def layered_svg(nodes: list[DrawNode], title: str = "") -> str:
    """A self-contained SVG of the DAG (no Graphviz): layers top-down, boxes by status."""
    rows = layers(nodes)
    width = max((len(r) for r in rows), default=1) * (_W + _GAP_X) + 2 * _PAD
    top = _PAD + (24 if title else 0)
    xy: dict[str, tuple[float, float]] = {}
    for i, row in enumerate(rows):
        offset = (width - len(row) * (_W + _GAP_X) + _GAP_X) / 2
        for j, n in enumerate(row):
            xy[n.id] = (offset + j * (_W + _GAP_X), top + i * (_H + _GAP_Y))
    height = top + len(rows) * (_H + _GAP_Y) - _GAP_Y + _PAD
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
             'font-family="Helvetica, Arial, sans-serif" font-size="11">']
    if title:
        parts.append(f'<text x="{width / 2:.0f}" y="{_PAD + 8}" text-anchor="middle" '
                     f'font-size="13">{escape(title)}</text>')
    for n in nodes:
        x2, y2 = xy[n.id]
        for p in n.parents:
            x1, y1 = xy[p]
            a, b = (x1 + _W / 2, y1 + _H), (x2 + _W / 2, y2)
            mid = (a[1] + b[1]) / 2
            parts.append(f'<path class="edge" d="M{a[0]:.1f},{a[1]:.1f} C{a[0]:.1f},{mid:.1f} '
                         f'{b[0]:.1f},{mid:.1f} {b[0]:.1f},{b[1]:.1f}" fill="none" '
                         'stroke="#888888" marker-end="url(#arrow)"/>')
    parts.insert(1, '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
                 'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
                 'fill="#888888"/></marker></defs>')
    for n in nodes:
        x, y = xy[n.id]
        cls = n.status.replace(" ", "-")
        parts.append(
            f'<g class="node status-{cls}"><title>{escape(n.id)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{_W}" height="{_H}" rx="6" '
            f'fill="{COLORS[n.status]}" stroke="#555555"/>'
            f'<text x="{x + _W / 2:.1f}" y="{y + 18:.1f}" text-anchor="middle" '
            f'font-weight="bold">{escape(n.id)}</text>'
            f'<text x="{x + _W / 2:.1f}" y="{y + 34:.1f}" text-anchor="middle">'
            f'{escape(n.label)}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
