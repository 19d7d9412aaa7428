/* rnnck_forward: streaming a sequence in pieces, padding with lengths, and
 * every kind of bad argument (each refused with a message, never a crash). */
#include "forward_case.h"

/* Rows [t0, t1) of a time-major (T, ...) tensor as a new tensor. */
static rnnck_tensor *time_slice(const rnnck_tensor *x, int64_t t0, int64_t t1) {
    int nd = rnnck_tensor_ndim(x);
    int64_t shape[3], row = 1;
    for (int i = 0; i < nd; i++) shape[i] = rnnck_tensor_dim(x, i);
    for (int i = 1; i < nd; i++) row *= shape[i];
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(x));
    shape[0] = t1 - t0;
    rnnck_tensor *out;
    cr_assert_eq(rnnck_tensor_from_data(rnnck_tensor_dtype(x), nd, shape,
                                        (const char *)rnnck_tensor_cdata(x) + (size_t)(t0 * row) * es,
                                        (size_t)((t1 - t0) * row) * es, &out),
                 RNNCK_OK);
    return out;
}

static double max_diff(const rnnck_tensor *a, const void *b_data, int64_t offset) {
    int64_t n = rnnck_tensor_numel(a);
    double m = 0;
    if (rnnck_tensor_dtype(a) == RNNCK_F32) {
        const float *x = rnnck_tensor_cdata(a), *y = (const float *)b_data + offset;
        for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i] - (double)y[i]));
    } else {
        const double *x = rnnck_tensor_cdata(a), *y = (const double *)b_data + offset;
        for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i] - y[i]));
    }
    return m;
}

Test(forward_usage, streaming_in_two_pieces_equals_one_call) {
    static char names[256][128];
    int n = fc_list("torch", names, 256), tried = 0;
    for (int i = 0; i < n; i++) {
        fcase c;
        fc_open(&c, "torch", names[i]);
        int64_t T = rnnck_tensor_dim(c.input, 0);
        if (c.info.bidirectional || c.info.batch_first || c.lengths || T < 2) {
            fc_close(&c);
            continue;
        }
        tried++;
        rnnck_tensor *y, *hn, *cn = NULL, *y1, *hn1, *cn1 = NULL, *y2, *hn2, *cn2 = NULL;
        cr_assert_eq(rnnck_forward(c.model, 0, c.input, c.h0, c.c0, NULL, NULL, &y, &hn, &cn), RNNCK_OK);
        int64_t cut = T / 2;
        rnnck_tensor *xa = time_slice(c.input, 0, cut), *xb = time_slice(c.input, cut, T);
        cr_assert_eq(rnnck_forward(c.model, 0, xa, c.h0, c.c0, NULL, NULL, &y1, &hn1, &cn1), RNNCK_OK);
        cr_assert_eq(rnnck_forward(c.model, 0, xb, hn1, cn1, NULL, NULL, &y2, &hn2, &cn2), RNNCK_OK,
                     "%s", rnnck_errmsg());
        int64_t row = rnnck_tensor_numel(y) / T;
        double tol = c.dtype == RNNCK_F32 ? 1e-6 : 1e-14;
        cr_expect_leq(max_diff(y1, rnnck_tensor_cdata(y), 0), tol, "%s: first piece", names[i]);
        cr_expect_leq(max_diff(y2, rnnck_tensor_cdata(y), cut * row), tol, "%s: second piece", names[i]);
        cr_expect_leq(max_diff(hn2, rnnck_tensor_cdata(hn), 0), tol, "%s: h_n", names[i]);
        if (cn) cr_expect_leq(max_diff(cn2, rnnck_tensor_cdata(cn), 0), tol, "%s: c_n", names[i]);
        rnnck_tensor *all[] = {y, hn, cn, y1, hn1, cn1, y2, hn2, cn2, xa, xb};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) rnnck_tensor_free(all[k]);
        fc_close(&c);
    }
    cr_expect_geq(tried, 10, "only %d streamable cases", tried);
}

