/* The random generator and the initialisers: PyTorch's default
 * reset_parameters bounds, per-gate orthogonal blocks (checked against
 * torch.nn.init.orthogonal_ itself), forget bias, determinism, views. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h" /* rnnck__orthogonal_factor, rnnck__tensor_new_unloaded */

/* ---------------------------------------------------------------- helpers */

static rnnck_model *new_module_model(rnnck_cell cell, int64_t input, int64_t hidden, int64_t layers, int bidir,
                                     int64_t proj, rnnck_dtype dtype) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.input_size = input;
    info.hidden_size = hidden;
    info.num_layers = layers;
    info.bidirectional = bidir;
    info.proj_size = proj;
    info.dtype = dtype;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    return m;
}

/* All elements of t as doubles (C order); caller frees. */
static double *values(const rnnck_tensor *t) {
    int64_t n = rnnck_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    cr_assert(v);
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_F64, v, (size_t)n * sizeof *v), RNNCK_OK, "%s", rnnck_errmsg());
    return v;
}

/* Largest |G - gain^2 I| where G = W W^T if rows <= cols else W^T W. */
static double orthogonality_error(const rnnck_tensor *w, double gain) {
    int64_t rows = rnnck_tensor_ndim(w) == 2 ? rnnck_tensor_dim(w, 0) : 1;
    int64_t cols = rnnck_tensor_dim(w, rnnck_tensor_ndim(w) - 1);
    double *v = values(w);
    int row_gram = rows <= cols;
    int64_t n = row_gram ? rows : cols, len = row_gram ? cols : rows;
    double worst = 0;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            double s = 0;
            for (int64_t k = 0; k < len; k++)
                s += row_gram ? v[a * cols + k] * v[b * cols + k] : v[k * cols + a] * v[k * cols + b];
            double err = fabs(s - (a == b ? gain * gain : 0.0));
            if (err > worst) worst = err;
        }
    free(v);
    return worst;
}

/* Largest orthogonality error seen by expect_orthogonal_module (logged). */
static double worst_seen;

/* Every gate block of every weight orthogonal within tol; weight_hr as one
 * block; biases all zero. Returns the number of blocks checked. */
static int expect_orthogonal_module(rnnck_model *m, double tol) {
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    const char *order = rnnck_cell_gate_order(info->cell);
    int blocks = 0;
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int d = 0; d < (info->bidirectional ? 2 : 1); d++) {
            for (rnnck_param kind = RNNCK_PARAM_WEIGHT_IH; kind <= RNNCK_PARAM_WEIGHT_HH; kind++)
                for (const char *g = order; *g; g++) {
                    rnnck_tensor *v;
                    cr_assert_eq(rnnck_model_gate(m, 0, kind, layer, d, *g, &v), RNNCK_OK);
                    double err = orthogonality_error(v, 1.0);
                    if (err > worst_seen) worst_seen = err;
                    cr_expect_leq(err, tol, "layer %lld dir %d kind %d gate %c (%lld x %lld): error %g",
                                  (long long)layer, d, (int)kind, *g, (long long)rnnck_tensor_dim(v, 0),
                                  (long long)rnnck_tensor_dim(v, 1), err);
                    rnnck_tensor_free(v);
                    blocks++;
                }
            rnnck_tensor *p;
            if (info->proj_size > 0) {
                cr_assert_eq(rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_HR, layer, d, &p), RNNCK_OK);
                double err = orthogonality_error(p, 1.0);
                cr_expect_leq(err, tol, "weight_hr layer %lld dir %d: error %g", (long long)layer, d, err);
                blocks++;
            }
            if (info->bias)
                for (rnnck_param kind = RNNCK_PARAM_BIAS_IH; kind <= RNNCK_PARAM_BIAS_HH; kind++) {
                    cr_assert_eq(rnnck_model_param(m, 0, kind, layer, d, &p), RNNCK_OK);
                    double mn, mx;
                    cr_assert_eq(rnnck_tensor_stats(p, &mn, &mx, NULL, NULL, NULL), RNNCK_OK);
                    cr_expect(mn == 0 && mx == 0, "bias kind %d layer %lld not zero", (int)kind, (long long)layer);
                }
        }
    return blocks;
}

