"""``digestflow logs JOB --address http://HOST:8265 [--follow]``: a Ray job's output.

Like ``ray job logs``, but it sends the cluster's auth token (``cluster.jobs``)
so it works with token auth without setting RAY_AUTH_MODE.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("logs", help="print (or --follow) a submitted job's logs",
                       description="Print the logs of a Ray job (e.g. one started by "
                       "`digestflow submit`), with --follow until it ends, exiting with its "
                       "status. The auth token is read from RAY_AUTH_TOKEN, "
                       "RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token.")
    p.add_argument("job_id", help="the submission id `digestflow submit` printed")
    add_address(p)
    p.add_argument("--follow", "-f", action="store_true",
                   help="stream new output until the job ends; exit 0 only if it succeeded")
    p.set_defaults(handler=handle)


def add_address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default=os.environ.get("RAY_API_SERVER_ADDRESS")
                   or os.environ.get("RAY_ADDRESS"),
                   help="dashboard address, e.g. http://127.0.0.1:8265 "
                   "(default $RAY_API_SERVER_ADDRESS or $RAY_ADDRESS)")


def handle(args: argparse.Namespace) -> int:
    from cluster import jobs
    from runner.errors import ValidationError

    if not args.address:
        raise ValidationError("--address is required (the dashboard, e.g. "
                              "http://127.0.0.1:8265)")
    if args.follow:
        status = jobs.follow(args.address, args.job_id)
        print(f"job {args.job_id} {status}")
        return 0 if status == "SUCCEEDED" else 1
    sys.stdout.write(jobs.client(args.address).get_job_logs(args.job_id))
    return 0
