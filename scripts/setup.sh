#!/usr/bin/env bash
# Create .venv (once) and install digestflow with its test extra into it.
# torch is optional: it is installed only from a local wheelhouse
# (pip's --no-index), so this never downloads a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    # torch itself only from a local wheelhouse (fails fast where there is none),
    # then its small pure-Python dependencies from the index.
    if .venv/bin/python -m pip install -q --no-index --no-deps 'torch==2.13.0' 2>/dev/null; then
        .venv/bin/python -m pip install -q 'torch==2.13.0'
    else
        echo "setup: no local torch wheel; torch tests will be skipped"
    fi
fi