static int models_equal(const rnnck_model *a, const rnnck_model *b) {
    if (rnnck_model_tensor_count(a) != rnnck_model_tensor_count(b)) return 0;
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        const rnnck_tensor *x = rnnck_model_tensor(a, i), *y = rnnck_model_tensor(b, i);
        if (rnnck_tensor_nbytes(x) != rnnck_tensor_nbytes(y) ||
            memcmp(rnnck_tensor_cdata(x), rnnck_tensor_cdata(y), rnnck_tensor_nbytes(x)) != 0)
            return 0;
    }
    return 1;
}

/* -------------------------------------------------------------- generator */

Test(rng, xoshiro256starstar_stream_matches_the_reference_algorithm) {
    /* First outputs of xoshiro256** whose state is four splitmix64 outputs of
     * the seed, computed with an independent Python implementation of both
     * published algorithms (Vigna's reference code). */
    static const uint64_t seed0[] = {0x99ec5f36cb75f2b4ull, 0xbf6e1f784956452aull, 0x1a5f849d4933e6e0ull,
                                     0x6aa594f1262d2d2cull};
    static const uint64_t seed42[] = {0x15780b2e0c2ec716ull, 0x6104d9866d113a7eull, 0xae17533239e499a1ull,
                                      0xecb8ad4703b360a1ull};
    rnnck_rng *a, *b;
    cr_assert_eq(rnnck_rng_new(0, &a), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(42, &b), RNNCK_OK);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(rnnck_rng_u64(a), seed0[i], "seed 0 output %d", i);
        cr_expect_eq(rnnck_rng_u64(b), seed42[i], "seed 42 output %d", i);
    }
    rnnck_rng_free(a);
    rnnck_rng_free(b);
}

Test(rng, uniform_is_in_unit_interval_with_53_bits_and_right_moments) {
    rnnck_rng *r, *raw;
    cr_assert_eq(rnnck_rng_new(7, &r), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(7, &raw), RNNCK_OK);
    const int n = 200000;
    double sum = 0, sumsq = 0;
    for (int i = 0; i < n; i++) {
        double u = rnnck_rng_uniform(r);
        cr_assert(u >= 0 && u < 1, "uniform %g outside [0, 1)", u);
        /* 53 bits: the double is exactly the top 53 bits of the raw draw. */
        cr_assert_eq(u, (double)(rnnck_rng_u64(raw) >> 11) / 9007199254740992.0);
        sum += u;
        sumsq += u * u;
    }
    double mean = sum / n, var = sumsq / n - mean * mean;
    /* Standard errors: mean 1/sqrt(12 n) ~ 6.5e-4; allow ~5 sigma. */
    cr_expect(fabs(mean - 0.5) < 3.5e-3, "mean %g", mean);
    cr_expect(fabs(var - 1.0 / 12) < 2e-3, "variance %g", var);
    rnnck_rng_free(r);
    rnnck_rng_free(raw);
}

Test(rng, normal_has_zero_mean_unit_variance_and_gaussian_tails) {
    rnnck_rng *r;
    cr_assert_eq(rnnck_rng_new(123, &r), RNNCK_OK);
    const int n = 200000;
    double sum = 0, sumsq = 0;
    int beyond2 = 0;
    for (int i = 0; i < n; i++) {
        double z = rnnck_rng_normal(r);
        cr_assert(isfinite(z));
        sum += z;
        sumsq += z * z;
        beyond2 += fabs(z) > 2;
    }
    double mean = sum / n, var = sumsq / n - mean * mean;
    cr_expect(fabs(mean) < 0.012, "mean %g", mean);
    cr_expect(fabs(var - 1) < 0.02, "variance %g", var);
    /* P(|Z| > 2) = 0.0455 */
    cr_expect(fabs((double)beyond2 / n - 0.0455) < 0.003, "tail fraction %g", (double)beyond2 / n);
    rnnck_rng_free(r);
}

