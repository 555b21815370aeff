"""The built-in layered layout (used when Graphviz is missing) and its SVG.

Layers by longest path; an edge that spans several layers is routed through
one thin *waypoint* per layer it crosses, which takes its own slot in that
layer's order, so it passes between boxes, never behind one. Between two
layers an edge is a cubic curve whose control points stay in the gap
between the layers, so it cannot enter a box either. Within a layer, items
are ordered by the mean position of their parents (one down sweep).

Each box has one port per output socket on its bottom edge (labelled with
the socket number when there are several) and one port per incoming edge on
its top edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

__all__ = ["Placed", "place", "layered_svg"]

W, H, GAP_X, GAP_Y, PAD, WAY = 180, 50, 28, 56, 20, 10


@dataclass(kw_only=True)
class Placed:
    """Positions: box top-left per node id; waypoint centre x per (edge, layer)."""

    boxes: dict[str, tuple[float, float]] = field(default_factory=dict)
    ways: dict[tuple[int, int], float] = field(default_factory=dict)
    edges: list[tuple[str, str, int, str]] = field(default_factory=list)  # from, to, socket, input
    depth: dict[str, int] = field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0
    top: float = 0.0

    def layer_y(self, layer: int) -> float:
        return self.top + layer * (H + GAP_Y)


def place(nodes: list[Any], *, title: bool = False) -> Placed:
    """Lay out ``nodes`` (topological, each with ``id`` and ``inputs``)."""
    out = Placed(top=PAD + (24 if title else 0))
    for n in nodes:
        out.depth[n.id] = 1 + max((out.depth[p] for p, _, _ in n.inputs), default=-1)
        out.edges.extend((p, n.id, s, name) for p, s, name in n.inputs)
    rows: list[list[Any]] = [[] for _ in range(max(out.depth.values(), default=-1) + 1)]
    for n in nodes:
        rows[out.depth[n.id]].append(n.id)
    for i, (src, dst, _, _) in enumerate(out.edges):
        for layer in range(out.depth[src] + 1, out.depth[dst]):
            rows[layer].append((i, layer))  # a waypoint of edge i
    _order(rows, out)
    widths = [sum(W if isinstance(item, str) else WAY for item in row)
              + GAP_X * max(len(row) - 1, 0) for row in rows]
    out.width = max(widths, default=W) + 2 * PAD
    for layer, row in enumerate(rows):
        x = (out.width - widths[layer]) / 2
        for item in row:
            if isinstance(item, str):
                out.boxes[item] = (x, out.layer_y(layer))
                x += W + GAP_X
            else:
                out.ways[item] = x + WAY / 2
                x += WAY + GAP_X
    out.height = out.layer_y(len(rows)) - GAP_Y + PAD
    return out


def _order(rows: list[list[Any]], out: Placed) -> None:
    """Sort each layer by the mean slot of what feeds it in the layer above."""
    feeds: dict[Any, list[Any]] = {}
    for i, (src, dst, _, _) in enumerate(out.edges):
        chain = [src] + [(i, layer) for layer in range(out.depth[src] + 1, out.depth[dst])]
        for a, b in zip(chain, chain[1:] + [dst], strict=True):
            feeds.setdefault(b, []).append(a)
    pos: dict[Any, float] = {}
    for row in rows:
        row.sort(key=lambda item: _mean([pos[a] for a in feeds.get(item, []) if a in pos]))
        pos.update({item: float(j) for j, item in enumerate(row)})


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("inf")


def edge_points(out: Placed, edge: int, nodes: dict[str, Any]) -> list[tuple[float, float]]:
    """Start port, waypoints (top and bottom of each crossed layer), end port."""
    src, dst, socket, _ = out.edges[edge]
    sx, sy = out.boxes[src]
    n_out = nodes[src].num_returns
    start = (sx + W * (socket + 1) / (n_out + 1), sy + H)
    incoming = sorted((i for i, e in enumerate(out.edges) if e[1] == dst),
                      key=lambda i: _source_x(out, i))
    dx, dy = out.boxes[dst]
    end = (dx + W * (incoming.index(edge) + 1) / (len(incoming) + 1), dy)
    points = [start]
    for layer in range(out.depth[src] + 1, out.depth[dst]):
        x, y = out.ways[(edge, layer)], out.layer_y(layer)
        points += [(x, y), (x, y + H)]
    return points + [end]


def _source_x(out: Placed, edge: int) -> float:
    src, dst, _, _ = out.edges[edge]
    last = out.depth[dst] - 1
    if last > out.depth[src]:
        return out.ways[(edge, last)]
    return out.boxes[src][0]


def edge_path(points: list[tuple[float, float]]) -> str:
    """Curves between layers (control points inside the gap), straight lines through
    a layer's band at a waypoint."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{x0:.1f},{y0:.1f}"]
    for k, (x1, y1) in enumerate(rest):
        if k % 2 == 0:  # a gap between layers
            mid = (y0 + y1) / 2
            parts.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
        else:  # straight down through a layer, between its boxes
            parts.append(f"L{x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(parts)


def layered_svg(nodes: list[Any], colors: dict[str, str], title: str = "") -> str:
    """A self-contained SVG of the DAG: layers top-down, boxes by status."""
    out = place(nodes, title=bool(title))
    by_id = {n.id: n for n in nodes}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{out.width:.0f}" '
             f'height="{out.height:.0f}" viewBox="0 0 {out.width:.0f} {out.height:.0f}" '
             'font-family="Helvetica, Arial, sans-serif" font-size="11">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#666666"/></marker></defs>']
    if title:
        parts.append(f'<text x="{out.width / 2:.0f}" y="{PAD + 8}" text-anchor="middle" '
                     f'font-size="13">{escape(title)}</text>')
    for i, (src, dst, socket, name) in enumerate(out.edges):
        points = edge_points(out, i, by_id)
        parts.append(f'<path class="edge" data-from="{escape(src)}" data-to="{escape(dst)}" '
                     f'd="{edge_path(points)}" fill="none" stroke="#666666" '
                     f'stroke-width="1.3" marker-end="url(#arrow)"><title>'
                     f'{escape(_edge_label(src, socket, by_id))} → {escape(name)} of '
                     f'{escape(dst)}</title></path>')
        if by_id[src].num_returns > 1:
            x, y = points[0]
            parts.append(f'<text class="socket" x="{x + 3:.1f}" y="{y + 11:.1f}" '
                         f'font-size="10" fill="#333333">{socket}</text>')
    parts += [_box(n, out.boxes[n.id], colors) for n in nodes]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _edge_label(src: str, socket: int, nodes: dict[str, Any]) -> str:
    return f"{src}[{socket}]" if nodes[src].num_returns > 1 else src


def _box(n: Any, xy: tuple[float, float], colors: dict[str, str]) -> str:
    x, y = xy
    cls = n.status.replace(" ", "-")
    border = 'stroke="#b2182b" stroke-width="2.5" stroke-dasharray="6,3"' \
        if n.next == "will run" else 'stroke="#555555" stroke-width="1"'
    return (f'<g class="node status-{cls} next-{n.next.replace(" ", "-")}" '
            f'data-id="{escape(n.id)}"><title>{escape(n.id)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{W}" height="{H}" rx="6" '
            f'fill="{colors[n.status]}" {border}><title>{escape(n.hover)}</title></rect>'
            f'<text x="{x + W / 2:.1f}" y="{y + 17:.1f}" text-anchor="middle" '
            f'font-weight="bold">{escape(n.id)}</text>'
            f'<text x="{x + W / 2:.1f}" y="{y + 31:.1f}" text-anchor="middle">'
            f'{escape(n.label)}</text>'
            f'<text x="{x + W / 2:.1f}" y="{y + 44:.1f}" text-anchor="middle" font-size="9" '
            f'fill="#333333">next: {escape(n.next)}</text></g>')
