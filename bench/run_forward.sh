#!/bin/sh
# Forward-pass benchmark: rnnck (OpenBLAS) against PyTorch 1.13 in the same
# run, on the rows of issue #3, at 1 and 2 threads.
#   bench/run_forward.sh [BUILD_DIR]   (default: build-bench, a Release build)
# Prints a markdown table per forward call: median and best wall time (ms),
# the ratio torch/rnnck of each (> 1: rnnck faster), GFLOP/s at the median
# (GEMM multiply-adds), each process's peak RSS, and CPU ms per call. Rows
# alternate rnnck and torch so both see the same machine load.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build-bench}
if [ ! -x "$build/bench/bench_forward" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DRNNCK_TESTS=OFF >/dev/null
    cmake --build "$build" --target bench_forward -j2 >/dev/null
fi
bench=$build/bench/bench_forward

echo "| config | thr | rnnck med | torch med | ratio med | rnnck best | torch best | ratio best | rnnck GFLOP/s | torch GFLOP/s | rnnck RSS MiB | torch RSS MiB | rnnck CPU ms | torch CPU ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
while read -r label cell T B I H L bidir; do
    [ -z "$label" ] && continue
    for threads in 1 2; do
        r=$("$bench" "$cell" "$T" "$B" "$I" "$H" "$L" "$bidir" "$threads")
        # torch.set_num_threads(1) alone still lets torch's OpenMP pool use every
        # core (measured: CPU time twice the wall time); OMP_NUM_THREADS pins it.
        t=$(OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/forward_torch.py" "$cell" "$T" "$B" "$I" "$H" "$L" "$bidir" "$threads")
        echo "$r $t" | awk -v label="$label" -v th="$threads" '{
            printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %.0f | %.0f | %.1f | %.1f |\n",
                label, th, $2, $8, $8 / $2, $3, $9, $9 / $3, $4, $10, $5, $11, $6, $12 }'
    done
done <<ROWS
LSTM_T100_B32_I256_H512_L2 lstm 100 32 256 512 2 0
GRU_T100_B32_I256_H512_L2_bi gru 100 32 256 512 2 1
LSTM_T200_B1_I128_H256 lstm 200 1 128 256 1 0
LSTM_T50_B64_I1024_H1024 lstm 50 64 1024 1024 1 0
ROWS