Test(forward_usage, outputs_past_each_sequence_end_are_exactly_zero) {
    fcase c;
    fc_open(&c, "keras", "lstm_keras2_hard_sigmoid_2layer_bidirectional_lengths");
    int64_t T = rnnck_tensor_dim(c.input, 0), B = rnnck_tensor_dim(c.input, 1);
    rnnck_tensor *y, *hn, *cn;
    cr_assert_eq(rnnck_forward(c.model, 0, c.input, c.h0, c.c0, c.lengths, NULL, &y, &hn, &cn), RNNCK_OK);
    const int64_t *len = rnnck_tensor_cdata(c.lengths);
    int64_t w = rnnck_tensor_dim(y, 2);
    const double *yd = rnnck_tensor_cdata(y);
    int padded = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < w; k++) {
                double v = yd[(t * B + b) * w + k];
                if (t >= len[b]) {
                    padded++;
                    cr_expect_eq(v, 0.0, "output[%lld, %lld, %lld] past length %lld is %g", (long long)t,
                                 (long long)b, (long long)k, (long long)len[b], v);
                } else {
                    cr_expect_neq(v, 0.0);
                }
            }
    cr_expect_gt(padded, 0, "the fixture has no padding to check");
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    fc_close(&c);
}

/* ------------------------------------------------------------ bad input */

/* A 1-layer unidirectional LSTM, I=3, H=4, and a (T=5, B=2, 3) float32 input. */
typedef struct fixture_small {
    rnnck_model *m;
    rnnck_tensor *x;
} fixture_small;

static fixture_small small_lstm(rnnck_cell cell) {
    fixture_small f;
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.input_size = 3;
    info.hidden_size = 4;
    cr_assert_eq(rnnck_model_new(&f.m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(f.m, &info), RNNCK_OK);
    int64_t s[3] = {5, 2, 3};
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, s, &f.x), RNNCK_OK);
    return f;
}

static void free_small(fixture_small *f) {
    rnnck_model_free(f->m);
    rnnck_tensor_free(f->x);
}

static rnnck_tensor *tensor(rnnck_dtype dt, int nd, int64_t a, int64_t b, int64_t c) {
    int64_t s[3] = {a, b, c};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(dt, nd, s, &t), RNNCK_OK);
    return t;
}

/* Calls forward and checks the status and that the message holds each of
 * the given substrings (expected and actual shapes). Outputs must stay NULL. */
static void expect_refusal(fixture_small *f, const rnnck_tensor *x, const rnnck_tensor *h0, const rnnck_tensor *c0,
                           const rnnck_tensor *len, rnnck_status want, const char *s1, const char *s2) {
    rnnck_tensor *y = NULL, *hn = NULL, *cn = NULL;
    rnnck_status st = rnnck_forward(f->m, 0, x, h0, c0, len, NULL, &y, &hn, &cn);
    cr_expect_eq(st, want, "status %d (%s), expected %d", st, rnnck_errmsg(), want);
    cr_expect(y == NULL && hn == NULL && cn == NULL, "outputs written on failure");
    if (s1) cr_expect(strstr(rnnck_errmsg(), s1) != NULL, "'%s' not in: %s", s1, rnnck_errmsg());
    if (s2) cr_expect(strstr(rnnck_errmsg(), s2) != NULL, "'%s' not in: %s", s2, rnnck_errmsg());
    cr_expect(strchr(rnnck_errmsg(), '\n') == NULL);
}

Test(forward_usage, wrong_input_rank_is_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *x1 = tensor(RNNCK_F32, 1, 3, 0, 0);
    expect_refusal(&f, x1, NULL, NULL, NULL, RNNCK_E_SHAPE, "(3,)", "(T, B, I)");
    int64_t s4[4] = {1, 5, 2, 3};
    rnnck_tensor *x4;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 4, s4, &x4), RNNCK_OK);
    expect_refusal(&f, x4, NULL, NULL, NULL, RNNCK_E_SHAPE, "(1, 5, 2, 3)", "I = 3");
    rnnck_tensor_free(x1);
    rnnck_tensor_free(x4);
    free_small(&f);
}

