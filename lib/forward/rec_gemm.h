/* Private: the recurrent product z += W . h of the float32 forward pass with W
 * packed once per layer instead of once per time step.
 *
 * Why: OpenBLAS's sgemm copies ("packs") both operands into its own panel
 * layout on every call. In a recurrent layer W_hh is the same matrix at every
 * step, so OpenBLAS re-packs it T times; for H=1024 that copy was 16% of the
 * whole forward pass in `perf` (sgemm_oncopy), the gap to oneDNN, which keeps
 * its weights packed. Here W is packed once into row panels of `mr` rows
 * (k-major inside a panel, so the micro-kernel reads it strictly forward) and
 * every step runs hand-written AVX-512 or AVX2 micro-kernels over the
 * feature-major state h (K, N), N = batch.
 *
 * The sums run over k in increasing order for every output element, whatever
 * the kernel, tile or thread split, so results do not depend on the thread
 * count. */
#ifndef RNNCK_REC_GEMM_H
#define RNNCK_REC_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Instruction sets, best last. */
enum { RNNCK__ISA_NONE = 0, RNNCK__ISA_AVX2 = 1, RNNCK__ISA_AVX512 = 2 };

typedef struct rnnck__rec_kernel rnnck__rec_kernel;

/* The kernel for z (m, n) += W (m, k) . h (k, n) on this CPU, or NULL when
 * OpenBLAS is the better choice: no AVX2+FMA, n < 4, or n < 12 with W small
 * enough to stay in the L2 cache. */
const rnnck__rec_kernel *rnnck__rec_pick(int64_t n, int64_t m, int64_t k);

/* Tests only: cap the instruction set used by rnnck__rec_pick (-1: the
 * CPU's best, the default). Not thread-safe; set it before any forward. */
void rnnck__rec_force_isa(int isa);

/* The CPU's best supported instruction set (ignores rnnck__rec_force_isa). */
int rnnck__rec_cpu_isa(void);

/* How many rnnck__rec_apply calls ran with instruction set `isa` in this
 * process: lets tests prove a packed path really ran. */
unsigned long rnnck__rec_calls(int isa);

/* Name of a kernel, e.g. "avx512 12x32", for tests and diagnostics. */
const char *rnnck__rec_name(const rnnck__rec_kernel *k);

/* Floats needed to pack an (m, k) matrix for kernel `kern`; 0 on overflow. */
size_t rnnck__rec_packed_len(const rnnck__rec_kernel *kern, int64_t m, int64_t k);

/* Number of row panels an (m, k) matrix packs into: the unit of work that
 * rnnck__rec_apply's [p0, p1) range splits between threads. */
int64_t rnnck__rec_panels(const rnnck__rec_kernel *kern, int64_t m);

/* Packs w (m, k), row stride ldw, into dst (rnnck__rec_packed_len floats,
 * 64-byte aligned); rows past m are zero. */
void rnnck__rec_pack(const rnnck__rec_kernel *kern, const float *w, int64_t ldw, int64_t m, int64_t k, float *dst);

/* z (m, n) += W (m, k) . h (k, n), or z = W . h when !accumulate, for the
 * rows of panels [p0, p1) only; h and z are row-major with row stride n. */
void rnnck__rec_apply(const rnnck__rec_kernel *kern, const float *packed, int64_t m, int64_t k, const float *h,
                      int64_t n, float *z, int64_t p0, int64_t p1, bool accumulate);

#endif