Test(rng, same_seed_same_stream_other_seed_other_stream) {
    rnnck_rng *a, *b, *c;
    cr_assert_eq(rnnck_rng_new(99, &a), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(99, &b), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(100, &c), RNNCK_OK);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        double x = rnnck_rng_normal(a), y = rnnck_rng_normal(b), z = rnnck_rng_normal(c);
        cr_assert_eq(memcmp(&x, &y, sizeof x), 0);
        differ += x != z;
    }
    cr_expect_geq(differ, 999);
    rnnck_rng_free(a);
    rnnck_rng_free(b);
    rnnck_rng_free(c);
}

/* ---------------------------------------------------- plain initialisers */

Test(init, orthogonal_factor_matches_torch_orthogonal_on_the_same_normal_matrix) {
    /* fixtures/layouts/torch_orthogonal.txt: the normal matrix torch drew and
     * what torch.nn.init.orthogonal_ made of it (float64). */
    const char *dir = getenv("RNNCK_FIXTURES");
    cr_assert(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/layouts/torch_orthogonal.txt", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char line[8192];
    int cases = 0;
    double worst = 0;
    while (fgets(line, sizeof line, f)) {
        int rows, cols;
        if (sscanf(line, "ortho %d %d", &rows, &cols) != 2) continue;
        int n = rows * cols;
        double *a = malloc(sizeof(double) * (size_t)n * 3), *want = a + n, *got = want + n;
        cr_assert(a);
        for (int which = 0; which < 2; which++) {
            cr_assert(fgets(line, sizeof line, f));
            char *p = strchr(line, ' ');
            cr_assert(p);
            for (int i = 0; i < n; i++) (which ? want : a)[i] = strtod(p, &p);
        }
        cr_assert_eq(rnnck__orthogonal_factor(a, rows, cols, got), RNNCK_OK);
        for (int i = 0; i < n; i++) {
            double err = fabs(got[i] - want[i]);
            if (err > worst) worst = err;
            cr_expect_leq(err, 1e-12, "%dx%d element %d: rnnck %.17g torch %.17g", rows, cols, i, got[i], want[i]);
        }
        free(a);
        cases++;
    }
    fclose(f);
    cr_expect_eq(cases, 6);
    cr_log_info("largest difference from torch.nn.init.orthogonal_: %g", worst);
}

Test(init, uniform_fills_within_bounds_in_every_float_dtype) {
    rnnck_dtype dtypes[] = {RNNCK_F32, RNNCK_F64, RNNCK_F16, RNNCK_BF16};
    for (size_t k = 0; k < 4; k++) {
        rnnck_tensor *t;
        rnnck_rng *r;
        cr_assert_eq(rnnck_tensor_new(dtypes[k], 2, (int64_t[]){40, 50}, &t), RNNCK_OK);
        cr_assert_eq(rnnck_rng_new(5, &r), RNNCK_OK);
        cr_assert_eq(rnnck_init_uniform(t, -0.25, 0.75, r), RNNCK_OK, "%s", rnnck_errmsg());
        double mn, mx, mean;
        cr_assert_eq(rnnck_tensor_stats(t, &mn, &mx, &mean, NULL, NULL), RNNCK_OK);
        cr_expect(mn >= -0.25 && mx <= 0.75, "%s: [%g, %g]", rnnck_dtype_name(dtypes[k]), mn, mx);
        cr_expect(mn < -0.24 && mx > 0.74, "%s: not spread: [%g, %g]", rnnck_dtype_name(dtypes[k]), mn, mx);
        cr_expect(fabs(mean - 0.25) < 0.03, "%s: mean %g", rnnck_dtype_name(dtypes[k]), mean);
        rnnck_rng_free(r);
        rnnck_tensor_free(t);
    }
}

Test(init, constant_sets_every_element) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_BF16, 1, (int64_t[]){9}, &t), RNNCK_OK);
    cr_assert_eq(rnnck_init_constant(t, -1.5), RNNCK_OK);
    double mn, mx;
    cr_assert_eq(rnnck_tensor_stats(t, &mn, &mx, NULL, NULL, NULL), RNNCK_OK);
    cr_expect(mn == -1.5 && mx == -1.5);
    rnnck_tensor_free(t);
}

