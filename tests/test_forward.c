/* rnnck_forward against real PyTorch 1.13 (fixtures/forward/torch, made by
 * fixtures/forward/make_forward_goldens.py), streaming, and compute dtypes. */
#include "forward_case.h"
#include "forward/forward_internal.h"
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

static const char *isa_name(int isa) {
    return isa == RNNCK__ISA_AVX512 ? "AVX-512" : isa == RNNCK__ISA_AVX2 ? "AVX2" : "none (OpenBLAS only)";
}

/* Logs the recurrent-kernel paths this CPU cannot run, so a green run says
 * what it did not cover. */
static void log_skipped_isas(const char *test) {
    for (int isa = rnnck__rec_cpu_isa() + 1; isa <= RNNCK__ISA_AVX512; isa++)
        cr_log_warn("%s: skipped the %s path: this CPU lacks it", test, isa_name(isa));
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
        cr_log_info("wide batches, isa %s: float32 max abs err %.3g, float64 max rel err %.3g", isa_name(isa), e32.max_abs,
                    e64.max_rel);
    }
    rnnck__rec_force_isa(-1);
    cr_log_info("this CPU's best recurrent kernel set: %s", isa_name(rnnck__rec_cpu_isa()));
    log_skipped_isas("wide batches");
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

static bool same_bytes(const rnnck_tensor *a, const rnnck_tensor *b, size_t es) {
    if (!a || !b) return a == b;
    return rnnck_tensor_numel(a) == rnnck_tensor_numel(b) &&
           memcmp(rnnck_tensor_cdata(a), rnnck_tensor_cdata(b), (size_t)rnnck_tensor_numel(a) * es) == 0;
}

/* OpenBLAS's process-wide thread count (a test may read it; rnnck restores it). */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

/* Modules big enough for the team (each product over 2^18 multiply-adds):
 * a bidirectional 2-layer LSTM with projection over unequal lengths, and a
 * GRU with the reset before the product. With B = 37 the float32 recurrent
 * products run on the packed kernels (or OpenBLAS on the no-AVX path); with
 * B = 5 they stay with OpenBLAS's sgemm (narrow batch), with B = 1 with its
 * sgemv; float64 always uses OpenBLAS. On every path this CPU has, 2 and 3
 * threads give bit-identical results to one (every OpenBLAS product is cut
 * into the same fixed blocks whatever the thread count, blas_blocks.h; the
 * packed products sum every element in the same order however their panels
 * are split), float32 agrees with float64, and OpenBLAS's own thread count is
 * what it was before the call. */
static void check_threads_agree(rnnck_cell cell, int lbr, int64_t proj, int64_t B, bool no_workers) {
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
    const int64_t T = 6, xs[3] = {T, B, 40}, ls[1] = {B};
    rnnck_tensor *x, *len;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, xs, &x), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_new(RNNCK_I64, 1, ls, &len), RNNCK_OK);
    float *xd = rnnck_tensor_data(x);
    for (int64_t i = 0; i < T * B * 40; i++) xd[i] = (float)sin(0.37 * (double)i);
    int64_t *ld = rnnck_tensor_data(len);
    for (int64_t b = 0; b < B; b++) ld[b] = 1 + (b * 5) % T;

    const int blas_before = openblas_get_num_threads();
    for (int isa = RNNCK__ISA_NONE; isa <= rnnck__rec_cpu_isa(); isa++) {
        rnnck__rec_force_isa(isa);
        for (int f64 = 0; f64 < 2; f64++) {
            const rnnck_dtype dt = f64 ? RNNCK_F64 : RNNCK_F32;
            const size_t es = f64 ? 8 : 4;
            unsigned long c0 = rnnck__rec_calls(isa);
            run_out one = run_with(m, x, len, 1, dt);
            unsigned long c1 = rnnck__rec_calls(isa);
            for (int threads = 2; threads <= 3; threads++) {
                unsigned long c2 = rnnck__rec_calls(isa);
                rnnck__team_fail_for_tests(no_workers);
                run_out more = run_with(m, x, len, threads, dt);
                rnnck__team_fail_for_tests(0);
                unsigned long c3 = rnnck__rec_calls(isa);
                cr_expect_str_eq(rnnck_errmsg(), "", "a successful forward leaves no message");
                cr_expect_eq(openblas_get_num_threads(), blas_before, "OpenBLAS's thread count not restored");
                const bool packed = !f64 && isa != RNNCK__ISA_NONE && c1 > c0;
                if (packed && !no_workers)
                    cr_expect_gt(c3 - c2, c1 - c0, "%d threads did not split the packed products (%lu vs %lu calls)",
                                 threads, c3 - c2, c1 - c0);
                if (no_workers) cr_expect_eq(c3 - c2, c1 - c0, "no workers, yet the products were split");
                cr_expect(same_bytes(one.y, more.y, es), "%s B=%lld isa %s %s: output differs between 1 and %d threads",
                          rnnck_cell_name(cell), (long long)B, isa_name(isa), rnnck_dtype_name(dt), threads);
                cr_expect(same_bytes(one.hn, more.hn, es), "%s B=%lld isa %s %s: h_n differs between 1 and %d threads",
                          rnnck_cell_name(cell), (long long)B, isa_name(isa), rnnck_dtype_name(dt), threads);
                cr_expect(same_bytes(one.cn, more.cn, es), "%s B=%lld isa %s %s: c_n differs between 1 and %d threads",
                          rnnck_cell_name(cell), (long long)B, isa_name(isa), rnnck_dtype_name(dt), threads);
                free_run(&more);
            }
            if (!f64) {
                run_out ref = run_with(m, x, len, 1, RNNCK_F64);
                ferr e = {0, 0, 0};
                fc_compare("output", "threads", one.y, ref.y, F32_ATOL, F32_RTOL, &e);
                fc_compare("h_n", "threads", one.hn, ref.hn, F32_ATOL, F32_RTOL, &e);
                cr_log_info("%s B=%lld isa %s: float32 vs float64: max abs err %.3g", rnnck_cell_name(cell),
                            (long long)B, isa_name(isa), e.max_abs);
                free_run(&ref);
            }
            free_run(&one);
        }
    }
    rnnck__rec_force_isa(-1);
    log_skipped_isas("threads");
    rnnck_tensor_free(x);
    rnnck_tensor_free(len);
    rnnck_model_free(m);
}

