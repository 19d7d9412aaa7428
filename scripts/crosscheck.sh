#!/usr/bin/env bash
# Cross-check tier: real PyTorch loads the .pt files rnnck writes, and runs
# Keras fixtures and real TF checkpoints converted to .pt against their goldens.
# Runs test_pytorch/test_npz so they dump what they wrote, then loads each file
# with torch.load(weights_only=True) and load_state_dict(strict=True).
# Usage: scripts/crosscheck.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
xc=$(mktemp -d)
trap 'rm -rf "$xc"' EXIT
export RNNCK_CROSSCHECK_DIR="$xc" RNNCK_FIXTURES="$PWD/fixtures"
"$build/test_pytorch" --jobs 2 >/dev/null
"$build/test_npz" --jobs 2 >/dev/null
/usr/bin/python3 tests/crosscheck/check_pt_roundtrip.py "$xc" fixtures/pytorch
# Keras: rnnck convert x.h5 y.pt, then torch reproduces the Keras goldens.
/usr/bin/python3 tests/crosscheck/check_keras_torch.py "$build/rnnck" fixtures
# --to keras: h5py reads the written files as Keras's load_weights does.
/usr/bin/python3 tests/crosscheck/check_keras_written.py "$build/rnnck" fixtures
# TensorFlow: the real TF1 checkpoints converted to .pt reproduce their TF goldens in torch.
/usr/bin/python3 tests/crosscheck/check_tf_torch.py "$build/rnnck" fixtures
