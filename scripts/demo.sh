#!/usr/bin/env bash
# The main job on shipped fixtures: set up, build, then convert a real PyTorch
# checkpoint (embedding + 2-layer bidirectional LSTM + linear, saved by
# torch.save) to rnnck's HDF5 and back, inspect it, run the forward pass on a
# shipped input and compare with the output real PyTorch produced.
# Usage: scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fx=fixtures/pytorch
run() { echo; echo "\$ $*"; "$@"; }
run build/rnnck convert $fx/demo_model.pt "$out/demo.h5"
run build/rnnck check "$out/demo.h5"
run build/rnnck inspect "$out/demo.h5"
run build/rnnck convert "$out/demo.h5" "$out/demo_roundtrip.pt"
run build/rnnck validate $fx/demo_model.pt "$out/demo_roundtrip.pt"
run build/rnnck forward "$out/demo.h5" --module rnn --input $fx/demo_input.npy --output "$out/y.npy"
# Largest difference between rnnck's output and the one PyTorch saved:
run build/rnnck validate "$out/demo.h5" --module rnn --input $fx/demo_input.npy --expect $fx/demo_output.npy
echo; echo "demo: ok"
