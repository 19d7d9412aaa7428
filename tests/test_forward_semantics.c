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

/* float32 again with every recurrent-product path this CPU has (OpenBLAS,
 * AVX2, AVX-512 packed kernels): the wide-batch cases select the packed ones. */
Test(forward_semantics, float32_with_every_recurrent_kernel) {
    for (int isa = RNNCK__ISA_NONE; isa <= rnnck__rec_cpu_isa(); isa++) {
        rnnck__rec_force_isa(isa);
        unsigned long before = rnnck__rec_calls(isa);
        ferr e = {0, 0, 0};
        run_group("onnx", RNNCK_F32, 2e-5, 2e-4, &e);
        run_group("keras", RNNCK_F32, 2e-5, 2e-4, &e);
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
