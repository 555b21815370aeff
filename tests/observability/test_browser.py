"""The graph page in a real browser: headless Chromium screenshots it, and the
picture shows every status colour and the next-run border.

Skips when no Chromium is installed (``apt-get install chromium``; .ci/run
installs it). The screenshot is decoded here (8-bit PNG) and its pixels counted.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from runner import run
from runner.cli.graph import render
from runner.drawing import COLORS, graph_status
from tests.observability.pipeline import clip, explode, load, scale, total

BROWSER = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                      "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium (apt-get install chromium)")
SIZE = (1400, 1000)


def _targets(factor: int = 3) -> list:
    done = total.bind(clip.bind(scale.bind(load.bind(1))))
    broken = clip.bind(explode.bind(load.bind(2)))
    skip = total.bind(load.bind(1), clip.bind(scale.bind(load.bind(1), factor=5)))  # a long edge
    return [done, broken, scale.bind(load.bind(3), factor=factor), skip]


def screenshot(page: Path, out: Path) -> None:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={SIZE[0]},{SIZE[1]}", f"--screenshot={out}", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HOME": str(page.parent)})
    assert out.exists(), proc.stderr[-3000:]


def png_pixels(data: bytes) -> tuple[int, int, Counter[str]]:
    """(width, height, Counter of '#rrggbb') of an 8-bit RGB/RGBA non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, colours = bytearray(stride), Counter()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line[i] = (line[i] + pred) & 0xFF
        colours.update(f"#{line[i]:02x}{line[i + 1]:02x}{line[i + 2]:02x}"
                       for i in range(0, stride, bpp))
        prev = line
    return width, height, colours


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


@pytest.mark.parametrize("use_dot", [False, True])
def test_graph_page_renders_in_chromium(store_uri: str, tmp_path: Path, use_dot: bool) -> None:
    if use_dot and shutil.which("dot") is None:
        pytest.skip("Graphviz dot not installed")
    run(_targets()[0], store=store_uri, executor="inline")
    run(_targets(), store=store_uri, executor="inline", raise_on_error=False)
    nodes, record = graph_status(_targets(factor=4), store_uri)
    page = tmp_path / "graph.html"
    page.write_bytes(render(nodes, record, "browser check", ".html", use_dot=use_dot))
    shot = tmp_path / "graph.png"
    screenshot(page, shot)
    keep = os.environ.get("DIGESTFLOW_KEEP_SCREENSHOTS")
    if keep:
        shutil.copy(shot, Path(keep) / f"graph-{'dot' if use_dot else 'builtin'}.png")
    width, height, colours = png_pixels(shot.read_bytes())
    assert (width, height) == SIZE
    for status in ("cached", "executed", "failed", "skipped", "not run"):
        assert colours[COLORS[status]] > 400, f"no {status} boxes in the screenshot"
    assert colours["#b2182b"] > 100, "no next-run border in the screenshot"
