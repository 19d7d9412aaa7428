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
  # Some tests run the tool as `nobody`: it must be able to write its reports
  # and read the suppressions (known leaks of HDF5 and glibc, not rnnck's).
  chmod 1777 "$reports"
  cp tests/sanitizer/lsan.supp "$reports/lsan.supp"
  chmod 644 "$reports/lsan.supp"
  export LSAN_OPTIONS=suppressions=$reports/lsan.supp:print_suppressions=0
  # Full (slow) unwinding on malloc: HDF5 and glibc are built without frame
  # pointers, and a suppression can only match a frame the stack reaches.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0:log_path=$reports/asan
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan
  status=0
  ctest --test-dir build-asan --output-on-failure -j2 || status=$?
  leaks=$(grep -l -E "LeakSanitizer|runtime error" "$reports"/asan* "$reports"/ubsan* 2>/dev/null || true)
  if [ -n "$leaks" ]; then
    echo "sanitizer reports of leaks or undefined behaviour (a failure even where Criterion counted the test as passed):"
    cat $leaks
    status=1
  elif [ "$status" -ne 0 ] && ls "$reports"/asan* "$reports"/ubsan* >/dev/null 2>&1; then
    cat "$reports"/asan* "$reports"/ubsan* 2>/dev/null
  fi
  n=$(ls "$reports" | grep -c -E '^(asan|ubsan)\.' || true)
  echo "sanitizer reports collected: $n (leaks/UB: $(echo -n "$leaks" | grep -c . || true))"
  exit $status
else
  scripts/build.sh build
  ctest --test-dir build --output-on-failure -j2
fi
