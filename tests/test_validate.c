/* rnnck validate: metrics (abs, rel, ULP, location), the input battery,
 * module pairing, validation of real conversions, --input/--expect, the
 * SVG plot, and the validate/diff commands (exit codes, text, JSON). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers/testutil.h"
#include "validate/validate_internal.h"

static char *dir;
static void setup(void) { dir = tmpdir_new(); }
static void teardown(void) { tmpdir_remove(dir); }

static rnnck_module_info describe(rnnck_cell cell, const char *name, int64_t in, int64_t hidden, int64_t layers,
                                  int bidir) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.name = name;
    info.input_size = in;
    info.hidden_size = hidden;
    info.num_layers = layers;
    info.bidirectional = bidir;
    return info;
}

static rnnck_model *make_model(const rnnck_module_info *info, uint64_t seed) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, info), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, seed, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    return m;
}

/* Same parameters as module 0 of src under description info. */
static rnnck_model *copy_as(rnnck_model *src, const rnnck_module_info *info) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, info), RNNCK_OK, "%s", rnnck_errmsg());
    for (size_t i = 0; i < rnnck_model_tensor_count(src); i++) {
        rnnck_tensor *dst;
        cr_assert_eq(rnnck_model_find(m, rnnck_tensor_name(rnnck_model_tensor(src, i)), &dst), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_assign(dst, rnnck_model_tensor(src, i)), RNNCK_OK);
    }
    return m;
}

static rnnck_validate_opts quick_opts(void) {
    rnnck_validate_opts o;
    rnnck_validate_opts_init(&o);
    o.long_len = 200;
    return o;
}

/* ------------------------------------------------------------- metrics */

Test(metrics, ulp_distance_counts_representable_values) {
    float one = 1.0f, next = nextafterf(1.0f, 2.0f);
    cr_expect_eq(rnnck__ulp_distance(one, next, RNNCK_F32), 1.0);
    cr_expect_eq(rnnck__ulp_distance(1.0, nextafter(1.0, 2.0), RNNCK_F64), 1.0);
    cr_expect_eq(rnnck__ulp_distance(0.0, -0.0, RNNCK_F32), 0.0, "+0 and -0 are the same value");
    /* Across zero: 1 and -1 are 2 * bits(1.0f) floats apart. */
    cr_expect_eq(rnnck__ulp_distance(1.0, -1.0, RNNCK_F32), 2.0 * 0x3f800000);
    /* The smallest subnormals either side of zero are 2 apart. */
    cr_expect_eq(rnnck__ulp_distance(1e-45, -1e-45, RNNCK_F32), 2.0);
    cr_expect(isinf(rnnck__ulp_distance(NAN, 1.0, RNNCK_F32)));
    cr_expect_eq(rnnck__ulp_distance(NAN, NAN, RNNCK_F64), 0.0);
    /* Values rounded to float first: a difference below float resolution is 0 ULP in float32. */
    cr_expect_eq(rnnck__ulp_distance(1.0, 1.0 + 1e-12, RNNCK_F32), 0.0);
    cr_expect_gt(rnnck__ulp_distance(1.0, 1.0 + 1e-12, RNNCK_F64), 4000.0);
}

Test(metrics, compare_slice_locates_the_worst_element_of_one_direction) {
    enum { T = 4, B = 3, W = 6 };
    double a[T * B * W], b[T * B * W];
    for (int i = 0; i < T * B * W; i++) a[i] = b[i] = 0.25 + 0.01 * i;
    b[(2 * B + 1) * W + 4] += 0.5;  /* t=2, b=1, column 4 = unit 1 of the reverse half */
    b[(3 * B + 2) * W + 0] += 0.75; /* forward half: must not leak into the reverse row */
    rnnck__tol tol = {1e-5, 1e-4, RNNCK_F32};
    rnnck_error_stats rev, fwd;
    rnnck__stats_init(&rev);
    rnnck__stats_init(&fwd);
    double steps[T] = {0};
    rnnck__compare_slice(a, b, T, B, W, 3, 3, &tol, 0, &rev, steps);
    rnnck__compare_slice(a, b, T, B, W, 0, 3, &tol, 0, &fwd, NULL);
    cr_expect_eq(rev.count, T * B * 3);
    cr_expect_eq(rev.failures, 1);
    cr_expect_float_eq(rev.max_abs, 0.5, 1e-12);
    cr_expect_eq(rev.where_t, 2);
    cr_expect_eq(rev.where_b, 1);
    cr_expect_eq(rev.where_unit, 1);
    double a_val = 0.25 + 0.01 * ((2 * B + 1) * W + 4);
    cr_expect_float_eq(rev.max_rel, 0.5 / a_val, 1e-12);
    cr_expect_gt(rev.max_ulp, 1e6);
    cr_expect_eq(steps[2], rev.max_abs, "the per-step series has the error at t=2");
    cr_expect_eq(steps[0], 0.0);
    cr_expect_float_eq(fwd.max_abs, 0.75, 1e-12);
    cr_expect_eq(fwd.where_t, 3);
    cr_expect_eq(fwd.where_b, 2);
    cr_expect_eq(fwd.where_unit, 0);
}