Test(init, orthogonal_rows_or_columns_orthonormal_in_float32_and_float64_with_gain) {
    int64_t shapes[][2] = {{128, 100}, {100, 128}, {64, 64}, {3, 17}, {17, 3}, {1, 5}, {5, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int f64 = 0; f64 < 2; f64++) {
            rnnck_tensor *t;
            rnnck_rng *r;
            cr_assert_eq(rnnck_tensor_new(f64 ? RNNCK_F64 : RNNCK_F32, 2, shapes[s], &t), RNNCK_OK);
            cr_assert_eq(rnnck_rng_new(s, &r), RNNCK_OK);
            double gain = s == 2 ? 2.5 : 1.0;
            cr_assert_eq(rnnck_init_orthogonal(t, gain, r), RNNCK_OK, "%s", rnnck_errmsg());
            double err = orthogonality_error(t, gain);
            cr_expect_leq(err, f64 ? 1e-12 : 1e-5 * gain * gain, "%lld x %lld %s: error %g", (long long)shapes[s][0],
                          (long long)shapes[s][1], f64 ? "f64" : "f32", err);
            rnnck_rng_free(r);
            rnnck_tensor_free(t);
        }
}

Test(init, orthogonal_of_a_vector_is_a_unit_row) {
    rnnck_tensor *t;
    rnnck_rng *r;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F64, 1, (int64_t[]){7}, &t), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(1, &r), RNNCK_OK);
    cr_assert_eq(rnnck_init_orthogonal(t, 1.0, r), RNNCK_OK);
    cr_expect_leq(orthogonality_error(t, 1.0), 1e-14);
    rnnck_rng_free(r);
    rnnck_tensor_free(t);
}

Test(init, orthogonal_in_half_precisions_is_orthogonal_to_their_precision) {
    rnnck_dtype dtypes[] = {RNNCK_F16, RNNCK_BF16};
    double tols[] = {5e-3, 5e-2}; /* 16 rows of unit-roundoff 2^-11 / 2^-8 */
    for (int k = 0; k < 2; k++) {
        rnnck_tensor *t;
        rnnck_rng *r;
        cr_assert_eq(rnnck_tensor_new(dtypes[k], 2, (int64_t[]){16, 24}, &t), RNNCK_OK);
        cr_assert_eq(rnnck_rng_new(3, &r), RNNCK_OK);
        cr_assert_eq(rnnck_init_orthogonal(t, 1.0, r), RNNCK_OK);
        double err = orthogonality_error(t, 1.0);
        cr_expect_leq(err, tols[k], "%s: error %g", rnnck_dtype_name(dtypes[k]), err);
        cr_expect_gt(err, 0, "%s values cannot be exactly orthogonal", rnnck_dtype_name(dtypes[k]));
        rnnck_rng_free(r);
        rnnck_tensor_free(t);
    }
}

