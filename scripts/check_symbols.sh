#!/bin/sh
# Fails if the shared library exports any symbol not prefixed rnnck_ (or the
# internal rnnck__ prefix, which must stay hidden).
set -eu
lib=$1
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v -E '^(rnnck_[a-z0-9]|_init$|_fini$|_edata$|_end$|__bss_start$)' || true)
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^rnnck__' || true)
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c -E '^rnnck_[a-z]' || true)
if [ -n "$bad$internal" ]; then
  echo "exported symbols outside the rnnck_ API:"; echo "$bad$internal"; exit 1
fi
echo "ok: $count rnnck_ symbols exported, nothing else"