Test(metrics, tolerance_is_atol_plus_rtol_times_reference) {
    rnnck__tol tol = {1e-5, 1e-4, RNNCK_F64};
    double limit = 1e-5 + 1e-4 * 3.0;
    double a[2] = {3.0, -3.0}, inside[2] = {3.0 + 0.99 * limit, -3.0 - 0.99 * limit},
           outside[2] = {3.0 + 1.01 * limit, -3.0};
    int pass;
    rnnck__max_abs(a, inside, 2, &tol, &pass);
    cr_expect(pass);
    double m = rnnck__max_abs(a, outside, 2, &tol, &pass);
    cr_expect_not(pass);
    cr_expect_float_eq(m, 1.01 * limit, 1e-15);
    double nan_a[1] = {NAN}, num[1] = {0.0};
    rnnck__max_abs(nan_a, num, 1, &tol, &pass);
    cr_expect_not(pass, "NaN against a number is a failure");
    rnnck__max_abs(nan_a, nan_a, 1, &tol, &pass);
    cr_expect(pass, "NaN against NaN is the same result");
}

/* ------------------------------------------------------------- battery */

static const rnnck__case *find_case(const rnnck__case *c, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0) return &c[i];
    cr_assert_fail("no case %s", name);
    return NULL;
}

Test(battery, covers_states_long_sequences_lengths_and_saturation) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "", 3, 4, 2, 1);
    rnnck_validate_opts o = quick_opts();
    o.seq_len = 10;
    o.batch = 4;
    rnnck__case *c;
    size_t n;
    cr_assert_eq(rnnck__make_battery(&info, &o, RNNCK_F32, &c, &n), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(n, 5);
    const rnnck__case *r = find_case(c, n, "random");
    cr_expect_null(r->h0, "the plain case starts from zero states");
    cr_expect_eq(rnnck_tensor_dim(r->x, 0), 10);
    cr_expect_eq(rnnck_tensor_dim(r->x, 1), 4);
    cr_expect_eq(rnnck_tensor_dim(r->x, 2), 3);

    const rnnck__case *s = find_case(c, n, "initial-state");
    cr_assert_not_null(s->h0);
    cr_assert_not_null(s->c0, "an LSTM gets a cell state too");
    cr_expect_eq(rnnck_tensor_dim(s->h0, 0), 4, "L*D = 4 state slices");
    double mn, mx, sd;
    cr_assert_eq(rnnck_tensor_stats(s->h0, &mn, &mx, NULL, &sd, NULL), RNNCK_OK);
    cr_expect(mn > -1 && mx < 1 && sd > 0.3, "h0 in (-1, 1) and not zero: [%g, %g] sd %g", mn, mx, sd);

    const rnnck__case *l = find_case(c, n, "long");
    cr_expect_geq(l->T, 200);
    cr_expect_eq(rnnck_tensor_dim(l->x, 0), l->T);

    const rnnck__case *v = find_case(c, n, "variable-lengths");
    cr_assert_not_null(v->lengths);
    const int64_t *len = rnnck_tensor_cdata(v->lengths);
    int64_t lo = 1000, hi = 0;
    for (int64_t b = 0; b < v->B; b++) {
        cr_expect(len[b] >= 1 && len[b] <= v->T);
        lo = len[b] < lo ? len[b] : lo;
        hi = len[b] > hi ? len[b] : hi;
    }
    cr_expect_eq(lo, 1);
    cr_expect_eq(hi, v->T);

    const rnnck__case *sat = find_case(c, n, "saturating");
    double rsd, satsd;
    cr_assert_eq(rnnck_tensor_stats(r->x, NULL, NULL, NULL, &rsd, NULL), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_stats(sat->x, NULL, NULL, NULL, &satsd, NULL), RNNCK_OK);
    cr_expect(satsd > 5 * rsd, "saturating inputs are large: sd %g vs %g", satsd, rsd);
    rnnck__cases_free(c, n);
}

Test(battery, is_deterministic_per_seed_and_has_no_cell_state_for_gru) {
    rnnck_module_info info = describe(RNNCK_CELL_GRU, "", 3, 4, 1, 0);
    rnnck_validate_opts o = quick_opts();
    rnnck__case *c1, *c2, *c3;
    size_t n1, n2, n3;
    cr_assert_eq(rnnck__make_battery(&info, &o, RNNCK_F32, &c1, &n1), RNNCK_OK);
    cr_assert_eq(rnnck__make_battery(&info, &o, RNNCK_F32, &c2, &n2), RNNCK_OK);
    o.seed = 99;
    cr_assert_eq(rnnck__make_battery(&info, &o, RNNCK_F32, &c3, &n3), RNNCK_OK);
    for (size_t i = 0; i < n1; i++) {
        size_t bytes = rnnck_tensor_nbytes(c1[i].x);
        cr_expect_eq(memcmp(rnnck_tensor_cdata(c1[i].x), rnnck_tensor_cdata(c2[i].x), bytes), 0, "%s", c1[i].name);
        cr_expect_neq(memcmp(rnnck_tensor_cdata(c1[i].x), rnnck_tensor_cdata(c3[i].x), bytes), 0, "%s", c1[i].name);
        cr_expect_null(c1[i].c0);
    }
    rnnck__cases_free(c1, n1);
    rnnck__cases_free(c2, n2);
    rnnck__cases_free(c3, n3);
}

