"""``digestflow submit`` keeps secrets home: no key in a job's env, no secret-looking
file in the uploaded package (checked with Ray's own packaging code), and it
says what it left out. No cluster needed: everything here happens before the
upload, or is the upload's own zip."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import pytest

from cluster import jobs
from runner.cli import main

SECRETISH = ("digestflow.env", ".env", "conf/prod.env", "secret.key", "certs/site.pem",
             "pickle.keys", "id_ed25519", "deploy/id_rsa.pub", ".netrc", "auth_token",
             ".git/config", ".git/objects/ab/cdef")
ORDINARY = ("pipeline.py", "lib/helpers.py", "data/table.csv", "envs.md", "keys.py",
            "environment.yml")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    for name in (*SECRETISH, *ORDINARY, ".venv/bin/python", "lib/__pycache__/h.pyc"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("DIGESTFLOW_SECRET=do-not-upload-0123456789\n"
                                 if name in SECRETISH else "ordinary\n")
    return root


def test_excluded_paths_are_what_rays_packager_leaves_out(work: Path, tmp_path: Path) -> None:
    packaging = pytest.importorskip("ray._private.runtime_env.packaging")
    target = tmp_path / "pkg.zip"
    packaging.create_package(str(work), target, include_gitignore=True,
                             excludes=jobs.runtime_env(jobs.JobSpec(
                                 target="pipeline.py", working_dir=str(work)))["excludes"])
    with zipfile.ZipFile(target) as z:
        uploaded = {n for n in z.namelist() if not n.endswith("/")}
        assert all(b"do-not-upload" not in z.read(n) for n in uploaded)
    assert uploaded == set(ORDINARY)
    excluded = jobs.excluded_paths(str(work))
    assert set(excluded) == {
        ".git/", ".venv/", "lib/__pycache__/", *[s for s in SECRETISH if not s.startswith(".git")]}


def test_submit_prints_what_it_leaves_out_and_refuses_the_key_in_env(
        work: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    monkeypatch.setenv("DIGESTFLOW_SECRET", "in-my-shell-0123456789")
    assert main(["submit", "pipeline.py", "--address", "http://127.0.0.1:9",
                 "--env", "DIGESTFLOW_SECRET=in-my-shell-0123456789"]) == 1
    err = capsys.readouterr().err
    assert "refusing to send DIGESTFLOW_SECRET with the job" in err
    assert "DIGESTFLOW_SECRET_FILE" in err and "not uploaded" not in err  # before anything

    with pytest.raises(Exception):  # noqa: B017 - nothing listens on port 9: the submit fails
        main(["submit", "pipeline.py", "--address", "http://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert "DIGESTFLOW_SECRET is set here but not sent with the job" in err
    assert "DIGESTFLOW_SECRET_FILE" in err  # says how to provide it instead
    listed = err.split("not uploaded: ", 1)[1].splitlines()[0].split(", ")
    assert {"digestflow.env", ".env", "conf/prod.env", "secret.key", ".git/"} <= set(listed)
    assert not set(listed) & set(ORDINARY)


def test_the_shell_key_never_reaches_the_job_env(work: Path) -> None:
    spec = jobs.JobSpec(target="pipeline.py", working_dir=str(work), store="/abs/store")
    env = jobs.runtime_env(spec, {"DIGESTFLOW_SECRET": "k" * 20, "DIGESTFLOW_VERIFY": "never"})
    assert env["env_vars"] == {"DIGESTFLOW_STORE": "/abs/store", "DIGESTFLOW_VERIFY": "never"}
    node_path = jobs.JobSpec(target="pipeline.py", working_dir=str(work),
                             env={"DIGESTFLOW_SECRET_FILE": "/etc/digestflow/keys"})
    assert jobs.runtime_env(node_path, {})["env_vars"] == {  # a path on the nodes is fine
        "DIGESTFLOW_SECRET_FILE": "/etc/digestflow/keys"}


def test_a_job_driver_warns_when_its_runtime_env_carries_the_key(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """``ray job submit --runtime-env-json`` with the key: the driver says it is published."""
    from cluster import connect

    job = {"runtime_env": {"env_vars": {"DIGESTFLOW_SECRET": "published-0123456789"}}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    with caplog.at_level(logging.WARNING, logger="digestflow"):
        connect.warn_if_job_carries_key(connect._job_env_vars())
    assert "runtime env carries DIGESTFLOW_SECRET" in caplog.text
    assert "published-0123456789" not in caplog.text
    caplog.clear()
    job["runtime_env"]["env_vars"] = {"DIGESTFLOW_STORE": "/abs/store"}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    connect.warn_if_job_carries_key(connect._job_env_vars())
    assert caplog.text == ""