Test(init, initialisers_refuse_integer_and_unloaded_tensors_and_bad_arguments) {
    rnnck_rng *r;
    cr_assert_eq(rnnck_rng_new(1, &r), RNNCK_OK);
    rnnck_tensor *ints;
    cr_assert_eq(rnnck_tensor_new(RNNCK_I32, 2, (int64_t[]){3, 3}, &ints), RNNCK_OK);
    cr_expect_eq(rnnck_init_uniform(ints, 0, 1, r), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "int32"), "message: %s", rnnck_errmsg());
    cr_expect_eq(rnnck_init_constant(ints, 1), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_init_orthogonal(ints, 1, r), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "only float tensors"), "message: %s", rnnck_errmsg());

    rnnck_tensor *lazy;
    cr_assert_eq(rnnck__tensor_new_unloaded(RNNCK_F32, 2, (int64_t[]){3, 3}, &lazy), RNNCK_OK);
    cr_expect_eq(rnnck_init_uniform(lazy, 0, 1, r), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "not loaded"), "message: %s", rnnck_errmsg());
    cr_expect_eq(rnnck_init_constant(lazy, 0), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_init_orthogonal(lazy, 1, r), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "not loaded"), "message: %s", rnnck_errmsg());

    rnnck_tensor *t3;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, (int64_t[]){2, 2, 2}, &t3), RNNCK_OK);
    cr_expect_eq(rnnck_init_orthogonal(t3, 1, r), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_init_uniform(t3, 1, 0, r), RNNCK_E_USAGE, "reversed bounds");
    cr_expect_eq(rnnck_init_uniform(t3, 0, INFINITY, r), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_init_uniform(t3, 0, 1, NULL), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_init_uniform(NULL, 0, 1, r), RNNCK_E_USAGE);
    /* The refusals wrote nothing. */
    double mn, mx;
    cr_assert_eq(rnnck_tensor_stats(t3, &mn, &mx, NULL, NULL, NULL), RNNCK_OK);
    cr_expect(mn == 0 && mx == 0);
    rnnck_tensor_free(t3);
    rnnck_tensor_free(lazy);
    rnnck_tensor_free(ints);
    rnnck_rng_free(r);
}

Test(init, initialising_a_view_initialises_only_that_block) {
    rnnck_tensor *t, *v;
    rnnck_rng *r;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){12, 5}, &t), RNNCK_OK);
    cr_assert_eq(rnnck_rng_new(2, &r), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_block(t, 3, 1, &v), RNNCK_OK);
    cr_assert_eq(rnnck_init_orthogonal(v, 1.0, r), RNNCK_OK);
    const float *d = rnnck_tensor_cdata(t);
    for (int row = 0; row < 12; row++) {
        double norm2 = 0;
        for (int c = 0; c < 5; c++) norm2 += (double)d[row * 5 + c] * d[row * 5 + c];
        if (row >= 4 && row < 8) cr_expect(norm2 > 0, "row %d of the block is empty", row);
        else cr_expect_eq(norm2, 0, "row %d outside the block was written", row);
    }
    cr_expect_leq(orthogonality_error(v, 1.0), 1e-5);
    rnnck_tensor_free(v);
    cr_assert_eq(rnnck_tensor_block(t, 3, 2, &v), RNNCK_OK);
    cr_assert_eq(rnnck_init_uniform(v, 2, 3, r), RNNCK_OK);
    rnnck_tensor_free(v);
    for (int e = 40; e < 60; e++) cr_expect(d[e] >= 2 && d[e] <= 3, "element %d = %g", e, d[e]);
    for (int e = 0; e < 20; e++) cr_expect_eq(d[e], 0, "element %d of block 0 was written", e);
    rnnck_rng_free(r);
    rnnck_tensor_free(t);
}

/* ---------------------------------------------------- module initialiser */

Test(init_module, default_init_is_uniform_within_one_over_sqrt_hidden_on_every_parameter) {
    /* LSTM with projection and peepholes: weight_hr and peepholes included,
     * and the bound uses hidden_size (16), not proj_size. */
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 30;
    info.hidden_size = 16;
    info.num_layers = 2;
    info.bidirectional = 1;
    info.proj_size = 8;
    info.peepholes = 1;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 11, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    const double k = 0.25;
    size_t peepholes = 0;
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        double mn, mx, mean, sd;
        cr_assert_eq(rnnck_tensor_stats(t, &mn, &mx, &mean, &sd, NULL), RNNCK_OK);
        cr_expect(mn >= -k && mx <= k, "%s: [%g, %g] outside +-%g", rnnck_tensor_name(t), mn, mx, k);
        /* Not a constant: even 24 draws of U(-k, k) have std near 0.58 k. */
        cr_expect_gt(sd, 0.3 * k, "%s: std %g", rnnck_tensor_name(t), sd);
        /* Big tensors reach the bounds: P(no draw in the outer 5%) = 0.975^240 < 0.3%
         * per side per tensor, and the seed is fixed, so this is deterministic. */
        if (rnnck_tensor_numel(t) >= 240) {
            cr_expect(mn < -0.95 * k && mx > 0.95 * k, "%s: range [%g, %g] not near +-%g", rnnck_tensor_name(t), mn,
                      mx, k);
            /* U(-k, k): std k/sqrt(3) = 0.144 */
            cr_expect(fabs(sd - k / sqrt(3)) < 0.02, "%s: std %g", rnnck_tensor_name(t), sd);
        }
        peepholes += strstr(rnnck_tensor_name(t), "peephole") != NULL;
    }
    cr_expect_eq(peepholes, 4);
    cr_expect_eq(rnnck_model_tensor_count(m), 2 * 2 * 6);
    rnnck_model_free(m);
}

