/* rnnck_forward against real PyTorch 1.13 (fixtures/forward/torch, made by
 * fixtures/forward/make_forward_goldens.py), streaming, and compute dtypes. */
#include "forward_case.h"
#include "rec_gemm.h"

#define MAX_CASES 256
#define F32_ATOL 2e-5
#define F32_RTOL 2e-4
#define F64_ATOL 1e-13
#define F64_RTOL 1e-12

/* Runs every torch case whose parameters are `dtype` in `compute`; returns
 * the number of cases run. */
static int run_torch_group(rnnck_dtype dtype, rnnck_dtype compute, double atol, double rtol, ferr *e) {
    static char names[MAX_CASES][128];
    int n = fc_list("torch", names, MAX_CASES), ran = 0;
    for (int i = 0; i < n; i++) {
        fcase c;
        fc_open(&c, "torch", names[i]);
        if (c.dtype == dtype) {
            fc_run_and_compare(&c, compute, atol, rtol, e);
            ran++;
        }
        fc_close(&c);
    }
    return ran;
}

Test(forward, matches_pytorch_float32_goldens) {
    ferr e = {0, 0, 0};
    int ran = run_torch_group(RNNCK_F32, RNNCK_F32, F32_ATOL, F32_RTOL, &e);
    cr_expect_geq(ran, 40, "only %d float32 cases", ran);
    cr_log_info("float32 vs torch: %d cases, max abs err %.3g, worst err/tolerance %.3g", ran, e.max_abs,
                e.worst_ratio);
}

Test(forward, matches_pytorch_float64_goldens_to_1e12_relative) {
    ferr e = {0, 0, 0};
    int ran = run_torch_group(RNNCK_F64, RNNCK_F64, F64_ATOL, F64_RTOL, &e);
    cr_expect_geq(ran, 20, "only %d float64 cases", ran);
    cr_log_info("float64 vs torch: %d cases, max abs err %.3g, max rel err %.3g, worst err/tolerance %.3g", ran,
                e.max_abs, e.max_rel, e.worst_ratio);
}

/* Batches of 13 to 64 (fixtures/forward/torch_wide): the float32 cases
 * select the packed recurrent kernels (lib/rec_gemm.c) and the float64 ones
 * the feature-major input projections. Run with every recurrent-product path
 * this CPU has: OpenBLAS only, then the AVX2 and AVX-512 kernels. */
Test(forward, wide_batches_match_pytorch_with_every_recurrent_kernel) {
    static char names[MAX_CASES][128];
    int n = fc_list("torch_wide", names, MAX_CASES);
    cr_expect_geq(n, 8);
    for (int isa = RNNCK__ISA_NONE; isa <= rnnck__rec_cpu_isa(); isa++) {
        rnnck__rec_force_isa(isa);
        unsigned long before = rnnck__rec_calls(isa);
        ferr e32 = {0, 0, 0}, e64 = {0, 0, 0};
        for (int i = 0; i < n; i++) {
            fcase c;
            fc_open(&c, "torch_wide", names[i]);
            if (c.dtype == RNNCK_F32)
                fc_run_and_compare(&c, RNNCK_F32, F32_ATOL, F32_RTOL, &e32);
            else
                fc_run_and_compare(&c, RNNCK_F64, F64_ATOL, F64_RTOL, &e64);
            fc_close(&c);
        }
        if (isa != RNNCK__ISA_NONE)
            cr_expect_gt(rnnck__rec_calls(isa), before, "isa %d: no packed product ran", isa);
        cr_log_info("wide batches, isa %d: float32 max abs err %.3g, float64 max rel err %.3g", isa, e32.max_abs,
                    e64.max_rel);
    }
    rnnck__rec_force_isa(-1);
    cr_log_info("this CPU's best recurrent kernel set: isa %d (0 none, 1 AVX2, 2 AVX-512)", rnnck__rec_cpu_isa());
}

Test(forward, float64_compute_of_float32_parameters_matches_pytorch) {
    ferr e = {0, 0, 0};
    int ran = run_torch_group(RNNCK_F32, RNNCK_F64, F32_ATOL, F32_RTOL, &e);
    cr_expect_geq(ran, 40);
    cr_log_info("float64 compute vs torch float32: %d cases, max abs err %.3g", ran, e.max_abs);
}

Test(forward, float32_compute_of_float64_parameters_matches_pytorch) {
    ferr e = {0, 0, 0};
    int ran = run_torch_group(RNNCK_F64, RNNCK_F32, F32_ATOL, F32_RTOL, &e);
    cr_expect_geq(ran, 20);
    cr_log_info("float32 compute vs torch float64: %d cases, max abs err %.3g", ran, e.max_abs);
}
