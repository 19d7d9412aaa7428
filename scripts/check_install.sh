#!/usr/bin/env bash
# Installs rnnck into a temporary prefix, then builds and runs docs/examples
# against the INSTALLED library twice: via pkg-config and via find_package.
# Usage: scripts/check_install.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -1)
export PKG_CONFIG_PATH="$libdir/pkgconfig" LD_LIBRARY_PATH="$libdir"
test -f "$prefix/share/man/man1/rnnck.1"
# The isolated HDF5 reader, found from the library's (and the tool's) location.
test -x "$prefix/libexec/rnnck/rnnck-h5-reader"
"$prefix/bin/rnnck" init "$work/lstm.h5" --cell lstm --input-size 5 --hidden-size 4 --seed 1 >/dev/null
PATH=/nonexistent "$prefix/bin/rnnck" check "$work/lstm.h5" >/dev/null
echo "pkg-config: rnnck $(pkg-config --modversion rnnck)"
for ex in read_tensor run_forward; do
  cc -std=c11 -Wall -Wextra -Werror docs/examples/$ex.c $(pkg-config --cflags --libs rnnck) -lm -o "$work/$ex"
  "$work/$ex" "$work/lstm.h5"
done
cmake -S docs/examples/cmake -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cm" >/dev/null
"$work/cm/read_tensor" "$work/lstm.h5" >/dev/null
"$work/cm/run_forward" "$work/lstm.h5"
echo "install check: ok (pkg-config and find_package consumers built and ran)"