Test(forward_usage, wrong_input_size_is_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *x = tensor(RNNCK_F32, 3, 5, 2, 4);
    expect_refusal(&f, x, NULL, NULL, NULL, RNNCK_E_SHAPE, "(5, 2, 4)", "I = 3");
    rnnck_tensor *e = tensor(RNNCK_F32, 3, 0, 2, 3);
    expect_refusal(&f, e, NULL, NULL, NULL, RNNCK_E_SHAPE, "(0, 2, 3)", "time step");
    rnnck_tensor_free(x);
    rnnck_tensor_free(e);
    free_small(&f);
}

Test(forward_usage, non_float_input_is_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *x = tensor(RNNCK_I32, 3, 5, 2, 3);
    expect_refusal(&f, x, NULL, NULL, NULL, RNNCK_E_SHAPE, "int32", "float32 or float64");
    rnnck_tensor *h = tensor(RNNCK_F16, 3, 5, 2, 3);
    expect_refusal(&f, h, NULL, NULL, NULL, RNNCK_E_SHAPE, "float16", "float32 or float64");
    rnnck_tensor_free(x);
    rnnck_tensor_free(h);
    free_small(&f);
}

Test(forward_usage, h0_of_wrong_shape_is_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *h0 = tensor(RNNCK_F32, 3, 1, 3, 4);
    expect_refusal(&f, f.x, h0, NULL, NULL, RNNCK_E_SHAPE, "(1, 3, 4)", "(1, 2, 4)");
    rnnck_tensor *h2 = tensor(RNNCK_F32, 2, 1, 4, 0);
    expect_refusal(&f, f.x, h2, NULL, NULL, RNNCK_E_SHAPE, "(1, 4)", "(1, 2, 4)");
    rnnck_tensor *hi = tensor(RNNCK_I64, 3, 1, 2, 4);
    expect_refusal(&f, f.x, hi, NULL, NULL, RNNCK_E_SHAPE, "h0", "int64");
    rnnck_tensor_free(h0);
    rnnck_tensor_free(h2);
    rnnck_tensor_free(hi);
    free_small(&f);
}

Test(forward_usage, c0_of_wrong_shape_is_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *c0 = tensor(RNNCK_F32, 3, 2, 2, 4);
    expect_refusal(&f, f.x, NULL, c0, NULL, RNNCK_E_SHAPE, "(2, 2, 4)", "(1, 2, 4)");
    rnnck_tensor_free(c0);
    free_small(&f);
}

Test(forward_usage, c0_for_a_gru_is_a_usage_error) {
    fixture_small f = small_lstm(RNNCK_CELL_GRU);
    rnnck_tensor *c0 = tensor(RNNCK_F32, 3, 1, 2, 4);
    expect_refusal(&f, f.x, NULL, c0, NULL, RNNCK_E_USAGE, "c0", "GRU");
    rnnck_tensor_free(c0);
    free_small(&f);
}

static rnnck_tensor *lengths_of(rnnck_dtype dt, int n, const int64_t *v) {
    int64_t s[1] = {n};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(dt, 1, s, &t), RNNCK_OK);
    for (int i = 0; i < n; i++) {
        if (dt == RNNCK_I64) ((int64_t *)rnnck_tensor_data(t))[i] = v[i];
        else if (dt == RNNCK_I32) ((int32_t *)rnnck_tensor_data(t))[i] = (int32_t)v[i];
        else ((float *)rnnck_tensor_data(t))[i] = (float)v[i];
    }
    return t;
}

/* Runs the small LSTM (T = 5, B = 2) with lengths v and expects a shape
 * error naming the value, in both int64 and int32 lengths. */
static void expect_bad_lengths(int64_t v0, int64_t v1, const char *msg) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    int64_t v[2] = {v0, v1};
    rnnck_tensor *l = lengths_of(RNNCK_I64, 2, v);
    expect_refusal(&f, f.x, NULL, NULL, l, RNNCK_E_SHAPE, msg, "T = 5");
    rnnck_tensor *l32 = lengths_of(RNNCK_I32, 2, v);
    expect_refusal(&f, f.x, NULL, NULL, l32, RNNCK_E_SHAPE, msg, "T = 5");
    rnnck_tensor_free(l);
    rnnck_tensor_free(l32);
    free_small(&f);
}

