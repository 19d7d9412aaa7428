/* OpenBLAS products in fixed blocks (see blas_blocks.h). */
#include "forward/blas_blocks.h"
#include "core/internal.h"

#include <cblas.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <stdatomic.h>

/* Below this many multiply-adds a product runs on the calling thread. A
 * hand-off to the team costs about a microsecond on an idle machine, but on a
 * loaded one a step's small product waited for a descheduled worker: LSTM
 * T=200 B=1 H=256 (2^18 multiply-adds a step) took 15-20 ms at 2 threads
 * against 4 at one when its sgemv was split. From 2^20 a block is long
 * enough to pay for that. */
#define TEAM_MIN_MACS 1048576.0

/* The blocks of rows [r0, r1) and columns [c0, c1) of p. */
typedef struct blocks_job {
    const rnnck__blas_product *p;
    int64_t r0, c0, row_blocks, nblocks;
    _Atomic int64_t next;
} blocks_job;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int64_t block_rows(const rnnck__blas_product *p) {
    return p->N <= RNNCK__NARROW_COLS ? RNNCK__BLOCK_ROWS_NARROW : RNNCK__BLOCK_ROWS_WIDE;
}

int64_t rnnck__blas_block_rows(const rnnck__blas_product *p) { return block_rows(p); }

int64_t rnnck__blas_blocks(const rnnck__blas_product *p) {
    return ceil_div(p->M, block_rows(p)) * ceil_div(p->N, RNNCK__BLOCK_COLS);
}

/* Block i of job j: rows [r0, r0 + m), columns [c0, c0 + n) of C, written at
 * p->c + (r0 - j->r0) * ldc + (c0 - j->c0). */
static void run_block(const blocks_job *j, int64_t i) {
    const rnnck__blas_product *p = j->p;
    const int64_t rows = block_rows(p);
    const int64_t r0 = j->r0 + (i % j->row_blocks) * rows, c0 = j->c0 + (i / j->row_blocks) * RNNCK__BLOCK_COLS;
    const int m = (int)(p->M - r0 < rows ? p->M - r0 : rows);
    const int n = (int)(p->N - c0 < RNNCK__BLOCK_COLS ? p->N - c0 : RNNCK__BLOCK_COLS);
    const int k = (int)p->K, lda = (int)p->lda, ldb = (int)p->ldb, ldc = (int)p->ldc;
    /* Offset of column c0 of op(B): row c0 of a (N, K) B, column c0 of a (K, N) one. */
    const int64_t boff = p->trans_b ? c0 * p->ldb : c0;
    const enum CBLAS_TRANSPOSE tb = p->trans_b ? CblasTrans : CblasNoTrans;
    /* op(B)'s single column: contiguous in a (1, K) B, stride ldb in a (K, 1) one. */
    const int incx = p->trans_b ? 1 : ldb;
    if (p->dbl) {
        const double *a = (const double *)p->a + r0 * p->lda, *b = (const double *)p->b + boff;
        double *c = (double *)p->c + (r0 - j->r0) * p->ldc + (c0 - j->c0);
        const double beta = p->accumulate ? 1 : 0;
        if (p->N == 1)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1, a, lda, b, incx, beta, c, ldc);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    } else {
        const float *a = (const float *)p->a + r0 * p->lda, *b = (const float *)p->b + boff;
        float *c = (float *)p->c + (r0 - j->r0) * p->ldc + (c0 - j->c0);
        const float beta = p->accumulate ? 1 : 0;
        if (p->N == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, m, k, 1, a, lda, b, incx, beta, c, ldc);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
    }
}

/* Every part takes the next unclaimed block until none is left. */
static void blocks_part(void *arg, int part, int nparts) {
    blocks_job *j = arg;
    (void)part, (void)nparts;
    for (int64_t i; (i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < j->nblocks;)
        run_block(j, i);
}

void rnnck__blas_run_part(rnnck__team *team, const rnnck__blas_product *p, int64_t r0, int64_t r1, int64_t c0,
                          int64_t c1) {
    if (r1 <= r0 || c1 <= c0) return;
    const int64_t row_blocks = ceil_div(r1 - r0, block_rows(p));
    blocks_job j = {p, r0, c0, row_blocks, row_blocks * ceil_div(c1 - c0, RNNCK__BLOCK_COLS), 0};
    if (team && j.nblocks >= 2 && (double)(r1 - r0) * (double)(c1 - c0) * (double)p->K >= TEAM_MIN_MACS)
        rnnck__team_run(team, blocks_part, &j);
    else
        blocks_part(&j, 0, 1);
}

void rnnck__blas_run(rnnck__team *team, const rnnck__blas_product *p) {
    rnnck__blas_run_part(team, p, 0, p->M, 0, p->N);
}

int rnnck__blas_threads(void) { return openblas_get_num_threads(); }

int rnnck__blas_single(void) {
    int previous = openblas_get_num_threads();
    if (previous != 1) openblas_set_num_threads(1);
    return previous;
}

void rnnck__blas_restore(int previous) {
    if (previous != openblas_get_num_threads()) openblas_set_num_threads(previous);
}

/* OpenBLAS 0.3.21's work buffer as Debian builds it (BUFFER_SIZE 128 MiB,
 * mapped with a guard page: 134,225,920 bytes in strace), and what a further
 * thread maps besides its own buffer: glibc's 64 MiB malloc arena and an
 * 8 MiB stack. Measured: a forward pass (LSTM 256 -> 512, T 50, B 16) ran
 * at one thread from 201 MiB of RLIMIT_AS and at two from 404 MiB, about
 * 65 MiB of which the process had mapped before the pass. */
#define BLAS_BUFFER_BYTES (((uint64_t)128 << 20) + ((uint64_t)64 << 10))
#define THREAD_EXTRA_BYTES ((uint64_t)72 << 20)

/* The most threads proven to fit (their buffers stay mapped once made). */
static atomic_int room_proven;

static bool can_map(uint64_t bytes) {
    void *p = mmap(NULL, (size_t)bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    munmap(p, (size_t)bytes);
    return true;
}

rnnck_status rnnck__blas_room(int *threads) {
    struct rlimit rl;
    if (*threads <= atomic_load(&room_proven) || getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return RNNCK_OK;
    for (int n = *threads; n >= 1; n--) {
        uint64_t need = BLAS_BUFFER_BYTES * (uint64_t)n + THREAD_EXTRA_BYTES * (uint64_t)(n - 1);
        if (can_map(need)) {
            *threads = n;
            int seen = atomic_load(&room_proven);
            while (seen < n && !atomic_compare_exchange_weak(&room_proven, &seen, n)) {
            }
            return RNNCK_OK;
        }
    }
    return rnnck__err(RNNCK_E_NOMEM,
                      "rnnck_forward: the address-space limit (RLIMIT_AS, ulimit -v: %llu MiB) leaves less than the "
                      "%llu MiB OpenBLAS maps for its work buffer; raise the limit",
                      (unsigned long long)(rl.rlim_cur >> 20), (unsigned long long)(BLAS_BUFFER_BYTES >> 20));
}