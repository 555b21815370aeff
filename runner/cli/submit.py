"""``digestflow submit FILE.py[:TARGET] --address http://HOST:8265 [--follow]``.

A thin wrapper over Ray's Job Submission SDK (``cluster.jobs``): the cluster
runs ``digestflow run FILE.py[:TARGET]`` (or ``python FILE.py``) in a copy of
the working directory, with the store URI in the job's environment. The pickle
key never goes with the job (each node has its own, docs/security.md); what
the upload leaves out is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

SHOWN = 20  # excluded paths listed by name; the rest are counted


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "submit", help="send a pipeline to a Ray cluster as a Ray job",
        description="Submit FILE.py[:TARGET] to a Ray cluster's Jobs API. The job runs "
        "`digestflow run FILE.py[:TARGET]` (or `python FILE.py` with --python) in a copy "
        "of --working-dir; DIGESTFLOW_STORE reaches the driver and every worker through the "
        "job's runtime environment. The pickle key is never sent (DIGESTFLOW_SECRET is "
        "refused in --env): every node reads its own (DIGESTFLOW_SECRET_FILE, see "
        "docs/security.md). .git, *.env, key files, venvs and caches are not uploaded; the "
        "excluded paths are printed. The auth token is read from RAY_AUTH_TOKEN, "
        "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token.")
    p.add_argument("target", help="FILE.py[:TARGET], inside --working-dir")
    p.add_argument("--address", default=os.environ.get("RAY_API_SERVER_ADDRESS")
                   or os.environ.get("RAY_ADDRESS"),
                   help="dashboard address, e.g. http://127.0.0.1:8265 "
                   "(default $RAY_API_SERVER_ADDRESS or $RAY_ADDRESS)")
    p.add_argument("--store", help="shared store URI for the job (default: $DIGESTFLOW_STORE "
                   "here, else the cluster's own DIGESTFLOW_STORE)")
    p.add_argument("--working-dir", default=".", help="directory uploaded with the job "
                   "(default: .)")
    p.add_argument("--python", action="store_true",
                   help="run `python FILE.py` (a script calling run()) instead of "
                   "`digestflow run`")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment variable for the job (repeatable)")
    p.add_argument("--submission-id", help="job id to use (default: Ray picks one)")
    p.add_argument("--follow", action="store_true",
                   help="stream the job's logs and exit with its status")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from cluster import jobs
    from runner.errors import ValidationError

    if not args.address:
        raise ValidationError("--address is required (the dashboard, e.g. "
                              "http://127.0.0.1:8265; see `ray dashboard ray-cluster.yaml`)")
    env = dict(_pair(e) for e in args.env)
    spec = jobs.JobSpec(target=args.target, working_dir=args.working_dir, store=args.store,
                        python=args.python, env=env)
    jobs.runtime_env(spec)  # refuses a secret in --env before anything is printed or sent
    _report_exclusions(jobs, spec)
    job_id = jobs.submit(spec, args.address, submission_id=args.submission_id)
    print(f"submitted {job_id}: {jobs.entrypoint(spec)}", flush=True)
    if not args.follow:
        print(f"logs: digestflow logs {job_id} --address {args.address} --follow")
        return 0
    status = jobs.follow(args.address, job_id)
    print(f"job {job_id} {status}")
    return 0 if status == "SUCCEEDED" else 1


def _report_exclusions(jobs: Any, spec: Any) -> None:
    """Say on stderr which secrets stay here and which paths are not uploaded."""
    for name in jobs.held_back():
        print(f"note: {name} is set here but not sent with the job (a job's env is "
              f"readable job metadata); the cluster uses its nodes' own key: "
              f"{jobs.HOW_TO_KEY}", file=sys.stderr)
    paths = jobs.excluded_paths(spec.working_dir)
    if paths:
        more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
        print(f"not uploaded: {', '.join(paths[:SHOWN])}{more}", file=sys.stderr)


def _pair(text: str) -> tuple[str, str]:
    from runner.errors import ValidationError

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValidationError(f"--env {text!r}: expected NAME=VALUE")
    return name, value
