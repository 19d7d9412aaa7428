/* rnnck_forward against real PyTorch 1.13 (fixtures/forward/torch, made by
 * fixtures/forward/make_forward_goldens.py), streaming, and compute dtypes. */
#include "forward_case.h"

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
