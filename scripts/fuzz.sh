#!/bin/sh
# Coverage-guided fuzzing of rnnck's readers with libFuzzer (docs/FUZZING.md).
#   scripts/fuzz.sh SECONDS [TARGET...]      default targets: all of them
#   scripts/fuzz.sh --merge [TARGET...]       add what the runs grew that adds
#                                              coverage to fuzz/corpus/<target>
# Builds the libFuzzer binaries with clang (ASan + UBSan, the library itself
# instrumented for coverage) in build-fuzz-clang/, then runs each target for
# SECONDS on $FUZZ_JOBS cores (default: all). Seeds come from
# fuzz/corpus/<target>; the growing corpus lives in build-fuzz-clang/corpus/,
# crashes, leaks and timeouts in build-fuzz-clang/artifacts/<target>/.
# Exit status 1 if any target found something.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${1:?usage: scripts/fuzz.sh SECONDS|--merge [TARGET...]}
shift
MERGE=0
if [ "$SECONDS_EACH" = "--merge" ]; then MERGE=1; fi
TARGETS=${*:-npy pickle pytorch npz rnnck_h5 onnx tf_bundle safetensors rnnck_h5_reply keras_reply rnnck_h5_walk}
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz-clang}
JOBS=${FUZZ_JOBS:-$(nproc)}

# clang warns about GCC-only pragmas (lib/forward/activation.c's optimize pragma) and
# the build uses -Werror; the flag must come after -Wall, hence a wrapper.
mkdir -p "$BUILD"
printf '#!/bin/sh\nexec clang "$@" -Wno-unknown-pragmas\n' >"$BUILD/clang-wrapper"
chmod +x "$BUILD/clang-wrapper"
# fuzzer-no-link instruments the library objects for coverage; the fuzz
# targets alone link libFuzzer (fuzz/CMakeLists.txt adds -fsanitize=fuzzer).
CC="$BUILD/clang-wrapper" cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRNNCK_SANITIZE=ON -DRNNCK_FUZZ=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
# the isolated HDF5 reader too: round trips through .h5 read back with it
cmake --build "$BUILD" -j"$JOBS" --target rnnck_h5_reader >/dev/null
for t in $TARGETS; do
    cmake --build "$BUILD" -j"$JOBS" --target "fuzz_$t" >/dev/null
done

# The HDF5 readers fork a child per file; the child's own leak check is noise.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "$MERGE" = 1 ]; then
    # libFuzzer's merge adds to fuzz/corpus/<target> only the grown inputs that
    # reach coverage the committed ones do not; the named seeds stay.
    for t in $TARGETS; do
        mkdir -p "$ROOT/fuzz/corpus/$t"
        before=$(ls "$ROOT/fuzz/corpus/$t" | wc -l)
        "$BUILD/fuzz/fuzz_$t" -merge=1 -max_len=16384 -timeout=16 "$ROOT/fuzz/corpus/$t" "$BUILD/corpus/$t" \
            >"$BUILD/merge_$t.log" 2>&1
        echo "== fuzz/corpus/$t: $before -> $(ls "$ROOT/fuzz/corpus/$t" | wc -l) inputs, $(du -sh "$ROOT/fuzz/corpus/$t" | cut -f1)"
    done
    exit 0
fi
found=0
for t in $TARGETS; do
    corpus="$BUILD/corpus/$t"
    artifacts="$BUILD/artifacts/$t"
    mkdir -p "$corpus" "$artifacts"
    echo "== fuzz_$t: $SECONDS_EACH s on $JOBS job(s)"
    # -fork runs the workers as separate processes; -ignore_crashes=1 keeps
    # going after a crash so one bug does not hide the next. The limits are
    # the budget rule's (docs/BUDGETS.md): inputs up to 16 KiB, a second of
    # run time per KB of the largest input, and no single allocation over 64x
    # the largest input (1 MiB) plus libzip's fixed 2 MiB table for a central
    # directory of 65,535 entries; the whole process stays under 2 GiB.
    if ! "$BUILD/fuzz/fuzz_$t" -fork="$JOBS" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$SECONDS_EACH" -timeout=16 -rss_limit_mb=2048 -malloc_limit_mb=4 -max_len=16384 \
        -artifact_prefix="$artifacts/" "$corpus" "$ROOT/fuzz/corpus/$t" >"$BUILD/fuzz_$t.log" 2>&1; then
        found=1
    fi
    n=$(find "$artifacts" -type f | wc -l)
    echo "   $(grep -c '' "$BUILD/fuzz_$t.log") log lines, $n artifact(s) in $artifacts"
    [ "$n" -eq 0 ] || found=1
done
exit $found
