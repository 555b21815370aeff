"""Test helpers: a real Ray head on loopback that only we own, and its teardown.

``ray stop`` kills every Ray on the machine (the test session's too), so a
head is started as ``ray start --head --block`` in a new session
(``start_new_session=True``) and stopped by signalling exactly the processes
of that session: Ray's workers may move to their own process groups, never
to another session. Every port is picked free, so it never collides with the
test session's own Ray.
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
from collections.abc import Iterator, Mapping
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]  # the repository
# Settings a child must not inherit from the test session.
SCRUB = ("RAY_ADDRESS", "DIGESTFLOW_STORE", "DIGESTFLOW_SECRET", "DIGESTFLOW_SECRET_FILE",
         "DIGESTFLOW_SECRET_PROVIDER", "RAY_JOB_CONFIG_JSON_ENV_VAR")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment minus the session's Ray/digestflow settings, venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def session_processes(sid: int) -> list[int]:
    """Pids of the live processes in session ``sid`` (zombies excluded)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(entry))
    return out


def kill_session(sid: int, grace: float = 5.0) -> None:
    """SIGTERM then SIGKILL every process of session ``sid`` (ours, from Popen)."""
    _signal_all(session_processes(sid), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal_all(session_processes(sid), signal.SIGKILL)
    deadline = time.monotonic() + grace
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class RayHead:
    """``ray start --head --block`` on loopback with token auth and free ports.

    ``pickle_key``: the node's pickle key, in a 0600 key file named by
    ``DIGESTFLOW_SECRET_FILE`` in the head's environment, as ray-cluster.yaml
    sets it up: every job driver and worker the head starts reads it there."""

    def __init__(self, *, num_cpus: int = 2, resources: str | None = None,
                 env: Mapping[str, str] | None = None, pickle_key: str | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="dfhead-", dir="/tmp"))  # short: socket paths
        self.token_path = self.tmp / "auth_token"
        self.token_path.write_text("digestflow-test-token-" + os.urandom(8).hex())
        self.token_path.chmod(0o600)
        self.port, self.dashboard_port, self.metrics_port = free_port(), free_port(), free_port()
        self.auth_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}
        self.pickle_key = pickle_key
        node_env = {}
        if pickle_key:
            keys = self.tmp / "digestflow.keys"
            keys.write_text(pickle_key + "\n")
            keys.chmod(0o600)
            node_env["DIGESTFLOW_SECRET_FILE"] = str(keys)
        self.env = child_env({**self.auth_env, "RAY_DEDUP_LOGS": "0", **node_env, **(env or {})})
        self.num_cpus = num_cpus
        self.resources = resources
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def token(self) -> str:
        return self.token_path.read_text().strip()

    def runtime_resources(self) -> Path:
        """Where the head unpacks jobs' uploaded packages."""
        return self.tmp / "ray" / "session_latest" / "runtime_resources"

    def start(self, timeout: float = 90.0) -> RayHead:
        cmd = [str(VENV_BIN / "ray"), "start", "--head", "--block",
               f"--port={self.port}", "--node-ip-address=127.0.0.1",
               "--dashboard-host=127.0.0.1", f"--dashboard-port={self.dashboard_port}",
               f"--metrics-export-port={self.metrics_port}",
               f"--num-cpus={self.num_cpus}", "--num-gpus=0",
               "--object-store-memory=100000000", "--disable-usage-stats",
               f"--temp-dir={self.tmp / 'ray'}"]
        for flag in ("--ray-client-server-port", "--dashboard-agent-listen-port",
                     "--dashboard-agent-grpc-port", "--runtime-env-agent-port",
                     "--node-manager-port", "--object-manager-port"):
            cmd.append(f"{flag}={free_port()}")
        if self.resources:
            cmd.append(f"--resources={self.resources}")
        self.log = open(self.tmp / "head.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self._wait_ready(timeout)
        return self

    @contextlib.contextmanager
    def auth_environ(self) -> Iterator[None]:
        """This process's environment carries the head's token settings meanwhile."""
        saved = {k: os.environ.get(k) for k in self.auth_env}
        os.environ.update(self.auth_env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _wait_ready(self, timeout: float) -> None:
        from cluster.jobs import client

        deadline = time.monotonic() + timeout
        with self.auth_environ():
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"ray start exited:\n{self.head_log()}")
                try:
                    client(self.dashboard).list_jobs()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"head not ready:\n{self.head_log()}") from None
                    time.sleep(0.5)

    def head_log(self) -> str:
        path = self.tmp / "head.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            kill_session(self.proc.pid)
            self.proc.wait(timeout=10)
            self.proc = None
            self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
