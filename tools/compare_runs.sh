#!/usr/bin/env bash
# Run `make run` from fresh clones of two commits and compare their results
# (tools/compare_runs.py says what counts as the same).
# Usage: tools/compare_runs.sh [BASE] [HEAD] [WORK]   (defaults: 64fbafb HEAD /tmp/compare_runs)
# Both clones use one virtual environment (VENV, default this checkout's .venv), so both sides
# run the same packages; a clone whose results/default/manifest.json already exists at the same
# commit is reused, so the base side can be run once.
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
base=${1:-64fbafb}
head=${2:-HEAD}
work=${3:-/tmp/compare_runs}
venv=${VENV:-$repo/.venv}
mkdir -p "$work"

run_side() {
    local side=$1 commit dir
    commit=$(git -C "$repo" rev-parse "$2^{commit}")
    dir=$work/$side
    if [[ -f $dir/results/default/manifest.json ]] \
        && [[ $(git -C "$dir" rev-parse HEAD) == "$commit" ]]; then
        echo "$side: reusing $dir at $commit"
        return
    fi
    rm -rf "$dir"
    git clone --quiet --no-local "$repo" "$dir"
    git -C "$dir" checkout --quiet "$commit"
    echo "$side: make run at $commit in $dir (log $work/$side.log)"
    # -o: the shared environment counts as installed; the clone never reinstalls it.
    (cd "$dir" && make VENV="$venv" -o "$venv/.installed" run) >"$work/$side.log" 2>&1
}

run_side base "$base"
run_side head "$head"
"$venv/bin/python" "$repo/tools/compare_runs.py" "$work/base/results/default" "$work/head/results/default"
