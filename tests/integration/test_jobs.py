"""End to end: a real Ray head on loopback (token auth), pipelines sent as Ray jobs.

The first job executes every node; the same pipeline submitted again (through
``digestflow submit``, the SDK path, and plain ``ray job submit -- python``)
executes none: the store URI travels in the job's runtime env to the driver
and every worker; the pickle key does not, though the submitting shell has
it: every worker reads its node's key file. The head is ours alone and is
stopped by killing its process session (never ``ray stop``).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.raycluster import VENV_BIN, RayHead, child_env

pytestmark = pytest.mark.slow

PIPELINES = Path(__file__).parent / "pipelines"
SUMMARY = re.compile(r"(\d+) nodes: (\d+) executed, (\d+) cached, (\d+) failed")
LABELS = ["a", "b", "join", "report"]


@pytest.fixture
def job_env(head: RayHead, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the submitting shell has: the token, a shared store, a secret, a run log."""
    for k, v in head.auth_env.items():
        monkeypatch.setenv(k, v)
    env = {"DIGESTFLOW_STORE": str(tmp_path / "store"),
           "DIGESTFLOW_SECRET": "job-test-secret-0123456789abcdef",
           "DIGESTFLOW_TEST_RUNLOG": str(tmp_path / "runlog.txt")}
    for k in ("DIGESTFLOW_STORE", "DIGESTFLOW_SECRET"):
        monkeypatch.setenv(k, env[k])
    return env


def _ran(env: dict[str, str]) -> list[str]:
    path = Path(env["DIGESTFLOW_TEST_RUNLOG"])
    lines = path.read_text().splitlines() if path.exists() else []
    path.write_text("")
    return sorted(lines)


def _counts(logs: str) -> tuple[int, int]:
    found = SUMMARY.findall(logs)
    assert found, f"no summary line in the job's logs:\n{logs[-3000:]}"
    _, executed, cached, failed = map(int, found[-1])
    assert failed == 0, logs[-3000:]
    return executed, cached


def test_submit_twice_second_job_is_served_from_cache(head: RayHead,
                                                     job_env: dict[str, str]) -> None:
    from cluster import jobs

    # 1. the CLI, as a user runs it: exits with the job's status, streams its logs
    cli = subprocess.run(
        [str(VENV_BIN / "digestflow"), "submit", "chain.py", "--address", head.dashboard,
         "--working-dir", str(PIPELINES), "--follow",
         "--env", f"DIGESTFLOW_TEST_RUNLOG={job_env['DIGESTFLOW_TEST_RUNLOG']}"],
        env=child_env({**head.auth_env, "DIGESTFLOW_STORE": job_env["DIGESTFLOW_STORE"],
                       "DIGESTFLOW_SECRET": job_env["DIGESTFLOW_SECRET"]}),
        capture_output=True, text=True, timeout=180,
    )
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
    assert _counts(cli.stdout) == (4, 0)
    assert "report-1 = 'total=235'" in cli.stdout  # the target's value, in the job's logs
    assert _ran(job_env) == [f"{x} key_file=True env_key=False" for x in LABELS]

    # 2. the same code path from Python: nothing runs again
    spec = jobs.JobSpec(target="chain.py:TARGETS", working_dir=str(PIPELINES),
                        env={"DIGESTFLOW_TEST_RUNLOG": job_env["DIGESTFLOW_TEST_RUNLOG"]})
    job_id = jobs.submit(spec, head.dashboard)
    assert jobs.wait(head.dashboard, job_id, timeout=180) == "SUCCEEDED"
    assert _counts(jobs.client(head.dashboard).get_job_logs(job_id)) == (0, 4)
    assert _ran(job_env) == []


def test_plain_ray_job_submit_python_script(head: RayHead, job_env: dict[str, str]) -> None:
    """``ray job submit -- python chain.py``: the script's run() joins via RAY_ADDRESS."""
    runtime_env = {"env_vars": {k: v for k, v in job_env.items() if k != "DIGESTFLOW_SECRET"}}
    cmd = [str(VENV_BIN / "ray"), "job", "submit", "--address", head.dashboard,
           "--working-dir", str(PIPELINES), "--runtime-env-json", json.dumps(runtime_env),
           "--", "python", "chain.py"]
    for expected in ((4, 0), (0, 4)):
        out = subprocess.run(cmd, env=child_env(head.auth_env), capture_output=True,
                             text=True, timeout=180)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert _counts(out.stdout) == expected
        assert "value: total=235" in out.stdout
    assert _ran(job_env) == [f"{x} key_file=True env_key=False" for x in LABELS]


def test_jobs_api_refuses_a_client_without_the_token(head: RayHead,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.job_submission import JobSubmissionClient

    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    with pytest.raises(Exception, match="(?i)auth|forbidden|401|403"):
        JobSubmissionClient(head.dashboard, headers={"Authorization": "Bearer wrong"}).list_jobs()