/* ------------------------------------------------------------- pairing */

static rnnck_model *two_modules(const char *n1, const char *n2, int64_t h2) {
    rnnck_module_info i1 = describe(RNNCK_CELL_LSTM, n1, 3, 4, 1, 0), i2 = describe(RNNCK_CELL_GRU, n2, 3, h2, 1, 0);
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &i1), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &i2), RNNCK_OK);
    return m;
}

Test(pairing, by_name_even_in_another_order) {
    rnnck_model *a = two_modules("enc", "dec", 4), *b;
    rnnck_module_info i2 = describe(RNNCK_CELL_GRU, "dec", 3, 4, 1, 0), i1 = describe(RNNCK_CELL_LSTM, "enc", 3, 4, 1, 0);
    cr_assert_eq(rnnck_model_new(&b), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(b, &i2), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(b, &i1), RNNCK_OK);
    rnnck__pairing *p;
    size_t n;
    cr_assert_eq(rnnck__pair_modules(a, b, &p, &n), RNNCK_OK);
    cr_assert_eq(n, 2);
    cr_expect_eq(p[0].a, 0);
    cr_expect_eq(p[0].b, 1);
    cr_expect_eq(p[1].a, 1);
    cr_expect_eq(p[1].b, 0);
    cr_expect_str_eq(p[0].how, "name");
    free(p);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(pairing, by_order_and_shape_when_names_differ_and_reports_leftovers) {
    rnnck_model *a = two_modules("enc", "dec", 4), *b = two_modules("lstm_1", "gru_1", 4), *c = two_modules("x", "y", 7);
    rnnck__pairing *p;
    size_t n;
    cr_assert_eq(rnnck__pair_modules(a, b, &p, &n), RNNCK_OK);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(p[0].how, "order and shape");
    cr_expect_str_eq(p[1].how, "order and shape");
    free(p);
    /* Second module differs in hidden size: paired by order only, and validate says why. */
    cr_assert_eq(rnnck__pair_modules(a, c, &p, &n), RNNCK_OK);
    cr_expect_str_eq(p[1].how, "order");
    free(p);
    rnnck_validation *v;
    rnnck_validate_opts o = quick_opts();
    o.long_len = 0;
    cr_assert_eq(rnnck_validate(a, c, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_not(rnnck_validation_passed(v));
    const rnnck_validation_pair *vp = rnnck_validation_pair_at(v, 1);
    cr_assert_not_null(vp->problem);
    cr_expect(strstr(vp->problem, "hidden_size"), "%s", vp->problem);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
    rnnck_model_free(c);
}

/* ----------------------------------------------------------- validate */

Test(validate, identical_maths_passes_with_a_row_per_layer_direction_and_output) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "rnn", 4, 5, 2, 1);
    rnnck_model *a = make_model(&info, 1), *b = copy_as(a, &info);
    rnnck_validate_opts o = quick_opts();
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect(rnnck_validation_passed(v));
    /* 5 cases x (output of 2 layers + h_n + c_n) x 2 directions */
    cr_expect_eq(rnnck_validation_row_count(v), 5 * 3 * 2 * 2);
    cr_expect_str_eq(rnnck_validation_pair_at(v, 0)->pairing, "name");
    cr_expect_eq(rnnck_validation_pair_at(v, 0)->nfindings, 0);
    /* The long case is plotted: one series per layer and direction, 200 steps. */
    cr_expect_eq(rnnck_validation_series_count(v), 4);
    cr_expect_eq(rnnck_validation_series_at(v, 0)->steps, 200);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(validate, float64_copy_passes_with_measured_rounding_differences) {
    rnnck_module_info info = describe(RNNCK_CELL_GRU, "rnn", 6, 8, 2, 1);
    rnnck_model *a = make_model(&info, 2);
    rnnck_module_info i64 = info;
    i64.dtype = RNNCK_F64;
    rnnck_model *b = copy_as(a, &i64);
    rnnck_validate_opts o = quick_opts();
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    double worst = 0;
    for (size_t i = 0; i < rnnck_validation_row_count(v); i++) {
        const rnnck_validation_row *r = rnnck_validation_row_at(v, i);
        if (r->err.max_abs > worst) worst = r->err.max_abs;
    }
    /* Both run in float64 (the wider dtype) on identical float32 weights:
     * only summation order may differ, far inside tolerance. */
    cr_expect(rnnck_validation_passed(v));
    cr_expect_lt(worst, 1e-9, "float64 runs of one model differ by %g", worst);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(validate, batch_first_module_is_fed_and_compared_in_a_common_layout) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "rnn", 3, 4, 1, 1);
    rnnck_model *a = make_model(&info, 3);
    rnnck_module_info bf = info;
    bf.batch_first = 1;
    rnnck_model *b = copy_as(a, &bf);
    rnnck_validate_opts o = quick_opts();
    o.batch = 3;
    o.seq_len = 7;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect(rnnck_validation_passed(v), "batch_first must not change the maths");
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(validate, a_changed_weight_is_localised_to_its_layer_and_direction) {
    rnnck_module_info info = describe(RNNCK_CELL_GRU, "rnn", 4, 5, 2, 1);
    rnnck_model *a = make_model(&info, 4), *b = copy_as(a, &info);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_param(b, 0, RNNCK_PARAM_WEIGHT_HH, 1, 0, &w), RNNCK_OK);
    ((float *)rnnck_tensor_data(w))[7] += 0.3f;
    rnnck_validate_opts o = quick_opts();
    o.diagnose = 0;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_not(rnnck_validation_passed(v));
    int failing_elsewhere = 0, failing_here = 0;
    for (size_t i = 0; i < rnnck_validation_row_count(v); i++) {
        const rnnck_validation_row *r = rnnck_validation_row_at(v, i);
        int here = r->layer == 1 && r->reverse == 0;
        if (!r->pass && here) failing_here++;
        if (!r->pass && !here) failing_elsewhere++;
        if (here) cr_expect_gt(r->err.max_abs, 1e-4, "%s %s", r->input_case, rnnck_output_name(r->output));
    }
    cr_expect_eq(failing_elsewhere, 0, "layer 0 and the reverse direction of layer 1 are untouched");
    cr_expect_eq(failing_here, 5 * 2, "output and h_n of layer 1 forward fail in every case");
    cr_expect_eq(rnnck_validation_pair_at(v, 0)->nfindings, 0, "diagnosis was switched off");
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(validate, user_input_replaces_the_battery_and_must_fit) {
    rnnck_module_info info = describe(RNNCK_CELL_RNN_TANH, "rnn", 3, 4, 1, 0);
    rnnck_model *a = make_model(&info, 5), *b = copy_as(a, &info);
    int64_t shape[3] = {6, 2, 3};
    rnnck_tensor *x;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, shape, &x), RNNCK_OK);
    rnnck_rng *rng;
    cr_assert_eq(rnnck_rng_new(1, &rng), RNNCK_OK);
    cr_assert_eq(rnnck_init_uniform(x, -1, 1, rng), RNNCK_OK);
    rnnck_validate_opts o = quick_opts();
    o.input = x;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect(rnnck_validation_passed(v));
    cr_expect_eq(rnnck_validation_row_count(v), 2, "output and h_n of the user case");
    cr_expect_str_eq(rnnck_validation_row_at(v, 0)->input_case, "user");
    cr_expect_eq(rnnck_validation_series_at(v, 0)->steps, 6);
    rnnck_validation_free(v);
    int64_t bad[3] = {6, 2, 5};
    rnnck_tensor *y;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, bad, &y), RNNCK_OK);
    o.input = y;
    cr_expect_eq(rnnck_validate(a, b, &o, &v), RNNCK_E_SHAPE);
    cr_expect(strstr(rnnck_errmsg(), "5 features"), "%s", rnnck_errmsg());
    cr_expect(strstr(rnnck_errmsg(), "module rnn"), "%s", rnnck_errmsg());
    rnnck_tensor_free(x);
    rnnck_tensor_free(y);
    rnnck_rng_free(rng);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(validate, refuses_bad_options_and_models_without_modules) {
    rnnck_module_info info = describe(RNNCK_CELL_GRU, "", 3, 4, 1, 0);
    rnnck_model *a = make_model(&info, 6), *empty;
    cr_assert_eq(rnnck_model_new(&empty), RNNCK_OK);
    rnnck_validation *v = NULL;
    rnnck_validate_opts o = quick_opts();
    o.seq_len = 0;
    cr_expect_eq(rnnck_validate(a, a, &o, &v), RNNCK_E_USAGE);
    o = quick_opts();
    o.atol = -1;
    cr_expect_eq(rnnck_validate(a, a, &o, &v), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_validate(a, empty, NULL, &v), RNNCK_E_NOTFOUND);
    cr_expect(strstr(rnnck_errmsg(), "B holds no recurrent module"), "%s", rnnck_errmsg());
    cr_expect_null(v);
    rnnck_model_free(a);
    rnnck_model_free(empty);
}

