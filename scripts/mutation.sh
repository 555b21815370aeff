#!/usr/bin/env bash
# Mutation score of the modules where a silent bug serves a wrong cached result.
#
#   scripts/mutation.sh [keys] [runner] [storage] [index] [fusion]   (default: the first three, one at a time)
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
TESTS[keys]='"tests/keys", "tests/runner/test_bound_keys.py", "tests/runner/test_prelude.py",
    "-k", "not fresh_interpreter and not across_processes and not script_module and not test_properties and not deep_chain and not torch_tensors"'
FILES[runner]='"runner/plan.py", "runner/scheduler.py", "runner/validate.py", "runner/walk.py",
    "runner/cutoff.py", "runner/execution/ledger.py"'
TESTS[runner]='"tests/runner/test_scheduler.py", "tests/runner/test_validation.py",
    "tests/runner/test_conformance.py", "tests/runner/test_failures.py",
    "tests/runner/test_sign_order.py", "tests/runner/test_cutoff.py",
    "tests/runner/test_lease_tables.py", "tests/runner/test_run_events.py",
    "-k", "not ray and not s3 and not infeasible"'
FILES[storage]='"storage/manifest.py", "storage/refs.py", "storage/codecs/base.py"'
TESTS[storage]='"tests/storage", "-k", "not s3 and not killed_writer and not concurrent_secret and not imports_neither and not large_array"'
FILES[index]='"storage/segments.py", "cluster/entries.py"'
TESTS[index]='"tests/cluster/test_segments.py", "tests/cluster/test_entries.py",
    "-k", "not killed_mid_write"'
FILES[fusion]='"cluster/fusion.py", "runner/dispatch.py"'
TESTS[fusion]='"tests/cluster/test_fusion_plan.py", "tests/cluster/test_fusion_timing.py",
    "tests/runner/test_dispatch_hold.py",
    "tests/runner/test_failures.py", "tests/runner/test_conformance.py",
    "tests/runner/test_cutoff.py", "-k", "not ray and not s3 and not infeasible"'

# Mutants mutmut cannot see: code that runs while a module is imported (the writer
# factories that keys/containers.py calls at import time) was already run, unmutated,
# in the forkserver before any mutant was switched on, so those mutants always
# "survive". Each survivor of these functions is rechecked in a fresh interpreter:
# written into the source with `mutmut apply`, then the group's tests run once.
declare -A RECHECK
RECHECK[keys]='keys.containers.x__write_sequence__ keys.containers.x__write_set__ keys.containers.x__scalar_writer__'

recheck_group() {
    local work=$1 prefixes=$2
    (cd "$work/repo" && "${NICE[@]}" "$PY" - "$PY" "$work" $prefixes <<'EOF2'
import json, shutil, subprocess, sys, tomllib
py, work, prefixes = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = tomllib.load(open("pyproject.toml", "rb"))["tool"]["mutmut"]
args = [*cfg["pytest_add_cli_args"], *cfg["pytest_add_cli_args_test_selection"]]
lines = open(f"{work}/survivors.txt").read().splitlines()
names = [l.split(":")[0].strip() for l in lines if l.strip().endswith(": survived")]
killed, report = set(), []
for name in names:
    if not any(name.startswith(p) for p in prefixes):
        continue
    path = name.split(".x")[0].replace(".", "/") + ".py"
    shutil.copy(path, path + ".orig")
    try:
        subprocess.run([py, "-m", "mutmut", "apply", name], check=True, capture_output=True)
        rc = subprocess.run([py, "-m", "pytest", *args], capture_output=True, timeout=600).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    finally:
        shutil.move(path + ".orig", path)
    if rc != 0:
        killed.add(name)
    report.append(f"{name}: {'killed' if rc != 0 else 'survived'} (fresh interpreter)")
open(f"{work}/rechecked.txt", "w").write("".join(r + "\n" for r in report))
open(f"{work}/survivors.txt", "w").write("".join(
    l + "\n" for l in lines if l.split(":")[0].strip() not in killed))
stats = json.load(open(f"{work}/stats.json"))
stats["killed"] += len(killed)
stats["survived"] -= len(killed)
stats["rechecked"] = len(report)
json.dump(stats, open(f"{work}/stats.json", "w"), indent=4)
EOF2
    )
}

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
    # A second try: under heavy load a timing-sensitive test can fail mutmut's first
    # (unmutated) run, which then stops; the try resumes where the first one stopped.
    (cd "$work/repo" && { "${NICE[@]}" "$PY" -m mutmut run --max-children "$MAX_CHILDREN" \
        || "${NICE[@]}" "$PY" -m mutmut run --max-children "$MAX_CHILDREN"; } \
        > "$work/run.log" 2>&1) || { echo "mutmut failed for $group: see $work/run.log" >&2; return 1; }
    (cd "$work/repo" && "$PY" -m mutmut export-cicd-stats > /dev/null \
        && "$PY" -m mutmut results > "$work/survivors.txt")
    cp "$work/repo/mutants/mutmut-cicd-stats.json" "$work/stats.json"
    [ -z "${RECHECK[$group]:-}" ] || recheck_group "$work" "${RECHECK[$group]}"
}

print_table() {
    "$PY" - "$OUT" "$@" <<'EOF'
import json, sys
out, groups = sys.argv[1], sys.argv[2:]
print(f"{'group':<8} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} {'no tests':>8} {'score':>6}"
      "  (killed includes survivors rechecked in a fresh interpreter)")
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
    [ -n "${FILES[$g]:-}" ] || { echo "unknown group $g (keys, runner, storage, index, fusion)" >&2; exit 2; }
done
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' + local changes'), $(date -u +%F)"
done_groups=()
for g in "${groups[@]}"; do
    run_group "$g" && done_groups+=("$g")
done
[ ${#done_groups[@]} -gt 0 ] && print_table "${done_groups[@]}"
[ ${#done_groups[@]} -eq ${#groups[@]} ]
