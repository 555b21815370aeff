"""A real process killed at a chosen point: the shared half of the SIGKILL tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def kill_when_stalled(script: str, *args: str, timeout: float = 60) -> None:
    """Run ``script`` (Python source) in a child process from the repo root until it
    prints ``STALLED`` (it then sleeps at the point under test), and SIGKILL it there."""
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "STALLED", f"the child exited before its stall point: {line!r}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=timeout)