Test(init_module, orthogonal_makes_every_gate_block_orthogonal_lstm_100_128_f32_and_f64) {
    rnnck_dtype dtypes[] = {RNNCK_F32, RNNCK_F64};
    double tol[] = {1e-5, 1e-12};
    for (int k = 0; k < 2; k++) {
        rnnck_model *m = new_module_model(RNNCK_CELL_LSTM, 100, 128, 1, 0, 0, dtypes[k]);
        cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 1, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
        /* 4 blocks of 128 x 100 (columns orthonormal) + 4 of 128 x 128 */
        worst_seen = 0;
        cr_expect_eq(expect_orthogonal_module(m, tol[k]), 8);
        cr_log_info("%s: largest |W W^T - I| or |W^T W - I| over the 8 blocks: %g", rnnck_dtype_name(dtypes[k]),
                    worst_seen);
        rnnck_model_free(m);
    }
}

Test(init_module, orthogonal_covers_projection_bidirectional_layers_and_gru_wide_blocks) {
    /* LSTM(20, 16, 2 layers, bidirectional, proj 8): weight_hh blocks 16 x 8,
     * layer-1 weight_ih blocks 16 x 16, weight_hr 8 x 16 (rows orthonormal). */
    rnnck_model *m = new_module_model(RNNCK_CELL_LSTM, 20, 16, 2, 1, 8, RNNCK_F64);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 2, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(expect_orthogonal_module(m, 1e-12), 2 * 2 * (8 + 1));
    rnnck_model_free(m);
    /* GRU(30, 20): input blocks 20 x 30 (rows orthonormal). */
    m = new_module_model(RNNCK_CELL_GRU, 30, 20, 1, 0, 0, RNNCK_F32);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 3, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(expect_orthogonal_module(m, 1e-5), 6);
    rnnck_model_free(m);
    m = new_module_model(RNNCK_CELL_RNN_RELU, 6, 9, 3, 1, 0, RNNCK_F32);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 4, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(expect_orthogonal_module(m, 1e-5), 3 * 2 * 2);
    rnnck_model_free(m);
}

Test(init_module, orthogonal_blocks_are_not_one_orthogonal_matrix) {
    /* Per-gate: the blocks are independent draws, so rows of different gates
     * are not orthogonal to each other (a whole-matrix QR would make them so). */
    rnnck_model *m = new_module_model(RNNCK_CELL_LSTM, 64, 8, 1, 0, 0, RNNCK_F64);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 9, 0, 0), RNNCK_OK);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, &w), RNNCK_OK);
    cr_expect_gt(orthogonality_error(w, 1.0), 1e-3);
    rnnck_model_free(m);
}

static void expect_forget_bias(rnnck_model *m, const rnnck_model *reference, double fb) {
    /* Every f block of both biases is fb; every other element equals the
     * reference model (same seed, no forget bias). */
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        const rnnck_tensor *t = rnnck_model_tensor(m, i), *ref = rnnck_model_tensor(reference, i);
        const char *name = rnnck_tensor_name(t);
        int is_bias = strncmp(name, "bias_", 5) == 0;
        double *v = values(t), *rv = values(ref);
        int64_t n = rnnck_tensor_numel(t), h = n / 4;
        for (int64_t e = 0; e < n; e++) {
            if (is_bias && e >= h && e < 2 * h) cr_expect_eq(v[e], fb, "%s[%lld] = %g", name, (long long)e, v[e]);
            else cr_expect_eq(v[e], rv[e], "%s[%lld] changed: %g -> %g", name, (long long)e, rv[e], v[e]);
        }
        free(v);
        free(rv);
    }
}

