#!/usr/bin/env bash
# Installs what rnnck needs to build and test on Debian 12 (skips what is there).
# Usage: scripts/setup.sh [--crosscheck]   (--crosscheck adds python3-torch & co.
# for the optional cross-check tier and for regenerating fixtures)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libhdf5-dev hdf5-tools zlib1g-dev libopenblas-dev
      libcriterion-dev libzip-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev libcjson-dev)
if [ "${1:-}" = "--crosscheck" ]; then
  pkgs+=(python3-torch python3-numpy python3-h5py python3-onnx)
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
