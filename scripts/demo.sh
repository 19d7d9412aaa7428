#!/usr/bin/env bash
# The main job on shipped examples: set up, build, then create, inspect and
# check a checkpoint. Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { echo "\$ $*"; "$@"; }
run build/rnnck init "$out/lstm.h5" --cell lstm --input-size 10 --hidden-size 8 --num-layers 2 \
    --bidirectional --init orthogonal --forget-bias 1 --seed 42
run build/rnnck inspect "$out/lstm.h5"
run build/rnnck check "$out/lstm.h5"
echo "demo: ok"
