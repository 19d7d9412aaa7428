/* The packed recurrent product (lib/forward/rec_gemm.c), checked against a float64
 * reference sum on shapes that fill and part-fill every tile shape, for every
 * instruction set this CPU has. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward/rec_gemm.h"

/* Deterministic values in [-1, 1). */
static void fill(float *x, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) * (1.0 / 8388608.0) - 1.0);
    }
}

/* Runs z = z0 + W.h (or W.h) through `kern` and compares with a float64 sum:
 * each element within 1e-5 * (1 + sum |w h|), float32 rounding of k terms. */
static void check_product(const rnnck__rec_kernel *kern, int64_t m, int64_t k, int64_t n, bool accumulate) {
    float *w = malloc(sizeof(float) * (size_t)(m * k)), *h = malloc(sizeof(float) * (size_t)(k * n));
    float *z = malloc(sizeof(float) * (size_t)(m * n)), *z0 = malloc(sizeof(float) * (size_t)(m * n));
    float *packed = malloc(sizeof(float) * rnnck__rec_packed_len(kern, m, k));
    cr_assert(w && h && z && z0 && packed);
    fill(w, m * k, (uint32_t)(m * 131 + k));
    fill(h, k * n, (uint32_t)(n * 7 + 3));
    fill(z0, m * n, 99);
    memcpy(z, z0, sizeof(float) * (size_t)(m * n));
    rnnck__rec_pack(kern, w, k, m, k, packed);
    rnnck__rec_apply(kern, packed, m, k, h, n, z, 0, rnnck__rec_panels(kern, m), accumulate);
    int bad = 0;
    for (int64_t i = 0; i < m && !bad; i++)
        for (int64_t j = 0; j < n && !bad; j++) {
            double ref = accumulate ? z0[i * n + j] : 0, mag = fabs(ref);
            for (int64_t q = 0; q < k; q++) {
                ref += (double)w[i * k + q] * h[q * n + j];
                mag += fabs((double)w[i * k + q] * h[q * n + j]);
            }
            if (!(fabs(z[i * n + j] - ref) <= 1e-5 * (1 + mag))) {
                cr_expect_fail("%s m=%lld k=%lld n=%lld: z[%lld,%lld] = %.9g, expected %.9g", rnnck__rec_name(kern),
                               (long long)m, (long long)k, (long long)n, (long long)i, (long long)j, z[i * n + j],
                               ref);
                bad = 1;
            }
        }
    free(w);
    free(h);
    free(z);
    free(z0);
    free(packed);
}

/* The batch widths that reach each kernel, with full and partial tiles. */
static const int64_t widths[] = {4, 5, 11, 12, 13, 16, 17, 20, 31, 32, 33, 40, 47, 48, 57, 63, 64, 65, 100, 128, 130};
static const int64_t rows[] = {1, 5, 6, 7, 11, 12, 13, 25, 48};
static const int64_t depths[] = {1, 3, 17, 64};

Test(rec_gemm, every_kernel_matches_a_float64_sum_on_full_and_partial_tiles) {
    int kernels_seen = 0;
    const char *seen[8] = {0};
    for (int isa = RNNCK__ISA_AVX2; isa <= rnnck__rec_cpu_isa(); isa++) {
        rnnck__rec_force_isa(isa);
        for (size_t a = 0; a < sizeof widths / sizeof *widths; a++)
            for (size_t b = 0; b < sizeof rows / sizeof *rows; b++)
                for (size_t c = 0; c < sizeof depths / sizeof *depths; c++) {
                    /* a W too big for L2, so narrow widths pick a kernel too */
                    const rnnck__rec_kernel *kern = rnnck__rec_pick(widths[a], 1 << 20, 1);
                    cr_assert(kern, "isa %d: no kernel for n=%lld", isa, (long long)widths[a]);
                    check_product(kern, rows[b], depths[c], widths[a], (a + b + c) % 2 == 0);
                    int known = 0;
                    for (int i = 0; i < kernels_seen; i++) known |= seen[i] == rnnck__rec_name(kern);
                    if (!known && kernels_seen < 8) seen[kernels_seen++] = rnnck__rec_name(kern);
                }
    }
    rnnck__rec_force_isa(-1);
    for (int i = 0; i < kernels_seen; i++) cr_log_info("checked kernel %s", seen[i]);
    /* AVX2 has one tile shape, AVX-512 three: all of them were exercised. */
    int expected = rnnck__rec_cpu_isa() == RNNCK__ISA_AVX512 ? 4 : (rnnck__rec_cpu_isa() == RNNCK__ISA_AVX2 ? 1 : 0);
    cr_expect_eq(kernels_seen, expected);
}

