/* rnnck_forward under semantics PyTorch lacks: ONNX (peepholes, clip, GRU
 * linear_before_reset 0/1, activation lists per direction) against the ONNX
 * reference helpers, and Keras/TF1 (hard_sigmoid in both definitions, GRU
 * reset_after=False, run-time forget_bias, input_forget) against a NumPy
 * implementation of their documented equations. Goldens are float64; each
 * case is run in float64 (tight) and float32 (PyTorch float32 tolerance). */
#include "forward_case.h"
#include "forward/rec_gemm.h"

#include <float.h>

#define MAX_CASES 64

static int run_group(const char *group, rnnck_dtype compute, double atol, double rtol, ferr *e) {
    static char names[MAX_CASES][128];
    int n = fc_list(group, names, MAX_CASES);
    for (int i = 0; i < n; i++) {
        fcase c;
        fc_open(&c, group, names[i]);
        cr_expect(!rnnck_module_info_is_pytorch(&c.info) || strstr(names[i], "plain") || strstr(names[i], "lbr1"),
                  "%s: case does not exercise non-PyTorch semantics", names[i]);
        fc_run_and_compare(&c, compute, atol, rtol, e);
        fc_close(&c);
    }
    return n;
}

Test(forward_semantics, onnx_reference_float64) {
    ferr e = {0, 0, 0};
    int n = run_group("onnx", RNNCK_F64, 1e-13, 1e-12, &e);
    cr_expect_geq(n, 12);
    cr_log_info("onnx float64: %d cases, max abs err %.3g, max rel %.3g", n, e.max_abs, e.max_rel);
}

Test(forward_semantics, onnx_reference_float32) {
    ferr e = {0, 0, 0};
    int n = run_group("onnx", RNNCK_F32, 2e-5, 2e-4, &e);
    cr_log_info("onnx float32: %d cases, max abs err %.3g", n, e.max_abs);
}

Test(forward_semantics, keras_tf1_equations_float64) {
    ferr e = {0, 0, 0};
    int n = run_group("keras", RNNCK_F64, 1e-13, 1e-12, &e);
    cr_expect_geq(n, 10);
    cr_log_info("keras/tf1 float64: %d cases, max abs err %.3g, max rel %.3g", n, e.max_abs, e.max_rel);
}

Test(forward_semantics, keras_tf1_equations_float32) {
    ferr e = {0, 0, 0};
    int n = run_group("keras", RNNCK_F32, 2e-5, 2e-4, &e);
    cr_log_info("keras/tf1 float32: %d cases, max abs err %.3g", n, e.max_abs);
}

/* Schema 1.1 under Keras's semantics, against TF.js 4.22's layers (float32
 * goldens, so the tolerance is float32's in both compute dtypes): go_backwards
 * with its output in processing order, and every Bidirectional merge mode. */
static int run_keras11(rnnck_dtype compute, ferr *e) {
    static char names[MAX_CASES][128];
    int n = fc_list("keras11", names, MAX_CASES);
    for (int i = 0; i < n; i++) {
        fcase c;
        fc_open(&c, "keras11", names[i]);
        cr_expect(c.info.reverse || c.info.bidirectional, "%s: case exercises neither reverse nor merge", names[i]);
        fc_run_and_compare(&c, compute, 1e-5, 1e-4, e);
        fc_close(&c);
    }
    return n;
}

Test(forward_semantics, keras_go_backwards_and_merge_modes_match_tfjs_float64) {
    ferr e = {0, 0, 0};
    int n = run_keras11(RNNCK_F64, &e);
    cr_expect_geq(n, 10);
    cr_log_info("keras11 (tfjs) float64: %d cases, max abs err %.3g, max rel %.3g", n, e.max_abs, e.max_rel);
}

Test(forward_semantics, keras_go_backwards_and_merge_modes_match_tfjs_float32) {
    ferr e = {0, 0, 0};
    int n = run_keras11(RNNCK_F32, &e);
    cr_log_info("keras11 (tfjs) float32: %d cases, max abs err %.3g, max rel %.3g", n, e.max_abs, e.max_rel);
}

