/* Private to the forward pass (lib/forward/). */
#ifndef RNNCK_FORWARD_INTERNAL_H
#define RNNCK_FORWARD_INTERNAL_H

#include "core/internal.h"

/* x86-64: hot element-wise loops get an AVX2+FMA clone, picked at load time
 * when the CPU has it (the default build targets baseline SSE2 only). Off
 * under ASan, whose instrumentation does not mix with ifunc resolvers. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define RNNCK_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RNNCK_VECTOR_CLONES
#endif

/* One forward run, already validated by rnnck_forward. All arrays are in the
 * compute dtype, C-contiguous, time-major. */
typedef struct rnnck__fwd_run {
    rnnck_model *m;
    size_t module;
    const rnnck_module_info *info;
    int64_t T, B;
    int threads;            /* >= 1: rnnck's threads (OpenBLAS runs at one) */
    const int64_t *lengths; /* (B,), each in [1, T]; NULL = all T */
    const void *x;          /* (T, B, I) */
    void *y;                /* (T, B, D*H_out), zero-filled by the caller */
    void *h;                /* (L*D, B, H_out): holds h0 on entry, h_n on return */
    void *c;                /* (L*D, B, H) LSTM: c0 on entry, c_n on return; else NULL */
} rnnck__fwd_run;

/* Tests: the input-projection ring (forward_kernel.h) holds `blocks` blocks
 * of 512 time-major positions (at least what one step spans) instead of its
 * usual size; 0 restores that. Results do not depend on it. */
void rnnck__forward_ring_for_tests(int64_t blocks);
int64_t rnnck__forward_ring_blocks(void);
/* Fills of the ring (products of a run of blocks) in this process, counted
 * for tests. */
void rnnck__forward_count_fill(void);
unsigned long rnnck__forward_fills(void);

rnnck_status rnnck__forward_f32(const rnnck__fwd_run *run);
rnnck_status rnnck__forward_f64(const rnnck__fwd_run *run);

/* In-place activations over n contiguous values (lib/forward/activation.c). The f32
 * sigmoid and tanh use a vectorisable exp accurate to a few ulp. */
void rnnck__act_f32(rnnck_activation a, float *x, int64_t n);
void rnnck__act_f64(rnnck_activation a, double *x, int64_t n);

#endif
