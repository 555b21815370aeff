"""graph output: every node present with its status colour, in DOT, SVG, PNG and HTML."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from runner import run
from runner.cli import main
from runner.cli.graph import render
from runner.drawing import COLORS, graph_status, layers, to_dot
from tests.observability.pipeline import clip, explode, load, scale, total

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz dot not installed (apt-get install graphviz)")


def targets(factor: int = 3) -> list:
    """Every status after ``run(targets())`` following ``run(targets()[0])``."""
    done = total.bind(clip.bind(scale.bind(load.bind(1))))
    broken = clip.bind(explode.bind(load.bind(2)))
    fresh = scale.bind(load.bind(3), factor=factor)
    return [done, broken, fresh]


WANT = {"load-1": "cached", "scale-1": "cached", "clip-1": "cached", "total-1": "cached",
        "load-2": "executed", "explode-1": "failed", "clip-2": "skipped",
        "load-3": "executed", "scale-2": "not run"}


@pytest.fixture
def statuses(store_uri: str):
    run(targets()[0], store=store_uri, executor="inline")
    run(targets(), store=store_uri, executor="inline", raise_on_error=False)
    nodes, record = graph_status(targets(factor=4), store_uri)  # scale-2 changed since
    return nodes, record


def test_status_of_each_node_in_the_latest_run(statuses) -> None:
    nodes, record = statuses
    assert {n.id: n.status for n in nodes} == WANT
    assert record is not None and record.nodes["explode-1"]["status"] == "failed"
    assert next(n for n in nodes if n.id == "explode-1").error.startswith("ValueError")


def test_dot_source(statuses) -> None:
    nodes, _ = statuses
    dot = to_dot(nodes, "t")
    for n in nodes:
        line = next(ln for ln in dot.splitlines() if ln.strip().startswith(f'"{n.id}" ['))
        assert f'fillcolor="{COLORS[n.status]}"' in line
        assert f"{n.task} {n.key[:8]}" in line
    assert '"load-1" -> "scale-1";' in dot and '"explode-1" -> "clip-2";' in dot


def svg_nodes(svg: str) -> dict[str, str]:
    """{node id: fill colour} from <g class="node ..."><title>id</title>...fill="..."."""
    out = {}
    for m in re.finditer(r'<g[^>]*class="node[^"]*"[^>]*>\s*<title>([^<]*)</title>(.*?)</g>',
                         svg, re.S):
        fill = re.search(r'fill="(#[0-9a-f]{6})"', m.group(2))
        out[html.unescape(m.group(1))] = fill.group(1) if fill else ""
    return out


@pytest.mark.parametrize("use_dot", [pytest.param(True, marks=needs_dot), False])
def test_svg_colours_every_node(statuses, use_dot: bool) -> None:
    nodes, record = statuses
    svg = render(nodes, record, "title", ".svg", use_dot=use_dot).decode()
    assert svg_nodes(svg) == {n.id: COLORS[n.status] for n in nodes}


@pytest.mark.parametrize("use_dot", [pytest.param(True, marks=needs_dot), False])
def test_html_page_has_picture_and_run_table(statuses, use_dot: bool) -> None:
    nodes, record = statuses
    page = render(nodes, record, "title", ".html", use_dot=use_dot).decode()
    assert page.startswith("<!DOCTYPE html>") and "<?xml" not in page
    assert svg_nodes(page) == {n.id: COLORS[n.status] for n in nodes}
    for n in nodes:
        assert f"<tr><td>{n.id}</td><td>{n.task}</td>" in page
    assert record.run_id in page and "cannot explode" in page


@needs_dot
def test_png_via_cli(tmp_path: Path, store_uri: str, pipeline_file, capsys) -> None:
    path = pipeline_file()
    assert main(["run", path, "--store", store_uri, "--executor", "inline", "-q"]) == 0
    out, dot_file = tmp_path / "g.png", tmp_path / "g.dot"
    assert main(["graph", path, "-o", str(out), "--store", store_uri]) == 0
    assert main(["graph", path, "-o", str(dot_file), "--store", store_uri]) == 0
    assert "7 nodes: 7 executed" in capsys.readouterr().out
    png = out.read_bytes()
    assert png.startswith(b"\x89PNG")
    dot_source = dot_file.read_text()
    assert dot_source.count(f'fillcolor="{COLORS["executed"]}"') == 7
    drawn = subprocess.run(["dot", "-Tpng", str(dot_file)], capture_output=True, check=True)
    assert png == drawn.stdout, "the PNG is not the drawing of the graph's DOT source"


def test_cli_formats_without_dot(tmp_path: Path, store_uri: str, pipeline_file,
                                 monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dot anywhere
    path = pipeline_file()
    assert main(["run", path, "--store", store_uri, "--executor", "inline", "-q"]) == 0
    for name in ("g.dot", "g.html", "g.svg"):
        assert main(["graph", path, "-o", str(tmp_path / name), "--store", store_uri]) == 0
    assert "apt-get install graphviz" in capsys.readouterr().err  # said once, for .svg
    assert main(["graph", path, "-o", str(tmp_path / "g.png"), "--store", store_uri]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err
    page = (tmp_path / "g.html").read_text()
    assert len(svg_nodes(page)) == 7 and set(svg_nodes(page).values()) == {COLORS["executed"]}
    assert (tmp_path / "g.dot").read_text().startswith("digraph digestflow {")


def test_layers_follow_dependencies(statuses) -> None:
    nodes, _ = statuses
    rank = {n.id: i for i, row in enumerate(layers(nodes)) for n in row}
    assert all(rank[p] < rank[n.id] for n in nodes for p in n.parents)
    assert rank["load-1"] == 0 and rank["total-1"] == 3


def test_colours_say_what_the_next_run_does(store_uri: str) -> None:
    """After run(A), run(B): drawing A shows A's stored nodes as cached (the next run
    serves them), not "not run"; drawing a changed graph marks what will run."""
    from tests.observability.pipeline import build

    run(build(), store=store_uri, executor="inline")
    run(build(factor=3), store=store_uri, executor="inline")  # the latest run record
    nodes, _ = graph_status(build(), store_uri)
    assert {(n.status, n.next) for n in nodes} == {("cached", "cached")}
    nodes, _ = graph_status(build(factor=5), store_uri)
    by = {n.id: (n.status, n.next) for n in nodes}
    assert by["load-1"] == ("cached", "cached")  # read by the scale nodes that run
    assert by["scale-1"] == ("not run", "will run") and by["total-1"] == ("not run", "will run")
    page = render(nodes, None, "t", ".html", use_dot=False).decode()
    assert "layout: digestflow&#x27;s built-in layered layout" in page
    assert page.count("<td>will run</td>") == 5  # 2 scale, 2 clip, total
