#!/usr/bin/env bash
# Cross-check tier: real PyTorch loads the .pt files rnnck writes, and runs
# Keras fixtures and real TF checkpoints converted to .pt against their goldens, and
# reads the .safetensors files rnnck writes by the published format.
# Runs test_pytorch/test_npz so they dump what they wrote, then loads each file
# with torch.load(weights_only=True) and load_state_dict(strict=True).
# Usage: scripts/crosscheck.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
xc=$(mktemp -d)
trap 'rm -rf "$xc"' EXIT
export RNNCK_CROSSCHECK_DIR="$xc" RNNCK_FIXTURES="$PWD/fixtures" RNNCK_TOOL="$(cd "$build" && pwd)/rnnck"
"$build/test_pytorch" --jobs 2 >/dev/null
"$build/test_npz" --jobs 2 >/dev/null
/usr/bin/python3 tests/crosscheck/check_pt_roundtrip.py "$xc" fixtures/pytorch
# Keras: rnnck convert x.h5 y.pt, then torch reproduces the Keras goldens.
/usr/bin/python3 tests/crosscheck/check_keras_torch.py "$build/rnnck" fixtures
# --to keras: h5py reads the written files as Keras's load_weights does.
/usr/bin/python3 tests/crosscheck/check_keras_written.py "$build/rnnck" fixtures
# --to keras full models: TF.js rebuilds them from model_config alone.
if [ -d fixtures/keras/node_modules/@tensorflow/tfjs ] && command -v node >/dev/null; then
  /usr/bin/python3 tests/crosscheck/check_keras_tfjs.py "$build/rnnck" fixtures
else
  echo "crosscheck: TF.js not installed in fixtures/keras (scripts/setup.sh --crosscheck): model_config check skipped"
fi
# --to onnx: python3-onnx's checker (full_check) accepts the exports, with and
# without --onnx-sequence-lens, and merge modes have their ops and widths.
if /usr/bin/python3 -c "import onnx" 2>/dev/null; then
    /usr/bin/python3 tests/crosscheck/check_onnx_written.py "$build/rnnck" fixtures
else
    echo "check_onnx_written.py skipped: python3-onnx is not installed"
fi
# --to safetensors: read by the published format, bit-exact with torch's tensors.
/usr/bin/python3 tests/crosscheck/check_safetensors_torch.py "$build/rnnck" fixtures
# TensorFlow: the real TF1 checkpoints converted to .pt reproduce their TF goldens in torch.
/usr/bin/python3 tests/crosscheck/check_tf_torch.py "$build/rnnck" fixtures