Test(validate, thread_count_is_checked_and_leaves_every_error_bit_identical) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "rnn", 12, 40, 2, 1);
    rnnck_model *a = make_model(&info, 11), *b = make_model(&info, 12);
    rnnck_validate_opts o = quick_opts();
    o.diagnose = 0;
    o.threads = -1;
    rnnck_validation *v = NULL, *w = NULL;
    cr_expect_eq(rnnck_validate(a, b, &o, &v), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "threads"), "%s", rnnck_errmsg());
    o.threads = 1;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    o.threads = 3;
    cr_assert_eq(rnnck_validate(a, b, &o, &w), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_validation_row_count(v), rnnck_validation_row_count(w));
    cr_expect_not(rnnck_validation_passed(v), "different weights must fail");
    for (size_t i = 0; i < rnnck_validation_row_count(v); i++) {
        const rnnck_validation_row *r1 = rnnck_validation_row_at(v, i), *r3 = rnnck_validation_row_at(w, i);
        cr_expect_eq(memcmp(&r1->err.max_abs, &r3->err.max_abs, sizeof(double)), 0, "row %zu: %a vs %a", i,
                     r1->err.max_abs, r3->err.max_abs);
        cr_expect_eq(r1->err.failures, r3->err.failures, "row %zu", i);
    }
    rnnck_validation_free(v);
    rnnck_validation_free(w);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