Test(forward_usage, zero_length_is_a_shape_error) { expect_bad_lengths(0, 3, "lengths[0] = 0"); }
Test(forward_usage, length_above_t_is_a_shape_error) { expect_bad_lengths(3, 6, "lengths[1] = 6"); }
Test(forward_usage, negative_length_is_a_shape_error) { expect_bad_lengths(-1, 2, "lengths[0] = -1"); }

Test(forward_usage, lengths_of_wrong_count_are_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    int64_t v[3] = {1, 2, 3};
    rnnck_tensor *l3 = lengths_of(RNNCK_I64, 3, v);
    expect_refusal(&f, f.x, NULL, NULL, l3, RNNCK_E_SHAPE, "(3,)", "(2,)");
    rnnck_tensor_free(l3);
    free_small(&f);
}

Test(forward_usage, float_lengths_are_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    int64_t v[2] = {1, 2};
    rnnck_tensor *lf = lengths_of(RNNCK_F32, 2, v);
    expect_refusal(&f, f.x, NULL, NULL, lf, RNNCK_E_SHAPE, "float32", "int64");
    rnnck_tensor_free(lf);
    free_small(&f);
}

Test(forward_usage, lengths_with_unbatched_input_are_a_shape_error) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    int64_t v[1] = {5};
    rnnck_tensor *xu = tensor(RNNCK_F32, 2, 5, 3, 0);
    rnnck_tensor *l1 = lengths_of(RNNCK_I64, 1, v);
    expect_refusal(&f, xu, NULL, NULL, l1, RNNCK_E_SHAPE, "unbatched", "(5, 3)");
    rnnck_tensor_free(xu);
    rnnck_tensor_free(l1);
    free_small(&f);
}

Test(forward_usage, bad_module_index_compute_dtype_and_null_outputs_are_usage_errors) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *y = NULL, *hn = NULL;
    cr_expect_eq(rnnck_forward(f.m, 1, f.x, NULL, NULL, NULL, NULL, &y, &hn, NULL), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "module index 1") != NULL, "%s", rnnck_errmsg());
    rnnck_forward_opts o = {0, RNNCK_F16};
    cr_expect_eq(rnnck_forward(f.m, 0, f.x, NULL, NULL, NULL, &o, &y, &hn, NULL), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "float16") != NULL, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_forward(f.m, 0, f.x, NULL, NULL, NULL, NULL, NULL, &hn, NULL), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_forward(NULL, 0, f.x, NULL, NULL, NULL, NULL, &y, &hn, NULL), RNNCK_E_USAGE);
    cr_expect(y == NULL && hn == NULL);
    free_small(&f);
}

Test(forward_usage, success_clears_the_error_and_c_n_is_optional) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *y = NULL, *hn = NULL;
    rnnck_forward(f.m, 7, f.x, NULL, NULL, NULL, NULL, &y, &hn, NULL);
    cr_assert_neq(rnnck_errmsg()[0], '\0');
    rnnck_forward_opts o = {1, RNNCK_DTYPE_INVALID};
    cr_assert_eq(rnnck_forward(f.m, 0, f.x, NULL, NULL, NULL, &o, &y, &hn, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_errmsg()[0], '\0');
    cr_expect_eq(rnnck_tensor_dim(y, 2), 4);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    free_small(&f);
}

/* A NaN in the input must reach the outputs as NaN (as in PyTorch), not be
 * clamped away by the fast float32 exp. */
