#!/usr/bin/env bash
# Set up .venv, then run the image pipeline on an embedded local Ray four
# times: cold, fully cached, after a one-parameter change, and after a change
# that leaves the masks as they were (early cutoff).
# The store starts empty each time so the demonstration is the same.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DIGESTFLOW_STORE="${DIGESTFLOW_STORE:-.digestflow-demo}"
rm -rf "$DIGESTFLOW_STORE"
exec .venv/bin/python examples/demo.py
