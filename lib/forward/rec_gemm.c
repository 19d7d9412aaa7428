/* Packed recurrent GEMM for the float32 forward pass (see rec_gemm.h).
 *
 * Packed layout: panel p holds rows [p*mr, p*mr + mr) of W, k-major: element
 * (i, k) of the panel sits at k*mr + i, rows past m are zero. A tile computes
 * mr rows by nr batch columns with all accumulators in registers, broadcasting
 * one W value per row and FMA-ing it into the vectors of h's row k.
 *
 * Tile shapes were measured on the project machine (AMD EPYC, AVX-512) for
 * W (4096, 1024) and batch n: 12x32 ran at 96-111 GFLOP/s for n = 32, 6x64 at
 * 103-110 for n = 64, 12x16 best for n <= 16 and n = 48; OpenBLAS sgemm on
 * the same products ran at 42-83 GFLOP/s. rnnck__rec_pick weighs the padding
 * a shape wastes on n against those efficiencies. */
#include "forward/rec_gemm.h"

#include <stdatomic.h>
#include <stdbool.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define REC_X86 1
#include <immintrin.h>
#define REC_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define REC_AVX2 __attribute__((target("avx2,fma")))
#endif

typedef void (*rec_tile_fn)(const float *a, const float *h, int64_t ldh, int64_t K, float *z, int64_t ldz, int rows,
                            int width, int accumulate);

struct rnnck__rec_kernel {
    const char *name;
    int isa;
    int mr, nr;
    double efficiency; /* relative speed on full tiles, from the measurements above */
    rec_tile_fn tile;
};

#ifdef REC_X86
#define TILE_MR 12
#define TILE_NV 1
#define TILE_NAME tile512_12x16
#include "forward/rec_tile_avx512.h"
#define TILE_MR 12
#define TILE_NV 2
#define TILE_NAME tile512_12x32
#include "forward/rec_tile_avx512.h"
#define TILE_MR 6
#define TILE_NV 4
#define TILE_NAME tile512_6x64
#include "forward/rec_tile_avx512.h"
#define TILE_MR 6
#define TILE_NV 2
#define TILE_NAME tile2_6x16
#include "forward/rec_tile_avx2.h"

static const rnnck__rec_kernel kernels[] = {
    {"avx512 12x16", RNNCK__ISA_AVX512, 12, 16, 0.85, tile512_12x16},
    {"avx512 12x32", RNNCK__ISA_AVX512, 12, 32, 0.95, tile512_12x32},
    {"avx512 6x64", RNNCK__ISA_AVX512, 6, 64, 1.00, tile512_6x64},
    {"avx2 6x16", RNNCK__ISA_AVX2, 6, 16, 1.00, tile2_6x16},
};
#define N_KERNELS (sizeof kernels / sizeof kernels[0])

int rnnck__rec_cpu_isa(void) {
    __builtin_cpu_init();
    /* libgcc's checks include the OS saving the wider registers (XCR0). */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return RNNCK__ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return RNNCK__ISA_AVX2;
    return RNNCK__ISA_NONE;
}
#else
int rnnck__rec_cpu_isa(void) { return RNNCK__ISA_NONE; }
#endif

static _Atomic int forced_isa = -1;
static _Atomic unsigned long calls[3];

unsigned long rnnck__rec_calls(int isa) { return isa >= 0 && isa < 3 ? calls[isa] : 0; }

void rnnck__rec_force_isa(int isa) { forced_isa = isa; }

const rnnck__rec_kernel *rnnck__rec_pick(int64_t n, int64_t m, int64_t k) {
    /* A narrow batch leaves most vector lanes of a tile empty. That only pays
     * when W streams from L3 or memory at every step, which the packed
     * layout streams better than OpenBLAS (LSTM T=50 H=1024, B=4: 111 ms vs
     * 115; B=8: 138 vs 154). With W in L2 OpenBLAS's small-n path wins
     * (H=256, B=8: 7.1 ms vs 9.8; B=2: 1.5 vs 5.3); from n = 12 the tiles
     * win either way (H=256, B=12: 11.6 vs 12.8). n = 1 stays with sgemv,
     * which reads W once and needs no packing. */
    const int64_t l2_bytes = 1 << 20;
    if (n < 4 || k < 1 || (n < 12 && m <= l2_bytes / 4 / k)) return NULL;
#ifdef REC_X86
    int isa = rnnck__rec_cpu_isa();
    if (forced_isa >= 0 && forced_isa < isa) isa = forced_isa;
    const rnnck__rec_kernel *best = NULL;
    double best_cost = 0;
    for (size_t i = 0; i < N_KERNELS; i++) {
        const rnnck__rec_kernel *cand = &kernels[i];
        if (cand->isa != isa) continue;
        double padded = (double)((n + cand->nr - 1) / cand->nr * cand->nr);
        double cost = padded / cand->efficiency;
        if (!best || cost < best_cost) {
            best = cand;
            best_cost = cost;
        }
    }
    return best;
#else
    return NULL;
#endif
}

const char *rnnck__rec_name(const rnnck__rec_kernel *k) { return k ? k->name : "openblas"; }

int64_t rnnck__rec_panels(const rnnck__rec_kernel *kern, int64_t m) { return (m + kern->mr - 1) / kern->mr; }

size_t rnnck__rec_packed_len(const rnnck__rec_kernel *kern, int64_t m, int64_t k) {
    if (m < 0 || k < 0 || m > INT64_MAX - kern->mr) return 0;
    int64_t rows = rnnck__rec_panels(kern, m) * kern->mr, len;
    if (__builtin_mul_overflow(rows, k, &len) || (uint64_t)len > SIZE_MAX / sizeof(float)) return 0;
    return (size_t)len;
}

void rnnck__rec_pack(const rnnck__rec_kernel *kern, const float *w, int64_t ldw, int64_t m, int64_t k, float *dst) {
    const int mr = kern->mr;
    for (int64_t r0 = 0; r0 < m; r0 += mr)
        for (int64_t kk = 0; kk < k; kk++)
            for (int i = 0; i < mr; i++) *dst++ = r0 + i < m ? w[(r0 + i) * ldw + kk] : 0.0f;
}

void rnnck__rec_apply(const rnnck__rec_kernel *kern, const float *packed, int64_t m, int64_t k, const float *h,
                      int64_t n, float *z, int64_t p0, int64_t p1, bool accumulate) {
    const int mr = kern->mr, nr = kern->nr;
    atomic_fetch_add_explicit(&calls[kern->isa], 1, memory_order_relaxed);
    /* h (k, n) is read whole by every panel; for a recurrent step (n = batch,
     * at most a few hundred KiB) it stays in L2. */
    for (int64_t p = p0; p < p1; p++) {
        const float *a = packed + p * mr * k;
        int64_t r0 = p * mr;
        int rows = (int)(m - r0 < mr ? m - r0 : mr);
        for (int64_t c0 = 0; c0 < n; c0 += nr) {
            int width = (int)(n - c0 < nr ? n - c0 : nr);
            kern->tile(a, h + c0, n, k, z + r0 * n + c0, n, rows, width, accumulate);
        }
    }
}