static void count_progress(void *user, int64_t done, int64_t total) {
    int64_t *st = user;
    cr_expect_leq(done, total);
    cr_expect_gt(done, st[0], "progress goes forward");
    st[0] = done;
    st[1] = total;
    st[2]++;
}

Test(validate, reports_progress_up_to_the_total) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "", 3, 4, 2, 0);
    rnnck_model *a = make_model(&info, 7), *b = copy_as(a, &info);
    int64_t st[3] = {0, 0, 0};
    rnnck_validate_opts o = quick_opts();
    o.progress = count_progress;
    o.progress_user = st;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK);
    cr_expect_eq(st[0], st[1], "the last call reports done == total");
    cr_expect_eq(st[2], 5 * 2 * 2, "5 cases x 2 models x 2 layers (one truncated run)");
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

/* --------------------------------------------------- expected output */

static rnnck_tensor *random_input(int64_t T, int64_t B, int64_t I, uint64_t seed) {
    int64_t shape[3] = {T, B, I};
    rnnck_tensor *x;
    rnnck_rng *rng;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, shape, &x), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(seed, &rng), RNNCK_OK);
    cr_assert_eq(rnnck_init_uniform(x, -2, 2, rng), RNNCK_OK);
    rnnck_rng_free(rng);
    return x;
}

Test(expected, own_output_passes_and_a_perturbed_element_is_found) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "", 3, 4, 1, 1);
    rnnck_model *m = make_model(&info, 8);
    rnnck_tensor *x = random_input(6, 2, 3, 9), *y, *hn, *cn;
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, NULL, NULL, &y, &hn, &cn), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate_expected(m, 0, x, y, NULL, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect(rnnck_validation_passed(v));
    cr_expect_eq(rnnck_validation_row_count(v), 2, "one row per direction");
    rnnck_validation_free(v);
    /* y is (T=6, B=2, 2*4): perturb t=3, b=1, reverse unit 2 (column 6). */
    ((float *)rnnck_tensor_data(y))[(3 * 2 + 1) * 8 + 6] += 0.01f;
    cr_assert_eq(rnnck_validate_expected(m, 0, x, y, NULL, &v), RNNCK_OK);
    cr_expect_not(rnnck_validation_passed(v));
    const rnnck_validation_row *fwd = rnnck_validation_row_at(v, 0), *rev = rnnck_validation_row_at(v, 1);
    cr_expect(fwd->pass);
    cr_expect_not(rev->pass);
    cr_expect_eq(rev->reverse, 1);
    cr_expect_eq(rev->err.where_t, 3);
    cr_expect_eq(rev->err.where_b, 1);
    cr_expect_eq(rev->err.where_unit, 2);
    cr_expect_float_eq(rev->err.max_abs, 0.01, 1e-6);
    rnnck_validation_free(v);
    /* A saved output of another shape is a shape error, not a mismatch. */
    int64_t other[3] = {6, 2, 4};
    rnnck_tensor *z;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, other, &z), RNNCK_OK);
    cr_expect_eq(rnnck_validate_expected(m, 0, x, z, NULL, &v), RNNCK_E_SHAPE);
    cr_expect(strstr(rnnck_errmsg(), "(6, 2, 4)"), "%s", rnnck_errmsg());
    rnnck_tensor_free(z);
    rnnck_tensor_free(x);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    rnnck_model_free(m);
}

/* ------------------------------------------------------------------ plot */

static size_t count_str(const char *s, const char *needle) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++) n++;
    return n;
}

TestSuite(plot, .init = setup, .fini = teardown);

