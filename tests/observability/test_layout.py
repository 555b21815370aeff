"""The built-in layout's SVG geometry: no edge passes through a node box.

Edges are sampled along their actual SVG path (cubic curves and lines, as
a browser draws them) and every sample is checked against every box.
"""

from __future__ import annotations

import random
import re

import pytest

from runner.drawing import DrawNode, layered_svg

Box = tuple[float, float, float, float]


def _node(nid: str, inputs=(), returns: int = 1) -> DrawNode:
    return DrawNode(id=nid, task=nid.split("-")[0], key="ab" * 32, status="executed",
                    inputs=tuple(inputs), next="cached", num_returns=returns,
                    literals=(("threshold", "0.5"),))


def _boxes(svg: str) -> dict[str, Box]:
    out = {}
    for m in re.finditer(r'<g class="node[^"]*" data-id="([^"]+)">.*?<rect x="([\d.]+)" '
                         r'y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg, re.S):
        x, y, w, h = map(float, m.groups()[1:])
        out[m.group(1)] = (x, y, x + w, y + h)
    return out


def _edges(svg: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<path class="edge" data-from="([^"]+)" data-to="([^"]+)" d="([^"]+)"',
                      svg)


def _samples(d: str, steps: int = 60) -> list[tuple[float, float]]:
    """Points along an SVG path of M, C and L commands."""
    tokens = re.findall(r"[MCL]|-?[\d.]+", d)
    points: list[tuple[float, float]] = []
    pos = (0.0, 0.0)
    i = 0
    while i < len(tokens):
        cmd = tokens[i]
        nums = []
        i += 1
        while i < len(tokens) and tokens[i] not in "MCL":
            nums.append(float(tokens[i]))
            i += 1
        pts = list(zip(nums[::2], nums[1::2], strict=True))
        if cmd == "M":
            pos = pts[0]
            points.append(pos)
        elif cmd == "L":
            (x0, y0), (x1, y1) = pos, pts[0]
            points += [(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps)
                       for t in range(1, steps + 1)]
            pos = pts[0]
        else:
            p0, (p1, p2, p3) = pos, pts
            for k in range(1, steps + 1):
                t = k / steps
                a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t ** 3
                points.append((a * p0[0] + b * p1[0] + c * p2[0] + e * p3[0],
                               a * p0[1] + b * p1[1] + c * p2[1] + e * p3[1]))
            pos = p3
    return points


def _inside(p: tuple[float, float], box: Box, margin: float = 1.0) -> bool:
    x0, y0, x1, y1 = box
    return x0 + margin < p[0] < x1 - margin and y0 + margin < p[1] < y1 - margin


def assert_no_edge_crosses_a_box(svg: str) -> None:
    boxes = _boxes(svg)
    edges = _edges(svg)
    assert edges, "no edges drawn"
    for src, dst, d in edges:
        points = _samples(d)
        assert _inside((points[0][0], points[0][1] - 2), boxes[src], 0), "starts off its source"
        assert _inside((points[-1][0], points[-1][1] + 2), boxes[dst], 0), "ends off its target"
        for nid, box in boxes.items():
            hits = [p for p in points if _inside(p, box)]
            assert not hits, f"edge {src} -> {dst} passes through box {nid} at {hits[0]}"


def test_a_branch_with_a_skip_edge_goes_around_the_middle_box():
    # a -> b -> c and a -> c: drawn straight, a->c hides behind b and reads as a chain
    nodes = [_node("a-1"), _node("b-1", [("a-1", 0, "x")]),
             _node("c-1", [("b-1", 0, "x"), ("a-1", 0, "y")])]
    svg = layered_svg(nodes, "skip")
    assert_no_edge_crosses_a_box(svg)
    assert len(_edges(svg)) == 3


@pytest.mark.parametrize("seed", range(25))
def test_random_dags(seed: int):
    rng = random.Random(seed)
    nodes: list[DrawNode] = []
    for i in range(rng.randint(3, 14)):
        inputs = []
        for j, parent in enumerate(rng.sample(nodes, k=min(len(nodes), rng.randint(0, 3)))):
            inputs.append((parent.id, rng.randrange(parent.num_returns), f"in{j}"))
        nodes.append(_node(f"t{i}-1", inputs, returns=rng.choice([1, 1, 2, 3])))
    assert_no_edge_crosses_a_box(layered_svg(nodes))


def test_sockets_are_labelled_and_literals_shown_on_hover():
    nodes = [_node("split-1", returns=2), _node("left-1", [("split-1", 0, "x")]),
             _node("right-1", [("split-1", 1, "x")])]
    svg = layered_svg(nodes)
    labels = re.findall(r'<text class="socket" x="([\d.]+)"[^>]*>(\d)</text>', svg)
    assert sorted(text for _, text in labels) == ["0", "1"]
    assert float(labels[0][0]) != float(labels[1][0]), "each socket has its own port"
    assert "split-1[1] → x of right-1" in svg
    assert "threshold = 0.5" in svg  # a node's <title>: its literal inputs