Test(forward_usage, nan_in_the_input_propagates_to_later_steps) {
    fixture_small f = small_lstm(RNNCK_CELL_LSTM);
    rnnck_tensor *wih;
    cr_assert_eq(rnnck_model_param(f.m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, &wih), RNNCK_OK);
    float *w = rnnck_tensor_data(wih);
    for (int64_t i = 0; i < rnnck_tensor_numel(wih); i++) w[i] = 0.1f;
    float *x = rnnck_tensor_data(f.x);
    x[0] = NAN; /* t = 0, batch row 0 */
    rnnck_tensor *y, *hn, *cn;
    cr_assert_eq(rnnck_forward(f.m, 0, f.x, NULL, NULL, NULL, NULL, &y, &hn, &cn), RNNCK_OK);
    const float *yd = rnnck_tensor_cdata(y);
    for (int t = 0; t < 5; t++) {
        cr_expect(isnan(yd[(t * 2 + 0) * 4]), "row 0, t=%d: %g is not NaN", t, yd[(t * 2 + 0) * 4]);
        cr_expect(!isnan(yd[(t * 2 + 1) * 4]), "row 1, t=%d became NaN", t);
    }
    cr_expect(isnan(((const float *)rnnck_tensor_cdata(cn))[0]));
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    free_small(&f);
}

/* Half-precision parameters are widened exactly to the compute dtype: a model
 * holding float16 (or bfloat16) parameters gives bit for bit the output of a
 * float32 model holding the same values. */
static void half_params_match_widened(rnnck_dtype half) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 5;
    info.hidden_size = 4;
    info.num_layers = 2;
    info.bidirectional = 1;
    info.proj_size = 3;
    rnnck_model *src, *h, *w;
    cr_assert_eq(rnnck_model_new(&src), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(src, &info), RNNCK_OK);
    cr_assert_eq(rnnck_model_init_module(src, 0, RNNCK_INIT_DEFAULT, 11, 0, 0), RNNCK_OK);
    info.dtype = half;
    cr_assert_eq(rnnck_model_new(&h), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(h, &info), RNNCK_OK);
    info.dtype = RNNCK_F32;
    cr_assert_eq(rnnck_model_new(&w), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(w, &info), RNNCK_OK);
    for (size_t i = 0; i < rnnck_model_tensor_count(src); i++) {
        cr_assert_eq(rnnck_tensor_assign(rnnck_model_tensor(h, i), rnnck_model_tensor(src, i)), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_assign(rnnck_model_tensor(w, i), rnnck_model_tensor(h, i)), RNNCK_OK);
    }
    rnnck_tensor *x = tensor(RNNCK_F32, 3, 6, 2, 5);
    float *xd = rnnck_tensor_data(x);
    for (int64_t i = 0; i < rnnck_tensor_numel(x); i++) xd[i] = (float)((i * 37 % 23) - 11) / 7.0f;
    rnnck_tensor *yh, *hh, *ch, *yw, *hw, *cw;
    cr_assert_eq(rnnck_forward(h, 0, x, NULL, NULL, NULL, NULL, &yh, &hh, &ch), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_forward(w, 0, x, NULL, NULL, NULL, NULL, &yw, &hw, &cw), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_tensor_dtype(yh), RNNCK_F32);
    cr_expect_eq(memcmp(rnnck_tensor_cdata(yh), rnnck_tensor_cdata(yw), rnnck_tensor_nbytes(yw)), 0);
    cr_expect_eq(memcmp(rnnck_tensor_cdata(ch), rnnck_tensor_cdata(cw), rnnck_tensor_nbytes(cw)), 0);
    /* and the rounding really happened: the half model differs from the source */
    rnnck_tensor *ys, *hs, *cs;
    cr_assert_eq(rnnck_forward(src, 0, x, NULL, NULL, NULL, NULL, &ys, &hs, &cs), RNNCK_OK);
    cr_expect_neq(memcmp(rnnck_tensor_cdata(ys), rnnck_tensor_cdata(yw), rnnck_tensor_nbytes(yw)), 0);
    rnnck_tensor *all[] = {x, yh, hh, ch, yw, hw, cw, ys, hs, cs};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) rnnck_tensor_free(all[i]);
    rnnck_model_free(src);
    rnnck_model_free(h);
    rnnck_model_free(w);
}

Test(forward_usage, float16_parameters_compute_as_their_exact_float32_values) { half_params_match_widened(RNNCK_F16); }
Test(forward_usage, bfloat16_parameters_compute_as_their_exact_float32_values) { half_params_match_widened(RNNCK_BF16); }
