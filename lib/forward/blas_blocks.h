/* Private: OpenBLAS products cut into a fixed set of blocks.
 *
 * Why: OpenBLAS 0.3.21's sgemm does not give the same bits at 1 and 2
 * threads, nor when the same product is split into two row or column blocks
 * at one thread (seen on an AMD EPYC Zen 5 with AVX-512 and on Zen 3 with
 * AVX2). Its results depend on how the product is cut. So rnnck cuts every
 * product itself, into blocks whose shapes depend on the product's shape
 * only, never on the thread count; OpenBLAS runs each block at ONE thread
 * (rnnck_forward sets OpenBLAS to one thread for the call), and rnnck's own
 * team (rec_team.h) hands the blocks out. A block of a given shape and data
 * always gives the same bits, so the whole product does too, whichever thread
 * computes which block. */
#ifndef RNNCK_BLAS_BLOCKS_H
#define RNNCK_BLAS_BLOCKS_H

#include "forward/rec_team.h"

#include <stdbool.h>
#include <stdint.h>

/* Block shape, a function of the product's shape only. Wide products (the
 * input projections, N = T*B or D*GH columns) use 512 x 512 blocks: against
 * one whole-product call at one thread that cost nothing measurable on the
 * project machine (the operand packing OpenBLAS repeats per block is a few
 * percent of a block's work). Narrow ones (the recurrent products OpenBLAS
 * keeps, N = batch <= 16) use 128-row blocks, so that a step's product still
 * splits between threads. */
#define RNNCK__BLOCK_ROWS_WIDE 512
#define RNNCK__BLOCK_ROWS_NARROW 128
#define RNNCK__BLOCK_COLS 512
#define RNNCK__NARROW_COLS 16

/* C (M, N) = A (M, K) . op(B) + beta C, row-major, where op(B) is B^T for a
 * B stored (N, K) (trans_b) or B stored (K, N). Float or double. N == 1
 * runs as a matrix-vector product. */
typedef struct rnnck__blas_product {
    bool dbl, trans_b;
    int64_t M, N, K;
    const void *a;
    int64_t lda;
    const void *b;
    int64_t ldb;
    void *c;
    int64_t ldc;
    bool accumulate; /* beta = 1, else 0 */
} rnnck__blas_product;

/* Number of blocks p is cut into (a function of M and N only). */
int64_t rnnck__blas_blocks(const rnnck__blas_product *p);

/* Rows of p's blocks (RNNCK__BLOCK_ROWS_WIDE or _NARROW, from N alone);
 * their columns are RNNCK__BLOCK_COLS. */
int64_t rnnck__blas_block_rows(const rnnck__blas_product *p);

/* Computes p block by block: on this thread alone when team is NULL or the
 * product is too small to be worth a hand-off, else across the team. Either
 * way every block is the same OpenBLAS call, so the result does not depend
 * on the team. OpenBLAS must be at one thread (see rnnck__blas_single). */
void rnnck__blas_run(rnnck__team *team, const rnnck__blas_product *p);

/* Computes only the blocks of p inside rows [r0, r1) and columns [c0, c1),
 * bounds on p's block boundaries (multiples of the block sizes above, or M
 * and N). Here p->c points at element (r0, c0), with row stride p->ldc. The
 * blocks are cut from p's whole shape, so each is the same OpenBLAS call as
 * in rnnck__blas_run and gives the same bits: a product computed part by
 * part equals the product computed at once. */
void rnnck__blas_run_part(rnnck__team *team, const rnnck__blas_product *p, int64_t r0, int64_t r1, int64_t c0,
                          int64_t c1);

/* Sets OpenBLAS's process-wide thread count to 1 and returns the previous
 * count, for rnnck__blas_restore. */
int rnnck__blas_single(void);
void rnnck__blas_restore(int previous);

/* OpenBLAS's thread count (openblas_get_num_threads). */
int rnnck__blas_threads(void);

/* Under an address-space limit (RLIMIT_AS), the most of *threads (at least
 * 1) for which the process can still map what a forward pass's threads map:
 * OpenBLAS's work buffer per calling thread, and a thread's stack and malloc
 * arena. OpenBLAS retries a failed buffer mapping forever, so a pass that
 * would not fit hangs instead of failing. Lowers *threads to fit (the
 * result does not depend on the count); RNNCK_E_NOMEM naming the limit when
 * not even one thread fits. No limit: RNNCK_OK, *threads as it was. */
rnnck_status rnnck__blas_room(int *threads);

#endif
