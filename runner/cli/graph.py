"""``digestflow graph FILE.py[:TARGET] -o out.svg|out.png|out.html|out.dot``.

Colours each node by its status in the latest recorded run. SVG and PNG
come from Graphviz's ``dot`` (SVG falls back to a built-in layered layout
when ``dot`` is missing); ``.dot`` is Graphviz source and ``.html`` a
self-contained page (picture + run table) that never needs Graphviz.
"""

from __future__ import annotations

import argparse
import sys
import time
from html import escape
from pathlib import Path
from typing import Any

from runner.cli.loader import add_target_arguments, load_targets
from runner.errors import ValidationError

FORMATS = (".svg", ".png", ".html", ".dot")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("graph", help="draw the DAG coloured by each node's latest status",
                       description="Draw the pipeline's DAG, each node coloured by its status "
                       "in the latest run (cached, executed, failed, skipped, not run; a key "
                       "stored by an earlier run is cached) and labelled with its task, key "
                       "prefix and what the next run does with it (a dashed red border: it "
                       "will run). Without Graphviz, .svg and .html use a built-in layout.")
    add_target_arguments(p)
    p.add_argument("-o", "--output", required=True, help="out.svg | out.png | out.html | out.dot")
    p.add_argument("--store", help="store URI (default $DIGESTFLOW_STORE or ./.digestflow)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from runner.drawing import graph_status

    out = Path(args.output)
    if out.suffix.lower() not in FORMATS:
        raise ValidationError(f"--output {out}: use one of {', '.join(FORMATS)}")
    nodes, record = graph_status(load_targets(args.target, args.registry), args.store)
    title = f"{args.target}" + (f" — run {record.run_id}" if record else " — no recorded run")
    data = render(nodes, record, title, out.suffix.lower())
    out.write_bytes(data)
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.status] = counts.get(n.status, 0) + 1
    runs = sum(n.next == "will run" for n in nodes)
    print(f"wrote {out} ({len(nodes)} nodes: "
          + ", ".join(f"{c} {s}" for s, c in counts.items()) + f"; next run executes {runs})")
    return 0


def render(nodes: list[Any], record: Any, title: str, fmt: str, dot: str | None = None,
           use_dot: bool = True) -> bytes:
    """The file's bytes for ``fmt`` (".svg", ".png", ".html", ".dot")."""
    from runner.drawing import INSTALL_HINT, find_dot, layered_svg, render_dot, to_dot

    source = to_dot(nodes, title)
    if fmt == ".dot":
        return source.encode()
    dot = (dot or find_dot()) if use_dot else None
    if fmt == ".png":
        return render_dot(source, "png", dot)
    if dot is not None:
        svg = render_dot(source, "svg", dot).decode()
        layout = "Graphviz dot"
    else:
        if fmt == ".svg":
            print(f"note: {INSTALL_HINT}; drawing the built-in layered layout instead",
                  file=sys.stderr)
        svg = layered_svg(nodes, title)
        layout = "digestflow's built-in layered layout (Graphviz's dot is not installed)"
    return (svg if fmt == ".svg" else html_page(nodes, record, title, svg, layout)).encode()


def html_page(nodes: list[Any], record: Any, title: str, svg: str, layout: str = "") -> str:
    """One self-contained page: legend, the picture (inline SVG), the run table."""
    from runner.drawing import COLORS
    from runner.result import human_bytes

    if svg.startswith("<?xml"):
        svg = svg[svg.index("<svg"):]  # drop dot's XML prolog and doctype
    legend = " ".join(f'<span class="chip" style="background:{c}">{escape(s)}</span>'
                      for s, c in COLORS.items())
    legend += (' &nbsp; fill: the last run (or "cached": in the store); '
               '<span class="chip next">dashed red border</span>: the next run executes it. '
               "Hover a node for its literal inputs; numbers on edges are output sockets.")
    rows = "\n".join(
        f'<tr><td>{escape(n.id)}</td><td>{escape(n.task)}</td>'
        f'<td><span class="chip" style="background:{COLORS[n.status]}">{escape(n.status)}'
        f'</span></td><td>{escape(n.next)}</td><td><code>{n.key[:16]}</code></td>'
        f'<td>{n.seconds:.3f}</td><td>{human_bytes(n.bytes)}</td>'
        f'<td>{escape(n.error or "")}</td></tr>' for n in nodes)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started)) if record else ""
    run = (f"run <code>{escape(record.run_id)}</code> started {when}, "
           f"{record.seconds:.2f} s, cache={escape(record.cache)}") if record else "no run yet"
    shown = f"<p class=\"layout\">layout: {escape(layout)}</p>" if layout else ""
    return _PAGE.format(title=escape(title), legend=legend, svg=svg, run=run, rows=rows,
                        layout=shown)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }}
.chip {{ padding: 1px 8px; border-radius: 8px; border: 1px solid #999; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }}
.picture {{ overflow: auto; max-width: 100%; }}
.next {{ border: 2.5px dashed #b2182b; }}
.layout {{ color: #555; font-size: 90%; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{run}</p>
<p>{legend}</p>
<div class="picture">
{svg}
</div>
{layout}
<table>
<tr><th>node</th><th>task</th><th>last run</th><th>next run</th><th>key</th><th>seconds</th>
<th>bytes</th><th>error</th></tr>
{rows}
</table>
</body></html>
"""
