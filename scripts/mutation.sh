#!/usr/bin/env bash
# Mutation score of the modules where a silent bug serves a wrong cached result.
#
#   scripts/mutation.sh [keys] [runner] [storage]     (default: all three, one at a time)
#
# Each group runs mutmut 3 on a copy of the working tree (under .mutation/<group>/),
# with its fast, Ray-free test selection, then prints one table row per group; the
# surviving mutants are listed in .mutation/<group>/survivors.txt (inspect one with
# `cd .mutation/<group>/repo && ../../../.venv/bin/python -m mutmut show NAME`).
# Takes tens of minutes per group on 2 cores: it is not part of CI. See docs/testing.md.
#
# Environment: PYTHON (default .venv/bin/python, from scripts/setup.sh), MAX_CHILDREN
# (parallel mutants, default 2), NICE (default "nice -n 19": the machine may be shared).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
MAX_CHILDREN=${MAX_CHILDREN:-2}
read -r -a NICE <<< "${NICE:-nice -n 19}"
OUT=$ROOT/.mutation

if ! "$PY" -c 'import mutmut' 2>/dev/null; then
    "$PY" -m pip install -q 'mutmut>=3.8,<4'
fi

# group -> files to mutate, and pytest arguments selecting the tests that may kill them.
# Left out: Ray and S3 variants (the same code, far slower), tests in subprocesses
# (mutmut cannot see what they cover) and the slowest property/scale tests. The
# forkserver mode keeps pytest, Ray and blake3's threads out of the forking process
# (plain fork mode deadlocks on their locks and reports false timeouts).
declare -A FILES TESTS
FILES[keys]='"keys/signer.py", "keys/encoder.py", "keys/_format.py", "keys/containers.py"'
TESTS[keys]='"tests/keys", "-k", "not fresh_interpreter and not across_processes and not script_module and not test_properties and not deep_chain and not torch_tensors"'
FILES[runner]='"runner/plan.py", "runner/scheduler.py", "runner/validate.py"'
TESTS[runner]='"tests/runner/test_scheduler.py", "tests/runner/test_validation.py",
    "tests/runner/test_conformance.py", "tests/runner/test_failures.py",
    "tests/runner/test_sign_order.py", "-k", "not ray and not s3 and not infeasible"'
FILES[storage]='"storage/manifest.py", "storage/refs.py", "storage/codecs/base.py"'
TESTS[storage]='"tests/storage", "-k", "not s3 and not killed_writer and not concurrent_secret and not imports_neither and not large_array"'

run_group() {
    local group=$1 work=$OUT/$1
    rm -rf "$work"
    mkdir -p "$work/repo"
    git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work/repo"
    cat >> "$work/repo/pyproject.toml" <<EOF

[tool.mutmut]
source_paths = ["keys", "storage", "runner", "cluster"]
only_mutate = [${FILES[$group]}]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]
pytest_add_cli_args_test_selection = [${TESTS[$group]}]
process_isolation = "forkserver"
use_git_change_detection = false
EOF
    echo "== $group: mutating ${FILES[$group]}" >&2
    (cd "$work/repo" && "${NICE[@]}" "$PY" -m mutmut run --max-children "$MAX_CHILDREN" \
        > "$work/run.log" 2>&1) || { echo "mutmut failed for $group: see $work/run.log" >&2; return 1; }
    (cd "$work/repo" && "$PY" -m mutmut export-cicd-stats > /dev/null \
        && "$PY" -m mutmut results > "$work/survivors.txt")
    cp "$work/repo/mutants/mutmut-cicd-stats.json" "$work/stats.json"
}

print_table() {
    "$PY" - "$OUT" "$@" <<'EOF'
import json, sys
out, groups = sys.argv[1], sys.argv[2:]
print(f"{'group':<8} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} {'score':>6}")
for g in groups:
    s = json.load(open(f"{out}/{g}/stats.json"))
    caught = s["killed"] + s["timeout"] + s["segfault"]
    judged = caught + s["survived"] + s["no_tests"] + s["suspicious"]
    score = 100.0 * caught / judged if judged else 0.0
    print(f"{g:<8} {s['total']:>7} {s['killed']:>6} {s['timeout']:>7} {s['survived']:>8} "
          f"{s['no_tests']:>8} {score:>5.1f}%")
EOF
}

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(keys runner storage)
for g in "${groups[@]}"; do
    [ -n "${FILES[$g]:-}" ] || { echo "unknown group $g (keys, runner, storage)" >&2; exit 2; }
done
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + local changes'), $(date -u +%F)"
done_groups=()
for g in "${groups[@]}"; do
    run_group "$g" && done_groups+=("$g")
done
[ ${#done_groups[@]} -gt 0 ] && print_table "${done_groups[@]}"
[ ${#done_groups[@]} -eq ${#groups[@]} ]
