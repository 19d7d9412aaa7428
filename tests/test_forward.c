/* rnnck_forward against real PyTorch 1.13 (fixtures/forward/torch, made by
 * fixtures/forward/make_forward_goldens.py), streaming, and compute dtypes. */
#include "forward_case.h"
#include "forward/rec_gemm.h"
#include "forward/rec_team.h"

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
 * select the packed recurrent kernels (lib/forward/rec_gemm.c) and the float64 ones
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

/* ---- the thread count: the packed products split across a worker team ---- */

typedef struct run_out {
    rnnck_tensor *y, *hn, *cn;
} run_out;

static run_out run_with(rnnck_model *m, const rnnck_tensor *x, const rnnck_tensor *len, int threads,
                        rnnck_dtype compute) {
    rnnck_forward_opts opts = {threads, compute};
    run_out r = {0};
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, len, &opts, &r.y, &r.hn, &r.cn), RNNCK_OK, "%s", rnnck_errmsg());
    return r;
}

static void free_run(run_out *r) {
    rnnck_tensor_free(r->y);
    rnnck_tensor_free(r->hn);
    rnnck_tensor_free(r->cn);
}

static bool same_bytes(const rnnck_tensor *a, const rnnck_tensor *b) {
    if (!a || !b) return a == b;
    return rnnck_tensor_numel(a) == rnnck_tensor_numel(b) &&
           memcmp(rnnck_tensor_cdata(a), rnnck_tensor_cdata(b), (size_t)rnnck_tensor_numel(a) * 4) == 0;
}

/* Modules big enough for the team (each product over 2^18 multiply-adds):
 * a bidirectional 2-layer LSTM with projection over unequal lengths, and a
 * GRU with the reset before the product. Two threads give bit-identical
 * float32 results to one (every output element is summed in the same order
 * however the row panels are split), and float32 agrees with float64. */
static void check_threads_agree(rnnck_cell cell, int lbr, int64_t proj, bool no_workers) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.input_size = 40;
    info.hidden_size = 128;
    info.num_layers = 2;
    info.bidirectional = 1;
    info.proj_size = proj;
    info.linear_before_reset = lbr;
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 7, 0, 0), RNNCK_OK);
    const int64_t T = 6, B = 37, xs[3] = {T, B, 40}, ls[1] = {B};
    rnnck_tensor *x, *len;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, xs, &x), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_new(RNNCK_I64, 1, ls, &len), RNNCK_OK);
    float *xd = rnnck_tensor_data(x);
    for (int64_t i = 0; i < T * B * 40; i++) xd[i] = (float)sin(0.37 * (double)i);
    int64_t *ld = rnnck_tensor_data(len);
    for (int64_t b = 0; b < B; b++) ld[b] = 1 + (b * 5) % T;

    unsigned long c0 = rnnck__rec_calls(rnnck__rec_cpu_isa());
    run_out one = run_with(m, x, len, 1, RNNCK_F32);
    unsigned long c1 = rnnck__rec_calls(rnnck__rec_cpu_isa());
    rnnck__team_fail_for_tests(no_workers);
    run_out two = run_with(m, x, len, 2, RNNCK_F32);
    rnnck__team_fail_for_tests(0);
    cr_expect_str_eq(rnnck_errmsg(), "", "a successful forward leaves no message");
    unsigned long c2 = rnnck__rec_calls(rnnck__rec_cpu_isa());
    run_out ref = run_with(m, x, len, 1, RNNCK_F64);
    if (rnnck__rec_cpu_isa() != RNNCK__ISA_NONE && !no_workers)
        cr_expect_gt(c2 - c1, c1 - c0, "two threads did not split the packed products (%lu vs %lu calls)", c2 - c1,
                     c1 - c0);
    if (no_workers) cr_expect_eq(c2 - c1, c1 - c0, "no workers, yet the products were split");
    cr_expect(same_bytes(one.y, two.y), "output differs between 1 and 2 threads");
    cr_expect(same_bytes(one.hn, two.hn), "h_n differs between 1 and 2 threads");
    cr_expect(same_bytes(one.cn, two.cn), "c_n differs between 1 and 2 threads");
    ferr e = {0, 0, 0};
    fc_compare("output", "threads", two.y, ref.y, F32_ATOL, F32_RTOL, &e);
    fc_compare("h_n", "threads", two.hn, ref.hn, F32_ATOL, F32_RTOL, &e);
    cr_log_info("%s: float32 with 2 threads vs float64: max abs err %.3g", rnnck_cell_name(cell), e.max_abs);
    free_run(&one);
    free_run(&two);
    free_run(&ref);
    rnnck_tensor_free(x);
    rnnck_tensor_free(len);
    rnnck_model_free(m);
}

Test(forward, two_threads_give_the_same_float32_bits_as_one_lstm_proj) {
    check_threads_agree(RNNCK_CELL_LSTM, 1, 96, false);
}
Test(forward, two_threads_give_the_same_float32_bits_as_one_gru_reset_first) {
    check_threads_agree(RNNCK_CELL_GRU, 0, 0, false);
}
/* When no worker thread can be started the call still succeeds, on one thread. */
Test(forward, failing_to_start_workers_falls_back_to_one_thread) { check_threads_agree(RNNCK_CELL_LSTM, 1, 96, true); }