Test(forward, two_and_three_threads_give_the_same_bits_as_one_lstm_proj) {
    check_threads_agree(RNNCK_CELL_LSTM, 1, 96, 37, false);
}
Test(forward, two_and_three_threads_give_the_same_bits_as_one_gru_reset_first) {
    check_threads_agree(RNNCK_CELL_GRU, 0, 0, 37, false);
}
/* Narrow batches: the float32 recurrent products stay with OpenBLAS too. */
Test(forward, two_and_three_threads_give_the_same_bits_as_one_narrow_batch) {
    check_threads_agree(RNNCK_CELL_LSTM, 1, 96, 5, false);
}
Test(forward, two_and_three_threads_give_the_same_bits_as_one_batch_of_one) {
    check_threads_agree(RNNCK_CELL_GRU, 1, 0, 1, false);
}
/* When no worker thread can be started the call still succeeds, on one thread. */
Test(forward, failing_to_start_workers_falls_back_to_one_thread) {
    check_threads_agree(RNNCK_CELL_LSTM, 1, 96, 37, true);
}

/* The host program's OpenBLAS setting is its own: a call with opts->threads
 * leaves it as it was, and so does a call that follows it. */
Test(forward, leaves_openblas_thread_count_as_it_was) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 8;
    info.hidden_size = 16;
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 3, 0, 0), RNNCK_OK);
    const int64_t xs[3] = {4, 2, 8};
    rnnck_tensor *x;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, xs, &x), RNNCK_OK);
    const int before = openblas_get_num_threads();
    openblas_set_num_threads(2);
    for (int threads = 0; threads <= 3; threads++) {
        run_out r = run_with(m, x, NULL, threads, RNNCK_F32);
        cr_expect_eq(openblas_get_num_threads(), 2, "opts->threads = %d changed OpenBLAS's count to %d", threads,
                     openblas_get_num_threads());
        free_run(&r);
    }
    openblas_set_num_threads(before);
    rnnck_tensor_free(x);
    rnnck_model_free(m);
}

/* ---- the input projections, computed block by block into a ring ---- */

/* One module of the ring test. T*B spans several 512-position blocks and is
 * a multiple of none of them; B = 11 puts a step across two blocks, B = 32
 * divides a block, B = 3 takes the batch-major layout. */
typedef struct ring_case {
    const char *what;
    rnnck_cell cell;
    int bidirectional, reverse;
    int64_t H, T, B;
    bool unequal_lengths;
} ring_case;

