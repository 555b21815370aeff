"""Pictures of a graph: what the last run did to each node and what the next will do.

``graph_status`` signs the graph and matches it with the newest run record
that mentions its nodes: a node whose current key ran in that run gets that
run's status (cached, executed, failed, skipped); a key the store holds from
an earlier run is "cached"; anything else is "not run". Each node also says
what the next run does with it (will run, cached, not needed), from the same
plan ``run`` would make. ``to_dot`` writes Graphviz source (no Graphviz
needed), ``render_dot`` calls ``dot`` for SVG/PNG, and ``layered_svg`` draws
the built-in layered layout (``runner.layout``) without Graphviz.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from typing import Any

from runner.errors import ExecutionError

COLORS = {"cached": "#9ecae1", "executed": "#74c476", "reused": "#c7e9c0", "failed": "#fb6a4a",
          "skipped": "#fdae6b", "not run": "#eeeeee"}
INSTALL_HINT = ("Graphviz's `dot` is not installed: apt-get install graphviz "
                "(or brew install graphviz / conda install -c conda-forge graphviz); "
                ".dot and .html output need no Graphviz")


NEXT = {"will run": "dashed red border", "cached": "solid border",
        "not needed": "solid border"}


@dataclass(frozen=True, kw_only=True)
class DrawNode:
    id: str
    task: str
    key: str
    status: str  # the last run's status for this key, "cached" if stored, else "not run"
    inputs: tuple[tuple[str, int, str], ...] = ()  # (parent id, socket, input name)
    next: str = "will run"  # what the next run does: "will run", "cached", "not needed"
    num_returns: int = 1
    literals: tuple[tuple[str, str], ...] = ()  # (input name, short repr)
    seconds: float = 0.0
    bytes: int = 0
    error: str | None = None

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(sorted(p for p, _, _ in self.inputs)))

    @property
    def label(self) -> str:
        return f"{self.task} {self.key[:8]}"

    @property
    def hover(self) -> str:
        """What a pointer over the node shows: status, next run, literal inputs."""
        lines = [f"{self.id} ({self.task}) key {self.key[:16]}",
                 f"last run: {self.status}; next run: {self.next}"]
        lines += [f"{name} = {value}" for name, value in self.literals]
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def graph_status(targets: Any, store: Any) -> tuple[list[DrawNode], Any]:
    """(nodes in topological order with their status, the run record used or None).

    A node's status is its key's status in the newest run record that mentions
    the graph; a key that record did not run but the store holds is "cached"
    (the next run serves it from there); anything else is "not run".
    """
    from keys._unencodable import short_repr
    from runner.plan import make_plan, needed_refs, stored
    from runner.prepare import open_store, sign_targets
    from runner.records import RunHistory

    signed = sign_targets(targets)
    graph, order, keys = signed.graph, signed.order, signed.hexkeys
    store_obj = open_store(store)
    ids = set(order)
    record = next((r for r in RunHistory(store_obj) if ids & r.nodes.keys()), None)
    found = store_obj.manifests_many(needed_refs(graph, order, keys))
    plan = make_plan(graph, order, keys, [t[0] for t in signed.targets], found, cache="use")
    nodes = []
    for nid in order:
        node, key = graph[nid], keys[nid]
        entry = record.nodes.get(nid) if record else None
        ran = entry is not None and entry["key"] == key and entry["status"] in COLORS
        entry = entry if ran else {}
        held = stored(graph, nid, key, found)
        nodes.append(DrawNode(
            id=nid, task=node.task.name, key=key,
            status=entry["status"] if ran else "cached" if held else "not run",
            inputs=tuple((p, s, name) for name, (p, s) in node.links.items()),
            next="will run" if plan.canon[nid] in plan.run_set
            else "cached" if held else "not needed",
            num_returns=node.task.num_returns,
            literals=tuple((k, short_repr(v)) for k, v in node.literals.items()),
            seconds=entry.get("seconds", 0.0), bytes=entry.get("bytes", 0),
            error=entry.get("error")))
    return nodes, record


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(nodes: list[DrawNode], title: str = "") -> str:
    """Graphviz source: top-down, one filled box per node, class = its status (for SVG).

    A node the next run executes has a dashed red border; an edge from a
    multi-output node is labelled with its socket; hovering a node shows its
    literal inputs."""
    lines = ["digraph digestflow {", "  rankdir=TB;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
             '  edge [color="#666666", fontname="Helvetica", fontsize=9];']
    lines.append(f"  label=<{_legend(title)}>; labelloc=t; fontname=\"Helvetica\";")
    for n in nodes:
        label = f"{n.id}\\n{n.label}\\nnext: {n.next}".replace('"', "'")
        style = (', style="rounded,filled,dashed", color="#b2182b", penwidth=2.5'
                 if n.next == "will run" else "")
        lines.append(f'  {_q(n.id)} [label="{label}", fillcolor="{COLORS[n.status]}", '
                     f'class="status-{n.status.replace(" ", "-")}", tooltip={_q(n.hover)}'
                     f'{style}];')
    multi = {n.id for n in nodes if n.num_returns > 1}
    for n in nodes:
        for p in n.parents:
            sockets = sorted({s for q, s, _ in n.inputs if q == p})
            attrs = (f' [taillabel="{",".join(map(str, sockets))}"]' if p in multi else "")
            lines.append(f"  {_q(p)} -> {_q(n.id)}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _legend(title: str) -> str:
    """An HTML-like Graphviz label: the title over one coloured cell per status."""
    cells = "".join(f'<td bgcolor="{c}" border="1">&nbsp;{escape(s)}&nbsp;</td>'
                    for s, c in COLORS.items())
    cells += '<td border="1" color="#b2182b">&nbsp;dashed: runs next&nbsp;</td>'

    head = f'<tr><td colspan="{len(COLORS) + 1}">{escape(title)}</td></tr>' if title else ""
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


def layers(nodes: list[DrawNode]) -> list[list[DrawNode]]:
    """The built-in layout's layers (longest path), each in drawing order."""
    from runner.layout import place

    placed = place(nodes)
    rows: list[list[DrawNode]] = [[] for _ in range(max(placed.depth.values(), default=-1) + 1)]
    for n in sorted(nodes, key=lambda n: placed.boxes[n.id][0]):
        rows[placed.depth[n.id]].append(n)
    return rows


def layered_svg(nodes: list[DrawNode], title: str = "") -> str:
    """A self-contained SVG of the DAG without Graphviz (``runner.layout``)."""
    from runner.layout import layered_svg as draw

    return draw(nodes, COLORS, title)
