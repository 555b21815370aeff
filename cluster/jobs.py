"""Send a pipeline to a Ray cluster as a Ray job (Ray's Job Submission SDK).

A job is a shell entrypoint (``digestflow run FILE.py[:TARGET]``, or
``python FILE.py``) run by the cluster next to its head, in a copy of the
local working directory, with digestflow's settings (store URI, verify
policy...) in its runtime environment's ``env_vars``: Ray sets them for the
job's driver and for every worker it starts, on any node. The driver joins
the cluster through ``RAY_ADDRESS``, which Ray sets for it.

The pickle key never travels with a job: a runtime env is job metadata that
the Jobs API, the dashboard and the GCS hand to anyone who asks, for the
cluster's lifetime. Each node reads its own key (``storage.secret``), so
``DIGESTFLOW_SECRET`` is refused in a job's env, and secret-looking files
(``*.env``, key files, ``.git``) are never uploaded with the working dir.

Auth: with token auth on (Ray 2.60's default for new clusters) the Jobs API
answers 401 unless the request carries ``Authorization: Bearer <token>``.
The SDK adds that header only when this process runs with
``RAY_AUTH_MODE=token``, so ``auth_headers`` reads the token itself
(``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from runner.errors import ValidationError

# Settings a job inherits from the submitting shell (when set there).
JOB_ENV = ("DIGESTFLOW_STORE", "DIGESTFLOW_VERIFY", "DIGESTFLOW_AUTOSCALING",
           "DIGESTFLOW_LEASE_TTL")
# Never in a job's env: it would be readable in the job's metadata.
SECRET_ENV = ("DIGESTFLOW_SECRET",)
# Never uploaded with the working directory (gitignore patterns, as Ray applies them):
# secrets first, then what is only bulk.
SECRET_EXCLUDES = [".git", ".env", "*.env", "*.key", "*.keys", "*.pem", "*.p12", "*.pfx",
                   "id_rsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".pypirc", "auth_token"]
EXCLUDES = [*SECRET_EXCLUDES, ".venv", "venv", "__pycache__", ".digestflow", ".digestflow*",
            ".pytest_cache", ".ruff_cache", ".hypothesis", "*.egg-info"]
HOW_TO_KEY = ("give every node its own copy instead: DIGESTFLOW_SECRET_FILE=/path/on/node "
              "(ray-cluster.yaml file_mounts + setup_commands), DIGESTFLOW_SECRET in the "
              "environment of each node's `ray start`, or DIGESTFLOW_SECRET_PROVIDER for a "
              "secret manager; see docs/security.md")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """What to run: ``target`` is ``FILE.py[:TARGET]`` inside ``working_dir`` (the path
    is taken from the current directory, else from ``working_dir``)."""

    target: str
    working_dir: str = "."
    store: str | None = None
    python: bool = False  # entrypoint ``python FILE.py`` instead of ``digestflow run``
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # extra arguments for the entrypoint


def auth_headers(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``Authorization: Bearer <token>`` when a token is configured, else nothing."""
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = env.get("RAY_AUTH_TOKEN", "").strip()
    path = env.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if not token and os.path.exists(path):
        token = Path(path).read_text().strip()
    if not token:
        if env.get("RAY_AUTH_MODE", "").lower() == "token":
            raise ValidationError(
                "RAY_AUTH_MODE=token but no token found: set RAY_AUTH_TOKEN, "
                "RAY_AUTH_TOKEN_PATH, or copy the cluster's ~/.ray/auth_token here"
            )
        return {}
    return {"Authorization": f"Bearer {token}"}


def job_env(spec: JobSpec, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The job's env_vars: digestflow settings of this shell, then ``spec``'s."""
    env = os.environ if environ is None else environ
    out = {k: env[k] for k in JOB_ENV if env.get(k)}
    if spec.store:
        out["DIGESTFLOW_STORE"] = spec.store
    refused = sorted(set(spec.env) & set(SECRET_ENV))
    if refused:
        raise ValidationError(
            f"refusing to send {', '.join(refused)} with the job: a job's env is metadata "
            f"that the Jobs API and the dashboard show to anyone who can reach them; "
            f"{HOW_TO_KEY}")
    out.update(spec.env)
    store = out.get("DIGESTFLOW_STORE", "")
    if store and "://" not in store and not os.path.isabs(store):
        raise ValidationError(
            f"store {store!r} is a relative path: a job's workers run on other machines, "
            "so pass --store s3://bucket/prefix or an absolute path every node mounts "
            "(or leave it out to use the cluster's own DIGESTFLOW_STORE)"
        )
    return out


def held_back(environ: Mapping[str, str] | None = None) -> list[str]:
    """Secret variables set in this shell that the job does not get."""
    env = os.environ if environ is None else environ
    return [k for k in SECRET_ENV if env.get(k)]


def excluded_paths(working_dir: str) -> list[str]:
    """Paths under ``working_dir`` that the upload leaves out (directories end in ``/``)."""
    root, out = Path(working_dir).resolve(), []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in list(dirnames):
            if _excluded(name):
                dirnames.remove(name)
                out.append(f"{(rel / name).as_posix()}/")
        out.extend((rel / name).as_posix() for name in filenames if _excluded(name))
    return sorted(out)


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDES)


def entrypoint(spec: JobSpec) -> str:
    """The shell command the cluster runs, relative to the uploaded working dir."""
    path, _, attr = spec.target.partition(":")
    root = Path(spec.working_dir).resolve()
    file = Path(path).resolve()
    if not file.is_file() and not Path(path).is_absolute():
        file = (root / path).resolve()  # a path relative to the working dir
    if not file.is_file():
        raise ValidationError(f"no such pipeline file: {path}")
    if not file.is_relative_to(root):
        raise ValidationError(f"{path} is outside the working dir {root}: "
                              "pass --working-dir containing it")
    rel = file.relative_to(root).as_posix()
    if spec.python:
        if attr:
            raise ValidationError("--python runs FILE.py as a script: drop ':TARGET'")
        cmd = ["python", rel]
    else:
        cmd = ["digestflow", "run", f"{rel}:{attr}" if attr else rel]
    return shlex.join([*cmd, *spec.args])


def runtime_env(spec: JobSpec, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"working_dir": str(Path(spec.working_dir).resolve()),
            "excludes": list(EXCLUDES), "env_vars": job_env(spec, environ)}


def client(address: str) -> Any:
    """A JobSubmissionClient for ``http://HOST:8265`` carrying the auth token."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address, headers=auth_headers())


def submit(spec: JobSpec, address: str, *, submission_id: str | None = None) -> str:
    """Submit ``spec`` as a Ray job; returns its submission id."""
    return client(address).submit_job(
        entrypoint=entrypoint(spec), runtime_env=runtime_env(spec),
        submission_id=submission_id, metadata={"digestflow.target": spec.target},
    )


def follow(address: str, job_id: str, out: TextIO = sys.stdout) -> str:
    """Stream the job's logs to ``out`` until it ends; returns its final status."""
    jobs = client(address)

    async def tail() -> None:
        async for chunk in jobs.tail_job_logs(job_id):
            out.write(chunk)
            out.flush()

    asyncio.run(tail())
    return wait(address, job_id, jobs=jobs)


def wait(address: str, job_id: str, *, timeout: float = 3600.0, jobs: Any = None) -> str:
    """Poll until the job reaches a terminal status; returns it."""
    import time

    jobs = jobs or client(address)
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        status = str(jobs.get_job_status(job_id).value)
        if status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)
