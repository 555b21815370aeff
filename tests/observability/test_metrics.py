"""Prometheus metrics reach a real head's /metrics endpoint with the right values.

The pytest process already holds the session's local Ray and cannot join a
second cluster, so the driver runs in a subprocess against a head this test
starts (and stops: its own process group, never ``ray stop``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from tests.raycluster import RayHead, session_processes

REPO = Path(__file__).resolve().parents[2]
DRIVER = """
import sys
from runner import run
from tests.observability import pipeline
store, address = sys.argv[1], sys.argv[2]
run(pipeline.build(), store=store, address=address)
run(pipeline.build(factor=3), store=store, address=address)
r = run(pipeline.explode.bind(pipeline.load.bind(1)), store=store, address=address,
        raise_on_error=False)
assert r.failed == ["explode-1"], r.report
"""
_LINE = re.compile(r'^ray_digestflow_(\w+?)(?:_total)?\{(.*)\} ([0-9.e+-]+)$')
_TASK = re.compile(r'\btask="([^"]*)"')


def scrape(url: str) -> dict[str, dict[str, float]]:
    """{metric: {task: value summed over workers}} for digestflow counters/histogram counts."""
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in body.splitlines():
        m = _LINE.match(line)
        task = _TASK.search(m.group(2)) if m else None
        if m and task and not m.group(1).startswith("task_seconds_b"):
            out[m.group(1)][task.group(1)] += float(m.group(3))
    return {k: dict(v) for k, v in out.items()}


def test_counters_and_histogram_reach_prometheus(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    store = str(tmp_path / "store")
    head = RayHead(env={"RAY_metrics_report_interval_ms": "500"}).start()
    try:
        env = dict(head.env, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-c", DRIVER, store, head.gcs_address], env=env,
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        from storage import open_store

        stored = {t: float(u.bytes) for t, u in open_store(store).stats().by_task.items()}
        want = {
            "cache_hits": {"load": 3.0},
            "cache_misses": {"load": 2.0, "scale": 4.0, "clip": 4.0, "total": 2.0,
                             "explode": 1.0},
            "tasks_executed": {"load": 2.0, "scale": 4.0, "clip": 4.0, "total": 2.0},
            "tasks_failed": {"explode": 1.0},
            "bytes_stored": stored,
            "bytes_loaded": {"scale": stored["load"]},  # both loads, read on run 2
            "task_seconds_count": {"load": 2.0, "scale": 4.0, "clip": 4.0, "total": 2.0},
        }
        got: dict[str, dict[str, float]] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = scrape(f"http://127.0.0.1:{head.metrics_port}/metrics")
            if all(got.get(name) == value for name, value in want.items()):
                break
            time.sleep(0.5)
        sid = head.proc.pid
    finally:
        head.stop()
    for name, value in want.items():
        assert got.get(name) == value, (name, got.get(name))
    assert got["task_seconds_sum"].keys() == want["task_seconds_count"].keys()
    assert not session_processes(sid), "the test's Ray head left processes behind"