/* The two output orders of a reverse-only module are the same states: the
 * processing order (Keras) is the time order (ONNX) read backwards per
 * sequence, and h_n is the same; with lengths, each sequence from its end. */
Test(forward_semantics, reverse_output_orders_are_the_same_states_reversed_per_sequence) {
    fcase c;
    fc_open(&c, "keras11", "lstm_go_backwards_wide_batch");
    int64_t T = rnnck_tensor_dim(c.input, 0), B = rnnck_tensor_dim(c.input, 1);
    int64_t lens[64];
    cr_assert_leq(B, 64);
    for (int64_t b = 0; b < B; b++) lens[b] = 1 + b % T;
    int64_t ls[1] = {B};
    rnnck_tensor *len;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_I64, 1, ls, lens, sizeof(int64_t) * (size_t)B, &len), RNNCK_OK);
    rnnck_forward_opts o = {1, RNNCK_F64};
    rnnck_tensor *y1, *h1, *y2, *h2;
    cr_assert_eq(rnnck_forward(c.model, 0, c.input, NULL, NULL, len, &o, &y1, &h1, NULL), RNNCK_OK, "%s",
                 rnnck_errmsg());
    rnnck_module_info *info = (rnnck_module_info *)rnnck_model_module(c.model, 0);
    info->output_reversed = 0; /* same module, ONNX's order */
    cr_assert_eq(rnnck_forward(c.model, 0, c.input, NULL, NULL, len, &o, &y2, &h2, NULL), RNNCK_OK);
    const double *a = rnnck_tensor_cdata(y1), *b2 = rnnck_tensor_cdata(y2);
    int64_t H = c.info.hidden_size;
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < T; s++)
            for (int64_t k = 0; k < H; k++) {
                double got = a[(s * B + b) * H + k];
                double want = s < lens[b] ? b2[((lens[b] - 1 - s) * B + b) * H + k] : 0.0;
                cr_assert_eq(got, want, "b=%lld s=%lld k=%lld", (long long)b, (long long)s, (long long)k);
            }
    cr_assert_eq(memcmp(rnnck_tensor_cdata(h1), rnnck_tensor_cdata(h2), rnnck_tensor_nbytes(h1)), 0);
    /* A short sequence's reverse pass starts at its own last step: its
     * first output is not the full-length run's. */
    cr_expect_neq(a[(0 * B + 0) * H], 0.0);
    rnnck_tensor_free(y1);
    rnnck_tensor_free(h1);
    rnnck_tensor_free(y2);
    rnnck_tensor_free(h2);
    rnnck_tensor_free(len);
    fc_close(&c);
}

/* float32 again with every recurrent-product path this CPU has (OpenBLAS,
 * AVX2, AVX-512 packed kernels): the wide-batch cases select the packed ones. */
Test(forward_semantics, float32_with_every_recurrent_kernel) {
    for (int isa = RNNCK__ISA_NONE; isa <= rnnck__rec_cpu_isa(); isa++) {
        rnnck__rec_force_isa(isa);
        unsigned long before = rnnck__rec_calls(isa);
        ferr e = {0, 0, 0};
        run_group("onnx", RNNCK_F32, 2e-5, 2e-4, &e);
        run_group("keras", RNNCK_F32, 2e-5, 2e-4, &e);
        run_keras11(RNNCK_F32, &e);
        if (isa != RNNCK__ISA_NONE)
            cr_expect_gt(rnnck__rec_calls(isa), before, "isa %d: no packed product ran", isa);
        cr_log_info("onnx+keras float32, isa %d: max abs err %.3g", isa, e.max_abs);
    }
    rnnck__rec_force_isa(-1);
}

/* Keras 2 and Keras 3 hard_sigmoid are different functions: running a Keras 2
 * golden under the Keras 3 definition must not match. */
