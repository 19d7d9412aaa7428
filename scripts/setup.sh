#!/usr/bin/env bash
# Installs what rnnck needs to build and test on Debian 12 (skips what is there).
# Usage: scripts/setup.sh [--crosscheck]   (--crosscheck adds python3-torch & co.
# for the optional cross-check tier and for regenerating fixtures, and npm's
# onnxruntime-node 1.30 in tests/crosscheck/ort for the ONNX Runtime tier)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libhdf5-dev hdf5-tools zlib1g-dev libopenblas-dev
      libcriterion-dev libzip-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev libcjson-dev libsnappy-dev
      libisal-dev)
if [ "${1:-}" = "--crosscheck" ]; then
  pkgs+=(python3-torch python3-numpy python3-h5py python3-onnx python3-snappy python3-crcmod)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ "${1:-}" = "--crosscheck" ]; then
  # ONNX Runtime for the cross-check tier (tests/crosscheck/ort): npm's
  # onnxruntime-node ships the CPU library; --ignore-scripts skips its
  # install script (it only fetches GPU extras). Skipped when present.
  ort_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/crosscheck/ort"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup: node/npm not found: the ONNX Runtime cross-check will be skipped"
  elif (cd "$ort_dir" && node -e 'process.exit(require("onnxruntime-node/package.json").version.startsWith("1.30.") ? 0 : 1)') 2>/dev/null; then
    echo "setup: onnxruntime-node already in $ort_dir/node_modules"
  else
    echo "setup: npm ci --ignore-scripts (onnxruntime-node 1.30) in $ort_dir"
    (cd "$ort_dir" && npm ci --ignore-scripts --no-audit --no-fund)
  fi
  # TF.js 4.22 (Keras layers in pure JS) in fixtures/keras: the fixture
  # scripts' goldens and the model_config cross-check use it.
  tfjs_dir="$(cd "$(dirname "$0")/.." && pwd)/fixtures/keras"
  if ! command -v npm >/dev/null; then
    :
  elif (cd "$tfjs_dir" && node -e 'process.exit(require("@tensorflow/tfjs/package.json").version === "4.22.0" ? 0 : 1)') 2>/dev/null; then
    echo "setup: @tensorflow/tfjs already in $tfjs_dir/node_modules"
  else
    echo "setup: npm ci --ignore-scripts (@tensorflow/tfjs 4.22) in $tfjs_dir"
    (cd "$tfjs_dir" && npm ci --ignore-scripts --no-audit --no-fund)
  fi
fi
