"""A throwaway Ray head for metrics tests: own ports, own temp dir, own process group.

``ray start --head --block`` runs in a subprocess we own (a new session), so
stopping it is killing that process group: never ``ray stop``, which would
kill every Ray on the machine (the test session's included).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_PORT_OPTIONS = ("--port", "--metrics-export-port", "--dashboard-port", "--ray-client-server-port",
                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port")


@dataclass(frozen=True)
class Head:
    address: str      # GCS address for ray.init / RAY_ADDRESS
    metrics_url: str  # Prometheus endpoint of the head node
    env: dict[str, str]
    pgid: int         # the head's process group, to check nothing outlives it


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def client_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env.update({"RAY_metrics_report_interval_ms": "500", "RAY_AUTH_MODE": "token",
                "RAY_USAGE_STATS_ENABLED": "0", **(extra or {})})
    return env


@contextlib.contextmanager
def ray_head(num_cpus: int = 2, timeout: float = 60) -> Iterator[Head]:
    ports = dict(zip(_PORT_OPTIONS, free_ports(len(_PORT_OPTIONS)), strict=True))
    temp = tempfile.mkdtemp(prefix="dfray-", dir="/tmp")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    cmd = [ray_bin, "start", "--head", "--block", "--disable-usage-stats",
           "--dashboard-host", "127.0.0.1", "--node-ip-address", "127.0.0.1",
           f"--num-cpus={num_cpus}", f"--temp-dir={temp}",
           *(f"{opt}={port}" for opt, port in ports.items())]
    env = client_env()
    log = open(os.path.join(temp, "head.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    address = f"127.0.0.1:{ports['--port']}"
    try:
        _wait_up(proc, address, env, timeout, temp)
        yield Head(address=address, env=env, pgid=proc.pid,
                   metrics_url=f"http://127.0.0.1:{ports['--metrics-export-port']}/metrics")
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_up(proc: subprocess.Popen, address: str, env: dict[str, str], timeout: float,
             temp: str) -> None:
    """Ready when ``ray start`` says so (it prints this once GCS and raylet are up)."""
    deadline = time.monotonic() + timeout
    log = Path(temp, "head.log")
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Ray runtime started" in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"ray head exited: {text[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"ray head not up after {timeout}s: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the head's process group (``ray start --block`` tears its children down),
    then SIGKILL whatever is left of it; zombies do not count as left."""
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            if not group_members(pgid):
                return
            time.sleep(0.1)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            out.append(int(entry))
    return out