Test(forward_semantics, hard_sigmoid_definitions_are_not_interchangeable) {
    fcase c;
    fc_open(&c, "keras", "lstm_keras2_hard_sigmoid");
    /* The same parameters in a module that declares Keras 3's definition. */
    rnnck_module_info k3 = c.info;
    k3.act[0][0].alpha = 1.0 / 6.0;
    rnnck_model *m3;
    cr_assert_eq(rnnck_model_new(&m3), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m3, &k3), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(m3), rnnck_model_tensor_count(c.model));
    for (size_t i = 0; i < rnnck_model_tensor_count(m3); i++)
        cr_assert_eq(rnnck_tensor_assign(rnnck_model_tensor(m3, i), rnnck_model_tensor(c.model, i)), RNNCK_OK);
    rnnck_tensor *y, *hn, *cn;
    cr_assert_eq(rnnck_forward(m3, 0, c.input, c.h0, c.c0, NULL, NULL, &y, &hn, &cn), RNNCK_OK);
    ferr e = {0, 0, 0};
    int64_t n = rnnck_tensor_numel(y);
    double *a = malloc(sizeof(double) * (size_t)n), *b = malloc(sizeof(double) * (size_t)n);
    rnnck_tensor_copy_out(y, RNNCK_F64, a, sizeof(double) * (size_t)n);
    rnnck_tensor_copy_out(c.exp_out, RNNCK_F64, b, sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) e.max_abs = fmax(e.max_abs, fabs(a[i] - b[i]));
    cr_expect_gt(e.max_abs, 1e-3, "Keras 3 definition reproduced a Keras 2 golden (diff %g)", e.max_abs);
    free(a);
    free(b);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    rnnck_model_free(m3);
    fc_close(&c);
}

/* ------------------------------------------------ activation functions */
#include "forward/forward_internal.h"

/* The float32 sigmoid and tanh use a polynomial exp (activation.c); over
 * [-30, 30] in steps of 1e-3 and at tiny arguments they must stay within a
 * few float ulps of the double-precision functions. */
Test(forward_semantics, fast_float32_sigmoid_and_tanh_are_accurate) {
    enum { N = 60001 + 40 };
    static float xs[N], s[N], t[N];
    int n = 0;
    for (int i = 0; i <= 60000; i++) xs[n++] = (float)(-30.0 + i * 1e-3);
    for (int e = 1; e <= 20; e++) {
        xs[n++] = (float)pow(10.0, -e);
        xs[n++] = (float)-pow(10.0, -e);
    }
    memcpy(s, xs, sizeof(float) * (size_t)n);
    memcpy(t, xs, sizeof(float) * (size_t)n);
    rnnck__act_f32((rnnck_activation){RNNCK_ACT_SIGMOID, 0, 0}, s, n);
    rnnck__act_f32((rnnck_activation){RNNCK_ACT_TANH, 0, 0}, t, n);
    double worst_s = 0, worst_t = 0;
    for (int i = 0; i < n; i++) {
        double x = xs[i], es = 1 / (1 + exp(-x)), et = tanh(x);
        /* error in units of float epsilon relative to the value */
        double rs = fabs(s[i] - es) / (fabs(es) * FLT_EPSILON + 1e-45);
        double rt = fabs(t[i] - et) / (fabs(et) * FLT_EPSILON + 1e-45);
        worst_s = fmax(worst_s, rs);
        worst_t = fmax(worst_t, rt);
    }
    cr_expect_leq(worst_s, 4.0, "sigmoid off by %.2f eps", worst_s);
    cr_expect_leq(worst_t, 4.0, "tanh off by %.2f eps", worst_t);
    cr_log_info("fast sigmoid worst %.2f eps, tanh worst %.2f eps (relative)", worst_s, worst_t);
    float nan_in[2] = {NAN, INFINITY};
    rnnck__act_f32((rnnck_activation){RNNCK_ACT_SIGMOID, 0, 0}, nan_in, 2);
    cr_expect(isnan(nan_in[0]));
    cr_expect_eq(nan_in[1], 1.0f);
}