Test(plot, draws_one_polyline_per_layer_and_direction_with_legend_and_log_axis) {
    rnnck_module_info info = describe(RNNCK_CELL_GRU, "enc", 3, 4, 2, 1);
    rnnck_model *a = make_model(&info, 10), *b = copy_as(a, &info);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_param(b, 0, RNNCK_PARAM_BIAS_HH, 1, 1, &w), RNNCK_OK);
    ((float *)rnnck_tensor_data(w))[0] += 1e-3f;
    rnnck_validate_opts o = quick_opts();
    o.diagnose = 0;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK);
    char *svg_path = path_join(dir, "report.svg");
    cr_assert_eq(rnnck_validation_plot_svg(v, svg_path), RNNCK_OK, "%s", rnnck_errmsg());
    size_t len;
    char *svg = (char *)read_file(svg_path, &len);
    cr_assert_not_null(svg);
    cr_expect(strstr(svg, "<svg"));
    cr_expect(strstr(svg, "</svg>"));
    cr_expect_eq(count_str(svg, "<polyline"), 4);
    cr_expect(strstr(svg, "enc: layer 1 reverse (long)"), "legend names module, layer and direction");
    cr_expect(strstr(svg, "log scale"));
    cr_expect(strstr(svg, ">1e-"), "decade labels on the error axis");
    cr_expect(strstr(svg, "MISMATCH"));
    free(svg);
    /* An unwritable path is a write error and leaves nothing behind. */
    char *bad = path_join(dir, "missing-dir/report.svg");
    cr_expect_eq(rnnck_validation_plot_svg(v, bad), RNNCK_E_WRITE);
    struct stat sb;
    cr_expect_neq(stat(bad, &sb), 0);
    free(bad);
    free(svg_path);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(plot, long_runs_are_drawn_with_at_most_1000_points) {
    rnnck_module_info info = describe(RNNCK_CELL_RNN_TANH, "", 2, 3, 1, 0);
    rnnck_model *a = make_model(&info, 11), *b = copy_as(a, &info);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_param(b, 0, RNNCK_PARAM_BIAS_HH, 0, 0, &w), RNNCK_OK);
    ((float *)rnnck_tensor_data(w))[1] += 0.5f;
    rnnck_validate_opts o = quick_opts();
    o.long_len = 2500;
    o.diagnose = 0;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK);
    cr_assert_eq(rnnck_validation_series_count(v), 1);
    cr_assert_eq(rnnck_validation_series_at(v, 0)->steps, 2500);
    char *svg_path = path_join(dir, "long.svg");
    cr_assert_eq(rnnck_validation_plot_svg(v, svg_path), RNNCK_OK, "%s", rnnck_errmsg());
    size_t len;
    char *svg = (char *)read_file(svg_path, &len);
    cr_assert_not_null(svg);
    const char *pts = strstr(svg, "points=\"");
    cr_assert_not_null(pts);
    const char *end = strchr(pts + 8, '"');
    size_t points = 1;
    for (const char *p = pts + 8; p < end; p++) points += *p == ' ';
    cr_expect_leq(points, 1000);
    cr_expect_geq(points, 500);
    free(svg);
    free(svg_path);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

/* ------------------------------------------------------------------- CLI */

