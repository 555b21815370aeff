"""Connect to Ray: reuse a connection, join ``address``/RAY_ADDRESS, or start one.

An embedded local cluster is started with ``address="local"`` so a run never
silently attaches to some other local cluster. What digestflow's workers need
from the driver's environment (store URI, verify policy) travels in the job's
runtime environment. The pickle key never does (a runtime env is job
metadata, readable through the Jobs API and the dashboard): an embedded
cluster's workers inherit this process's environment, and a cluster's nodes
have their own key (docs/security.md).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import ray

from runner.background import in_background

log = logging.getLogger("digestflow")

FORWARDED_ENV = ("DIGESTFLOW_STORE", "DIGESTFLOW_VERIFY")
SECRET_ENV = "DIGESTFLOW_SECRET"


@dataclass(frozen=True)
class Connection:
    embedded: bool  # True when this process started the cluster itself
    address: str


_STARTED_HERE = False


class _ReportedFailures(logging.Filter):
    """Drops Ray's "Unhandled error" log of a node failure digestflow reports itself,
    and its warning that Ray was started off the main thread (which we do on purpose).

    A failed node's output refs (and its skipped descendants') are never
    fetched, so Ray logs each one's traceback when it is freed. Errors that
    did not come out of a digestflow node pass through untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text.startswith("SIGTERM handler") and record.threadName == "digestflow-loop":
            return False  # digestflow starts Ray off the main thread on purpose (notebooks)
        return not (text.startswith("Unhandled error") and "NodeFailed: node " in text)


def quiet_reported_failures() -> None:
    """Install the filter on Ray's worker logger (once)."""
    ray_log = logging.getLogger("ray._private.worker")
    if not any(isinstance(f, _ReportedFailures) for f in ray_log.filters):
        ray_log.addFilter(_ReportedFailures())


def ensure_ray(address: str | None = None) -> Connection:
    """Connect once per process; later runs reuse the connection."""
    global _STARTED_HERE
    quiet_reported_failures()
    if ray.is_initialized():
        return Connection(embedded=_STARTED_HERE, address=_gcs_address())
    target = address or os.environ.get("RAY_ADDRESS")
    given = _job_env_vars()  # inside a Ray job these already reach every worker
    warn_if_job_carries_key(given)
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ and k not in given}
    runtime_env = {"env_vars": env} if env else None
    if target:
        ray.init(address=target, runtime_env=runtime_env, log_to_driver=True)
        return Connection(embedded=False, address=_gcs_address())
    # Ray's processes die with the *thread* that spawns them (PR_SET_PDEATHSIG):
    # start them from the main thread or the process-long background thread.
    in_background(lambda: ray.init(address="local", runtime_env=runtime_env,
                                   include_dashboard=False, configure_logging=False))
    _STARTED_HERE = True
    log.info("digestflow: started an embedded local Ray cluster")
    return Connection(embedded=True, address=_gcs_address())


def warn_if_job_carries_key(job_env_vars: set[str]) -> None:
    """A job submitted with the key in its runtime env has published it: say so."""
    if SECRET_ENV in job_env_vars:
        log.warning("digestflow: this job's runtime env carries %s, so the Jobs API and the "
                    "dashboard show the key to anyone who can reach them: give each node "
                    "its own (DIGESTFLOW_SECRET_FILE, docs/security.md) and rotate this "
                    "one", SECRET_ENV)


def _job_env_vars() -> set[str]:
    """env_vars of the submitted job's runtime env: ray.init refuses to set them again."""
    import json

    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return set()
    try:
        return set((json.loads(raw).get("runtime_env") or {}).get("env_vars") or {})
    except (ValueError, AttributeError):
        return set()


def _gcs_address() -> str:
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # older Ray: not exposed
        return ""