Test(rec_gemm, panel_ranges_compose_to_the_whole_product_bit_for_bit) {
    const rnnck__rec_kernel *kern = rnnck__rec_pick(40, 1 << 20, 1);
    if (!kern) {
        cr_log_warn("no packed kernel on this CPU: nothing to split");
        return;
    }
    const int64_t m = 77, k = 33, n = 40, panels = rnnck__rec_panels(kern, m);
    float *w = malloc(sizeof(float) * m * k), *h = malloc(sizeof(float) * k * n);
    float *whole = calloc(m * n, sizeof(float)), *parts = calloc(m * n, sizeof(float));
    float *packed = malloc(sizeof(float) * rnnck__rec_packed_len(kern, m, k));
    fill(w, m * k, 5);
    fill(h, k * n, 6);
    rnnck__rec_pack(kern, w, k, m, k, packed);
    rnnck__rec_apply(kern, packed, m, k, h, n, whole, 0, panels, false);
    for (int64_t p = panels; p > 0; p -= 2)
        rnnck__rec_apply(kern, packed, m, k, h, n, parts, p > 1 ? p - 2 : 0, p, false);
    cr_expect_eq(memcmp(whole, parts, sizeof(float) * m * n), 0, "split product differs from the whole");
    free(w);
    free(h);
    free(whole);
    free(parts);
    free(packed);
}

Test(rec_gemm, pick_leaves_narrow_batches_over_small_weights_to_openblas) {
    cr_expect_null(rnnck__rec_pick(1, 4096, 1024), "n = 1 is sgemv's");
    cr_expect_null(rnnck__rec_pick(3, 4096, 1024));
    cr_expect_null(rnnck__rec_pick(8, 1024, 256), "W of 1 MiB fits L2: OpenBLAS");
    if (rnnck__rec_cpu_isa() == RNNCK__ISA_NONE) return;
    cr_expect_not_null(rnnck__rec_pick(8, 4096, 1024), "W of 16 MiB streams: packed");
    cr_expect_not_null(rnnck__rec_pick(12, 8, 8));
    if (rnnck__rec_cpu_isa() == RNNCK__ISA_AVX512) {
        cr_expect_str_eq(rnnck__rec_name(rnnck__rec_pick(16, 64, 64)), "avx512 12x16");
        cr_expect_str_eq(rnnck__rec_name(rnnck__rec_pick(32, 64, 64)), "avx512 12x32");
        cr_expect_str_eq(rnnck__rec_name(rnnck__rec_pick(64, 64, 64)), "avx512 6x64");
        cr_expect_str_eq(rnnck__rec_name(rnnck__rec_pick(48, 64, 64)), "avx512 12x16");
    }
    rnnck__rec_force_isa(RNNCK__ISA_NONE);
    cr_expect_null(rnnck__rec_pick(64, 4096, 1024), "forced to OpenBLAS");
    rnnck__rec_force_isa(-1);
}

Test(rec_gemm, packed_length_refuses_overflow) {
    const rnnck__rec_kernel *kern = rnnck__rec_pick(64, 1 << 20, 1);
    if (!kern) return;
    cr_expect_eq(rnnck__rec_packed_len(kern, INT64_MAX / 2, 4), 0);
    cr_expect_eq(rnnck__rec_packed_len(kern, INT64_MAX, 1), 0, "rounding m up to whole panels must not overflow");
    cr_expect_eq(rnnck__rec_packed_len(kern, 12, 12), 144);
    const size_t mr = rnnck__rec_packed_len(kern, 12, 1) / (size_t)rnnck__rec_panels(kern, 12);
    cr_expect_eq(rnnck__rec_packed_len(kern, 13, 2), (size_t)rnnck__rec_panels(kern, 13) * mr * 2,
                 "rows padded to whole panels");
}