/* Minimal JSON syntax check (RFC 8259 grammar, no semantic checks). */
static const char *json_value(const char *p);
static const char *json_ws(const char *p) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}
static const char *json_str(const char *p) {
    if (*p != '"') return NULL;
    for (p++; *p && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20) return NULL;
        if (*p == '\\') {
            p++;
            if (!*p || !strchr("\"\\/bfnrtu", *p)) return NULL;
        }
    }
    return *p == '"' ? p + 1 : NULL;
}
static const char *json_seq(const char *p, char close, int keyed) {
    p = json_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (keyed) {
            p = json_str(json_ws(p));
            if (!p) return NULL;
            p = json_ws(p);
            if (*p++ != ':') return NULL;
        }
        p = json_value(p);
        if (!p) return NULL;
        p = json_ws(p);
        if (*p == close) return p + 1;
        if (*p++ != ',') return NULL;
    }
}
static const char *json_value(const char *p) {
    p = json_ws(p);
    if (*p == '{') return json_seq(p, '}', 1);
    if (*p == '[') return json_seq(p, ']', 0);
    if (*p == '"') return json_str(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    char *end;
    strtod(p, &end);
    if (end == p || *p == '+' || isalpha((unsigned char)*p)) return NULL;
    return end;
}
static int json_ok(const char *s) {
    const char *end = json_value(s);
    return end && *json_ws(end) == '\0';
}

TestSuite(cli_validate, .init = setup, .fini = teardown);

static char *save_model(rnnck_model *m, const char *name) {
    char *p = path_join(dir, name);
    cr_assert_eq(rnnck_save(m, p), RNNCK_OK, "%s", rnnck_errmsg());
    return p;
}

Test(cli_validate, help_lists_usage_and_exits_0) {
    tool_result r = run_tool("validate", "--help", NULL);
    cr_expect_eq(r.exit_code, 0);
    cr_expect(strstr(r.out, "usage: rnnck validate A B"));
    cr_expect(strstr(r.out, "--expect"));
    tool_result_free(&r);
    r = run_tool("--help", NULL);
    cr_expect(strstr(r.out, "validate"));
    cr_expect(strstr(r.out, "diff"));
    tool_result_free(&r);
}

Test(cli_validate, a_correct_conversion_to_pytorch_passes) {
    char *a = path_join(dir, "a.h5"), *b = path_join(dir, "b.pt");
    tool_result r = run_tool("init", a, "--cell", "gru", "--input-size", "5", "--hidden-size", "6", "--num-layers", "2",
                             "--bidirectional", "--seed", "4", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", a, b, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("validate", a, b, NULL);
    cr_expect_eq(r.exit_code, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    cr_expect(strstr(r.out, "result: ok"), "%s", r.out);
    cr_expect(strstr(r.out, "long"), "the long case ran");
    cr_expect(strstr(r.out, "variable-lengths"));
    tool_result_free(&r);
    free(a);
    free(b);
}

Test(cli_validate, injected_gate_order_mistake_exits_1_with_diagnosis_text_and_json) {
    rnnck_module_info info = describe(RNNCK_CELL_LSTM, "enc.rnn", 4, 5, 1, 0);
    rnnck_model *ma = make_model(&info, 40), *mb = copy_as(ma, &info);
    /* B holds ONNX's i,o,f,g order: swap blocks f (1) and o (3), then g and f. */
    const char *names[] = {"enc.rnn.weight_ih_l0", "enc.rnn.weight_hh_l0", "enc.rnn.bias_ih_l0", "enc.rnn.bias_hh_l0"};
    for (int k = 0; k < 4; k++) {
        rnnck_tensor *src, *dst, *orig;
        cr_assert_eq(rnnck_model_find(ma, names[k], &src), RNNCK_OK);
        cr_assert_eq(rnnck_model_find(mb, names[k], &dst), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_clone(src, RNNCK_F32, &orig), RNNCK_OK);
        const int from[4] = {0, 3, 1, 2}; /* B block k = A block from[k]: i, o, f, g */
        for (int blk = 0; blk < 4; blk++) {
            rnnck_tensor *s, *d;
            cr_assert_eq(rnnck_tensor_block(orig, 4, from[blk], &s), RNNCK_OK);
            cr_assert_eq(rnnck_tensor_block(dst, 4, blk, &d), RNNCK_OK);
            cr_assert_eq(rnnck_tensor_assign(d, s), RNNCK_OK);
            rnnck_tensor_free(s);
            rnnck_tensor_free(d);
        }
        rnnck_tensor_free(orig);
    }
    char *a = save_model(ma, "a.h5"), *b = save_model(mb, "b.h5"), *svg = path_join(dir, "r.svg");
    tool_result r = run_tool("validate", a, b, "--long-len", "60", "--plot", svg, NULL);
    cr_expect_eq(r.exit_code, 1, "stdout: %s\nstderr: %s", r.out, r.err);
    cr_expect(strstr(r.out, "B matches A if its gate blocks are read as i,o,f,g"), "%s", r.out);
    cr_expect(strstr(r.out, "result: MISMATCH"));
    struct stat sb;
    cr_expect_eq(stat(svg, &sb), 0, "the plot is written on a mismatch too");
    tool_result_free(&r);

    r = run_tool("validate", a, b, "--long-len", "0", "--json", NULL);
    cr_expect_eq(r.exit_code, 1);
    cr_expect(json_ok(r.out), "not JSON: %s", r.out);
    cr_expect(strstr(r.out, "\"pass\": false"));
    cr_expect(strstr(r.out, "\"module_a\": \"enc.rnn\""));
    cr_expect(strstr(r.out, "\"kind\": \"gate-order\""));
    cr_expect(strstr(r.out, "\"case\": \"saturating\""));
    cr_expect(strstr(r.out, "\"max_ulp\": "));
    cr_expect(strstr(r.out, "\"where\": {\"t\": "));
    tool_result_free(&r);

    r = run_tool("diff", a, b, NULL);
    cr_expect_eq(r.exit_code, 1, "%s", r.err);
    cr_expect(strstr(r.out, "(B's gate blocks hold i,o,f,g)"), "%s", r.out);
    cr_expect(strstr(r.out, "result: 4 of 4 tensors differ"), "%s", r.out);
    tool_result_free(&r);
    r = run_tool("diff", a, b, "--json", NULL);
    cr_expect(json_ok(r.out), "not JSON: %s", r.out);
    cr_expect(strstr(r.out, "\"b_blocks_hold\": \"iofg\""));
    tool_result_free(&r);
    r = run_tool("diff", a, a, NULL);
    cr_expect_eq(r.exit_code, 0, "%s", r.out);
    tool_result_free(&r);
    free(a);
    free(b);
    free(svg);
    rnnck_model_free(ma);
    rnnck_model_free(mb);
}

Test(cli_validate, input_and_expect_pass_on_own_output_and_fail_when_perturbed) {
    rnnck_module_info info = describe(RNNCK_CELL_GRU, "", 3, 4, 1, 0);
    info.batch_first = 1;
    rnnck_model *m = make_model(&info, 41);
    char *ck = save_model(m, "m.h5"), *xp = path_join(dir, "x.npy"), *yp = path_join(dir, "y.npy"),
         *bad = path_join(dir, "bad.npy");
    rnnck_tensor *x = random_input(2, 5, 3, 3), *y, *hn, *cn = NULL; /* (B=2, T=5, I=3): batch_first */
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, NULL, NULL, &y, &hn, &cn), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_npy_save(x, xp), RNNCK_OK);
    cr_assert_eq(rnnck_npy_save(y, yp), RNNCK_OK);
    ((float *)rnnck_tensor_data(y))[(1 * 5 + 4) * 4 + 3] -= 0.05f; /* b=1, t=4, unit 3 */
    cr_assert_eq(rnnck_npy_save(y, bad), RNNCK_OK);
    tool_result r = run_tool("validate", ck, "--input", xp, "--expect", yp, NULL);
    cr_expect_eq(r.exit_code, 0, "%s %s", r.out, r.err);
    tool_result_free(&r);
    r = run_tool("validate", ck, "--input", xp, "--expect", bad, "--json", NULL);
    cr_expect_eq(r.exit_code, 1, "%s %s", r.out, r.err);
    cr_expect(json_ok(r.out), "not JSON: %s", r.out);
    cr_expect(strstr(r.out, "\"where\": {\"t\": 4, \"b\": 1, \"unit\": 3}"), "%s", r.out);
    tool_result_free(&r);
    /* A looser tolerance accepts the same perturbation. */
    r = run_tool("validate", ck, "--input", xp, "--expect", bad, "--atol", "0.1", NULL);
    cr_expect_eq(r.exit_code, 0, "%s", r.out);
    tool_result_free(&r);
    rnnck_tensor_free(x);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    rnnck_model_free(m);
    free(ck);
    free(xp);
    free(yp);
    free(bad);
}

Test(cli_validate, usage_input_and_output_errors_have_their_exit_codes) {
    rnnck_module_info info = describe(RNNCK_CELL_RNN_TANH, "", 3, 4, 1, 0);
    rnnck_model *m = make_model(&info, 42);
    char *ck = save_model(m, "m.h5"), *missing = path_join(dir, "nope.h5"), *svg = path_join(dir, "no/such/dir/r.svg");
    tool_result r = run_tool("validate", ck, NULL);
    cr_expect_eq(r.exit_code, 2);
    cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("validate", ck, ck, "--atol", "abc", NULL);
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "--atol"));
    tool_result_free(&r);
    r = run_tool("validate", ck, "--expect", ck, NULL);
    cr_expect_eq(r.exit_code, 2, "--expect without --input");
    tool_result_free(&r);
    r = run_tool("validate", ck, missing, NULL);
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "nope.h5"), "%s", r.err);
    tool_result_free(&r);
    r = run_tool("validate", ck, ck, "--long-len", "0", "--plot", svg, NULL);
    cr_expect_eq(r.exit_code, 4, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("diff", ck, NULL);
    cr_expect_eq(r.exit_code, 2);
    tool_result_free(&r);
    rnnck_model_free(m);
    free(ck);
    free(missing);
    free(svg);
}