static void check_ring_case(const ring_case *rc) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, rc->cell);
    info.input_size = 8;
    info.hidden_size = rc->H;
    info.num_layers = 2;
    info.bidirectional = rc->bidirectional;
    info.reverse = rc->reverse;
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s: %s", rc->what, rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 11, 0, 0), RNNCK_OK);
    const int64_t T = rc->T, B = rc->B, xs[3] = {T, B, 8}, ls[1] = {B};
    rnnck_tensor *x, *len = NULL;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, xs, &x), RNNCK_OK);
    float *xd = rnnck_tensor_data(x);
    for (int64_t i = 0; i < T * B * 8; i++) xd[i] = (float)sin(0.11 * (double)i);
    if (rc->unequal_lengths) {
        cr_assert_eq(rnnck_tensor_new(RNNCK_I64, 1, ls, &len), RNNCK_OK);
        int64_t *ld = rnnck_tensor_data(len);
        for (int64_t b = 0; b < B; b++) ld[b] = T - (b * 37) % T;
    }
    for (int f64 = 0; f64 < 2; f64++) {
        const rnnck_dtype dt = f64 ? RNNCK_F64 : RNNCK_F32;
        const size_t es = f64 ? 8 : 4;
        /* Reference: a ring that holds the whole sequence, each direction's
         * projection computed in one go, as before the ring. */
        rnnck__forward_ring_for_tests(1 << 20);
        unsigned long f0 = rnnck__forward_fills();
        run_out whole = run_with(m, x, len, 1, dt);
        unsigned long whole_fills = rnnck__forward_fills() - f0;
        for (int64_t blocks = 1; blocks <= 3; blocks++)
            for (int threads = 1; threads <= 2; threads++) {
                rnnck__forward_ring_for_tests(blocks);
                f0 = rnnck__forward_fills();
                run_out ring = run_with(m, x, len, threads, dt);
                unsigned long fills = rnnck__forward_fills() - f0;
                rnnck__forward_ring_for_tests(0);
                /* Where the ring may be small, it is filled more often. */
                if (!(rc->unequal_lengths && (rc->bidirectional || rc->reverse)) && blocks == 1)
                    cr_expect_gt(fills, whole_fills, "%s %s: a 1-block ring took %lu fills, the whole one %lu",
                                 rc->what, rnnck_dtype_name(dt), fills, whole_fills);
                cr_expect(same_bytes(whole.y, ring.y, es), "%s %s: output differs with a %lld-block ring, %d threads",
                          rc->what, rnnck_dtype_name(dt), (long long)blocks, threads);
                cr_expect(same_bytes(whole.hn, ring.hn, es), "%s %s: h_n differs with a %lld-block ring, %d threads",
                          rc->what, rnnck_dtype_name(dt), (long long)blocks, threads);
                cr_expect(same_bytes(whole.cn, ring.cn, es), "%s %s: c_n differs with a %lld-block ring, %d threads",
                          rc->what, rnnck_dtype_name(dt), (long long)blocks, threads);
                free_run(&ring);
            }
        if (!f64) { /* and the whole thing is right: float32 against float64 */
            run_out ref = run_with(m, x, len, 1, RNNCK_F64);
            ferr e = {0, 0, 0};
            fc_compare("output", rc->what, whole.y, ref.y, F32_ATOL, F32_RTOL, &e);
            fc_compare("h_n", rc->what, whole.hn, ref.hn, F32_ATOL, F32_RTOL, &e);
            free_run(&ref);
        }
        free_run(&whole);
    }
    rnnck__forward_ring_for_tests(0);
    rnnck_tensor_free(x);
    rnnck_tensor_free(len);
    rnnck_model_free(m);
}

/* The ring's size changes which blocks are computed when, never their
 * bits: output, h_n and c_n are bit-identical with a ring of 1, 2 or 3
 * blocks (one fill per block or two) and with one holding the whole
 * sequence, at 1 and 2 threads. GRU H=100 bidirectional has a block of gate
 * rows straddling its two directions (computed once for each); LSTM H=128
 * bidirectional (4H = 512, one block) projects each direction from its own
 * W_ih, not from a stacked copy. The
 * one-direction modules have 2 layers, the second running in place in the
 * output while the ring projects its input ahead of it. */
Test(forward, ring_of_input_projections_gives_the_same_bits_whatever_its_size) {
    const ring_case cases[] = {
        {"LSTM B=11 T=150", RNNCK_CELL_LSTM, 0, 0, 16, 150, 11, false},
        {"LSTM B=32 T=41", RNNCK_CELL_LSTM, 0, 0, 16, 41, 32, false},
        {"GRU H=100 bidirectional B=11 T=150", RNNCK_CELL_GRU, 1, 0, 100, 150, 11, false},
        {"LSTM H=128 bidirectional B=11 T=150", RNNCK_CELL_LSTM, 1, 0, 128, 150, 11, false},
        {"LSTM reverse-only B=11 T=150", RNNCK_CELL_LSTM, 0, 1, 16, 150, 11, false},
        {"LSTM B=11 T=150 unequal lengths", RNNCK_CELL_LSTM, 0, 0, 16, 150, 11, true},
        {"GRU bidirectional B=11 T=150 unequal lengths", RNNCK_CELL_GRU, 1, 0, 100, 150, 11, true},
        {"GRU bidirectional batch-major B=3 T=700", RNNCK_CELL_GRU, 1, 0, 100, 700, 3, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_ring_case(&cases[i]);
}
