#!/usr/bin/env bash
# Set up, build and run the whole test suite through ctest.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: ASan+UBSan build in build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ "${1:-}" = "--sanitize" ]; then
  BUILD_TYPE=Debug scripts/build.sh build-asan -DRNNCK_SANITIZE=ON
  # Criterion counts a test that leaks as passed (LeakSanitizer reports when the
  # worker exits, after the verdict), so every sanitizer report goes to a file
  # and any leak report fails the run. Other ASan/UBSan errors abort the test,
  # which Criterion already reports as a crash.
  reports=$(mktemp -d)
  trap 'rm -rf "$reports"' EXIT
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$reports/asan
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan
  status=0
  ctest --test-dir build-asan --output-on-failure -j2 || status=$?
  leaks=$(grep -l -E "LeakSanitizer|runtime error" "$reports"/* 2>/dev/null || true)
  if [ -n "$leaks" ]; then
    echo "sanitizer reports (leaks or undefined behaviour) in a run whose tests passed:"
    cat $leaks
    status=1
  elif [ "$status" -ne 0 ] && ls "$reports"/* >/dev/null 2>&1; then
    cat "$reports"/*
  fi
  n=$(ls "$reports" | wc -l)
  echo "sanitizer reports collected: $n (leaks/UB: $(echo -n "$leaks" | grep -c . || true))"
  exit $status
else
  scripts/build.sh build
  ctest --test-dir build --output-on-failure -j2
fi