/* Outputs saved by the real PyTorch (fixtures/validate/make_validate_fixtures.py,
 * fixtures/pytorch/make_pytorch_fixtures.py). */
Test(cli_validate, pytorch_saved_outputs_match_and_a_misordered_export_is_caught) {
    char *ref = fixture_path("validate/gru_ref.pt"), *zrn = fixture_path("validate/gru_zrn.pt"),
         *x = fixture_path("validate/gru_x.npy"), *y = fixture_path("validate/gru_y.npy");
    tool_result r = run_tool("validate", ref, "--input", x, "--expect", y, "--json", NULL);
    cr_expect_eq(r.exit_code, 0, "%s %s", r.out, r.err);
    cr_expect(json_ok(r.out), "%s", r.out);
    /* torch vs rnnck on the same float32 weights: measured 1.2e-07 max abs. */
    const char *p = strstr(r.out, "\"max_abs\": ");
    cr_assert_not_null(p);
    cr_expect_lt(strtod(p + 11, NULL), 1e-6, "%s", r.out);
    tool_result_free(&r);
    r = run_tool("validate", zrn, "--input", x, "--expect", y, NULL);
    cr_expect_eq(r.exit_code, 1, "%s %s", r.out, r.err);
    tool_result_free(&r);
    r = run_tool("validate", ref, zrn, NULL);
    cr_expect_eq(r.exit_code, 1, "%s %s", r.out, r.err);
    cr_expect(strstr(r.out, "read as z,r,n"), "%s", r.out);
    tool_result_free(&r);
    free(ref);
    free(zrn);
    free(x);
    free(y);

    char *demo = fixture_path("pytorch/demo_model.pt"), *dx = fixture_path("pytorch/demo_input.npy"),
         *dy = fixture_path("pytorch/demo_output.npy");
    /* A 2-layer bidirectional LSTM inside a model with other layers. */
    r = run_tool("validate", demo, "--input", dx, "--expect", dy, "--module", "rnn", NULL);
    cr_expect_eq(r.exit_code, 0, "%s %s", r.out, r.err);
    cr_expect(strstr(r.out, "result: ok"), "%s", r.out);
    tool_result_free(&r);
    free(demo);
    free(dx);
    free(dy);
}