Test(init_module, forget_bias_sets_exactly_the_f_block_of_both_biases) {
    for (int method = RNNCK_INIT_DEFAULT; method <= RNNCK_INIT_ORTHOGONAL; method++) {
        rnnck_model *m = new_module_model(RNNCK_CELL_LSTM, 5, 6, 2, 1, 0, RNNCK_F32);
        rnnck_model *ref = new_module_model(RNNCK_CELL_LSTM, 5, 6, 2, 1, 0, RNNCK_F32);
        cr_assert_eq(rnnck_model_init_module(m, 0, method, 77, 1, 1.0), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_init_module(ref, 0, method, 77, 0, 0), RNNCK_OK);
        expect_forget_bias(m, ref, 1.0);
        rnnck_tensor *f;
        cr_assert_eq(rnnck_model_gate(m, 0, RNNCK_PARAM_BIAS_HH, 1, 1, 'f', &f), RNNCK_OK);
        double mn, mx;
        cr_assert_eq(rnnck_tensor_stats(f, &mn, &mx, NULL, NULL, NULL), RNNCK_OK);
        cr_expect(mn == 1.0 && mx == 1.0);
        rnnck_tensor_free(f);
        rnnck_model_free(m);
        rnnck_model_free(ref);
    }
}

Test(init_module, forget_bias_refused_for_gru_rnn_and_bias_free_lstm_without_writing) {
    rnnck_cell cells[] = {RNNCK_CELL_GRU, RNNCK_CELL_RNN_TANH, RNNCK_CELL_RNN_RELU};
    for (int c = 0; c < 3; c++) {
        rnnck_model *m = new_module_model(cells[c], 4, 4, 1, 0, 0, RNNCK_F32);
        cr_expect_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 1, 1, 1.0), RNNCK_E_USAGE);
        cr_expect(strstr(rnnck_errmsg(), "LSTM only"), "message: %s", rnnck_errmsg());
        cr_expect(strstr(rnnck_errmsg(), rnnck_cell_name(cells[c])), "message: %s", rnnck_errmsg());
        rnnck_tensor *w;
        cr_assert_eq(rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, &w), RNNCK_OK);
        double mn, mx;
        cr_assert_eq(rnnck_tensor_stats(w, &mn, &mx, NULL, NULL, NULL), RNNCK_OK);
        cr_expect(mn == 0 && mx == 0, "refused call wrote parameters");
        rnnck_model_free(m);
    }
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = info.hidden_size = 4;
    info.bias = 0;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    cr_expect_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 1, 1, 1.0), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "without bias"), "message: %s", rnnck_errmsg());
    cr_expect_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 1, 0, 1.0), RNNCK_OK,
                 "without set_forget_bias the value is ignored");
    cr_expect_eq(rnnck_model_init_module(m, 1, RNNCK_INIT_DEFAULT, 1, 0, 0), RNNCK_E_USAGE, "no module 1");
    cr_expect_eq(rnnck_model_init_module(m, 0, (rnnck_init_method)7, 1, 0, 0), RNNCK_E_USAGE);
    rnnck_model_free(m);
}

