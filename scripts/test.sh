#!/usr/bin/env bash
# Set up, build and run the whole test suite through ctest.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: ASan+UBSan build in build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" = "--sanitize" ]; then
  BUILD_TYPE=Debug scripts/build.sh build-asan -DRNNCK_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir build-asan --output-on-failure -j2
else
  scripts/build.sh build
  ctest --test-dir build --output-on-failure -j2
fi
