#!/usr/bin/env bash
# Set up .venv and run the example pipeline twice on an embedded local Ray:
# the second run is served from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "main job: placeholder until the runner lands"