Test(init_module, same_seed_is_bit_identical_and_another_seed_differs) {
    for (int method = RNNCK_INIT_DEFAULT; method <= RNNCK_INIT_ORTHOGONAL; method++) {
        rnnck_model *a = new_module_model(RNNCK_CELL_GRU, 7, 5, 2, 1, 0, RNNCK_F32);
        rnnck_model *b = new_module_model(RNNCK_CELL_GRU, 7, 5, 2, 1, 0, RNNCK_F32);
        rnnck_model *c = new_module_model(RNNCK_CELL_GRU, 7, 5, 2, 1, 0, RNNCK_F32);
        cr_assert_eq(rnnck_model_init_module(a, 0, method, 2024, 0, 0), RNNCK_OK);
        cr_assert_eq(rnnck_model_init_module(b, 0, method, 2024, 0, 0), RNNCK_OK);
        cr_assert_eq(rnnck_model_init_module(c, 0, method, 2025, 0, 0), RNNCK_OK);
        cr_expect(models_equal(a, b), "method %d: same seed differs", method);
        cr_expect(!models_equal(a, c), "method %d: another seed gives the same parameters", method);
        /* Re-initialising gives the same values again (a fresh generator). */
        cr_assert_eq(rnnck_model_init_module(a, 0, method, 2024, 0, 0), RNNCK_OK);
        cr_expect(models_equal(a, b));
        rnnck_model_free(a);
        rnnck_model_free(b);
        rnnck_model_free(c);
    }
}

Test(init_module, result_does_not_depend_on_other_modules_in_the_model) {
    rnnck_model *alone = new_module_model(RNNCK_CELL_LSTM, 6, 4, 1, 0, 0, RNNCK_F32);
    rnnck_model *shared;
    cr_assert_eq(rnnck_model_new(&shared), RNNCK_OK);
    rnnck_module_info other, same;
    rnnck_module_info_init(&other, RNNCK_CELL_GRU);
    other.name = "first";
    other.input_size = 3;
    other.hidden_size = 3;
    rnnck_module_info_init(&same, RNNCK_CELL_LSTM);
    same.name = "enc.rnn";
    same.input_size = 6;
    same.hidden_size = 4;
    cr_assert_eq(rnnck_model_add_module(shared, &other), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(shared, &same), RNNCK_OK);
    cr_assert_eq(rnnck_model_init_module(shared, 0, RNNCK_INIT_DEFAULT, 5, 0, 0), RNNCK_OK);
    cr_assert_eq(rnnck_model_init_module(shared, 1, RNNCK_INIT_DEFAULT, 5, 0, 0), RNNCK_OK);
    cr_assert_eq(rnnck_model_init_module(alone, 0, RNNCK_INIT_DEFAULT, 5, 0, 0), RNNCK_OK);
    size_t first_of_lstm = rnnck_model_tensor_count(shared) - rnnck_model_tensor_count(alone);
    for (size_t i = 0; i < rnnck_model_tensor_count(alone); i++) {
        const rnnck_tensor *x = rnnck_model_tensor(alone, i), *y = rnnck_model_tensor(shared, first_of_lstm + i);
        cr_assert_eq(rnnck_tensor_nbytes(x), rnnck_tensor_nbytes(y));
        cr_expect_eq(memcmp(rnnck_tensor_cdata(x), rnnck_tensor_cdata(y), rnnck_tensor_nbytes(x)), 0, "%s vs %s",
                     rnnck_tensor_name(x), rnnck_tensor_name(y));
    }
    rnnck_model_free(alone);
    rnnck_model_free(shared);
}

Test(init_module, works_on_half_precision_modules) {
    rnnck_model *m = new_module_model(RNNCK_CELL_LSTM, 8, 16, 1, 0, 0, RNNCK_F16);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 1, 1, 1.0), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_HH, 0, 0, &w), RNNCK_OK);
    double mn, mx;
    cr_assert_eq(rnnck_tensor_stats(w, &mn, &mx, NULL, NULL, NULL), RNNCK_OK);
    cr_expect(mn >= -0.25 && mx <= 0.25 && mn < -0.2 && mx > 0.2, "[%g, %g]", mn, mx);
    rnnck_model_free(m);
    m = new_module_model(RNNCK_CELL_GRU, 8, 16, 1, 0, 0, RNNCK_BF16);
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_ORTHOGONAL, 1, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(expect_orthogonal_module(m, 5e-2), 6);
    rnnck_model_free(m);
}
