"""The pickle key stays on the nodes: a job submitted through ``digestflow submit``
to a real head (token auth) whose node has a key file reads and writes
authenticated pickles, while neither the Jobs API nor the job's uploaded
package nor the metrics carry the key, even though the submitting shell has
``DIGESTFLOW_SECRET`` set and the working dir holds secret-looking files. An
embedded Ray gets the key to its workers without any runtime env.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from storage import open_store
from storage.secret import key_id
from tests.raycluster import VENV_BIN, RayHead, child_env, kill_session

pytestmark = pytest.mark.slow

PIPELINES = Path(__file__).parent / "pipelines"
SUMMARY = re.compile(r"(\d+) nodes: (\d+) executed, (\d+) cached, (\d+) failed")
DECOYS = ("digestflow.env", ".env", "sub/prod.env", "secret.key", "deploy.pem",
          "pickle.keys", ".git/config")


def _workdir(tmp_path: Path, secret: str) -> Path:
    """keyed.py plus files a user might keep next to it, each holding the key."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(PIPELINES / "keyed.py", work / "keyed.py")
    for name in DECOYS:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(f"DIGESTFLOW_SECRET={secret}\n")
    return work


def _get(url: str, token: str | None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _submit(head: RayHead, work: Path, store: str, runlog: Path, secret: str
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "digestflow"), "submit", "keyed.py", "--address", head.dashboard,
         "--working-dir", str(work), "--store", store, "--follow",
         "--env", f"DIGESTFLOW_TEST_RUNLOG={runlog}"],
        env=child_env({**head.auth_env, "DIGESTFLOW_SECRET": secret}),  # set here, as users do
        capture_output=True, text=True, timeout=240,
    )


def test_job_metadata_and_package_never_carry_the_key(head: RayHead, tmp_path: Path) -> None:
    secret, store, runlog = head.pickle_key, str(tmp_path / "store"), tmp_path / "runlog"
    work = _workdir(tmp_path, secret)

    first = _submit(head, work, store, runlog, secret)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "DIGESTFLOW_SECRET is set here but not sent with the job" in first.stderr
    shown = re.search(r"not uploaded: (.*)", first.stderr)
    assert shown and {".git/", *[d for d in DECOYS if ".git" not in d]} <= set(
        shown.group(1).split(", ")), first.stderr
    assert SUMMARY.findall(first.stdout)[-1][1:] == ("3", "0", "0")
    # every worker found the key in its node's key file, none in its environment
    assert sorted(runlog.read_text().splitlines()) == [
        f"{x} key_file=True env_key=False" for x in ("a", "b", "merge")]

    # the store holds pickles signed with the node's key (no fallback key file made)
    reader = open_store(store, secret=secret)
    pickles = [m for m in reader.iter_manifests() if m.codec == "pickle"]
    assert len(pickles) == 3
    assert {m.summary["key_id"] for m in pickles} == {key_id(secret.encode()).hex()}
    assert not (Path(store) / "secret.key").exists()

    runlog.write_text("")
    second = _submit(head, work, store, runlog, secret)  # reads the pickles back
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert SUMMARY.findall(second.stdout)[-1][1:] == ("0", "3", "0")
    assert runlog.read_text() == ""

    status, jobs = _get(f"{head.dashboard}/api/jobs/", head.token)
    assert status == 200
    ours = [j for j in json.loads(jobs) if j["entrypoint"].endswith("keyed.py")]
    assert len(ours) == 2 and all(j["status"] == "SUCCEEDED" for j in ours)
    assert ours[0]["runtime_env"]["env_vars"]["DIGESTFLOW_STORE"] == store  # it is the record
    assert secret not in jobs
    for job in ours:
        status, one = _get(f"{head.dashboard}/api/jobs/{job['submission_id']}", head.token)
        assert status == 200 and secret not in one

    packages = list(head.runtime_resources().glob("working_dir_files/_ray_pkg_*"))
    unpacked = [p for p in packages if (p / "keyed.py").is_file()]
    assert unpacked, f"no unpacked package with keyed.py among {packages}"
    for pkg in packages:
        files = [f for f in pkg.rglob("*") if f.is_file()] if pkg.is_dir() else [pkg]
        assert all(secret.encode() not in f.read_bytes() for f in files), pkg
    names = {p.relative_to(unpacked[0]).as_posix() for p in unpacked[0].rglob("*")}
    assert not names & {*DECOYS, ".git"}, names


def test_dashboard_port_without_the_token_gets_nothing(head: RayHead) -> None:
    assert _get(f"{head.dashboard}/api/jobs/", None)[0] == 401
    assert _get(f"{head.dashboard}/api/jobs/", "not-the-token")[0] == 403
    deadline = time.monotonic() + 60
    while True:  # the metrics agent may still be starting
        try:
            status, metrics = _get(f"http://127.0.0.1:{head.metrics_port}/metrics", None)
            break
        except urllib.error.URLError:
            assert time.monotonic() < deadline, "metrics port never answered"
            time.sleep(1)
    assert status == 200 and "ray_" in metrics and head.pickle_key not in metrics


def test_embedded_ray_workers_inherit_the_key_without_a_runtime_env(tmp_path: Path) -> None:
    """run() with no cluster: its workers get the key from the driver's environment."""
    secret = "laptop-pickle-key-0123456789abcdef"
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "drivers" / "embedded_key.py")],
        cwd=tmp_path, start_new_session=True, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=child_env({"DIGESTFLOW_SECRET": secret, "DIGESTFLOW_STORE": str(tmp_path / "s")}))
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        kill_session(proc.pid)
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, out[-4000:]
    found = json.loads(lines[-1][len("RESULT "):])
    assert found["worker_env"] == [True, True]  # inherited from the driver's process
    assert found["key_ids"] == [key_id(secret.encode()).hex()] and not found["fallback_key_file"]
    assert found["records"] >= 1 and not found["key_in_job_records"]
    assert "DIGESTFLOW_SECRET" not in json.dumps(found["driver_runtime_env"])
