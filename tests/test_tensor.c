/* Tensors: creation, shared-storage gate views, dtype conversions (half and
 * bfloat16 rounding), assignment through views, statistics, size limits. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "rnnck.h"

static rnnck_tensor *arange_f32(int64_t rows, int64_t cols) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){rows, cols}, &t), RNNCK_OK);
    float *d = rnnck_tensor_data(t);
    for (int64_t i = 0; i < rows * cols; i++) d[i] = (float)i;
    return t;
}

static uint16_t f32_to(rnnck_dtype half, float x) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 1, (int64_t[]){1}, &x, sizeof x, &t), RNNCK_OK);
    uint16_t h;
    cr_assert_eq(rnnck_tensor_copy_out(t, half, &h, sizeof h), RNNCK_OK);
    rnnck_tensor_free(t);
    return h;
}

static float from_half(rnnck_dtype half, uint16_t h) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_from_data(half, 1, (int64_t[]){1}, &h, sizeof h, &t), RNNCK_OK);
    float x;
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_F32, &x, sizeof x), RNNCK_OK);
    rnnck_tensor_free(t);
    return x;
}

/* ---------------------------------------------------------- construction */

Test(tensor, new_is_zero_filled_c_contiguous_with_element_strides) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F64, 3, (int64_t[]){2, 3, 4}, &t), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_dtype(t), RNNCK_F64);
    cr_expect_eq(rnnck_tensor_ndim(t), 3);
    cr_expect(rnnck_tensor_dim(t, 0) == 2 && rnnck_tensor_dim(t, 1) == 3 && rnnck_tensor_dim(t, 2) == 4);
    cr_expect(rnnck_tensor_stride(t, 0) == 12 && rnnck_tensor_stride(t, 1) == 4 && rnnck_tensor_stride(t, 2) == 1);
    cr_expect_eq(rnnck_tensor_dim(t, 3), -1);
    cr_expect_eq(rnnck_tensor_dim(t, -1), -1);
    cr_expect_eq(rnnck_tensor_stride(t, 3), 0);
    cr_expect_eq(rnnck_tensor_numel(t), 24);
    cr_expect_eq(rnnck_tensor_nbytes(t), 24 * 8);
    cr_expect(rnnck_tensor_is_contiguous(t));
    cr_expect_str_eq(rnnck_tensor_name(t), "");
    const double *d = rnnck_tensor_cdata(t);
    for (int i = 0; i < 24; i++) cr_expect_eq(d[i], 0.0);
    rnnck_tensor_free(t);
    rnnck_tensor_free(NULL); /* NULL-safe */
}

Test(tensor, scalars_and_empty_tensors_are_valid) {
    rnnck_tensor *s, *e;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 0, NULL, &s), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_numel(s), 1);
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){0, 5}, &e), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_numel(e), 0);
    cr_expect_eq(rnnck_tensor_nbytes(e), 0);
    cr_expect_eq(rnnck_tensor_copy_out(e, RNNCK_F64, NULL, 0), RNNCK_OK);
    int64_t nonfinite = -1;
    double mean = 0;
    cr_expect_eq(rnnck_tensor_stats(e, NULL, NULL, &mean, NULL, &nonfinite), RNNCK_OK);
    cr_expect(isnan(mean) && nonfinite == 0, "no elements: mean NaN");
    rnnck_tensor_free(s);
    rnnck_tensor_free(e);
}

Test(tensor, new_refuses_bad_dtype_rank_and_negative_dims_without_writing_out) {
    rnnck_tensor *sentinel = (rnnck_tensor *)(uintptr_t)0x1, *t = sentinel;
    cr_expect_eq(rnnck_tensor_new(RNNCK_DTYPE_INVALID, 1, (int64_t[]){3}, &t), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_tensor_new(RNNCK_F32, RNNCK_MAX_DIMS + 1, (int64_t[9]){1}, &t), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_tensor_new(RNNCK_F32, -1, NULL, &t), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_tensor_new(RNNCK_F32, 2, NULL, &t), RNNCK_E_USAGE);
    cr_expect_neq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){3, -1}, &t), RNNCK_OK);
    cr_expect_neq(rnnck_errmsg()[0], '\0', "a refusal leaves a message");
    cr_expect_eq(t, sentinel, "out written on failure");
}

Test(tensor, huge_shapes_are_refused_with_nomem_not_a_crash) {
    rnnck_tensor *t = NULL;
    /* numel overflows int64 */
    cr_expect_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40}, &t), RNNCK_E_NOMEM);
    /* numel fits, bytes overflow size_t */
    cr_expect_eq(rnnck_tensor_new(RNNCK_F64, 1, (int64_t[]){(int64_t)1 << 62}, &t), RNNCK_E_NOMEM);
    cr_expect_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){INT64_MAX / 2, 3}, &t), RNNCK_E_NOMEM);
    float x = 0;
    cr_expect_eq(rnnck_tensor_from_data(RNNCK_F32, 1, (int64_t[]){INT64_MAX}, &x, sizeof x, &t), RNNCK_E_NOMEM);
    cr_expect_null(t);
}

Test(tensor, from_data_copies_and_checks_the_byte_count) {
    float src[6] = {1, 2, 3, 4, 5, 6};
    rnnck_tensor *t = NULL;
    cr_expect_eq(rnnck_tensor_from_data(RNNCK_F32, 2, (int64_t[]){2, 3}, src, sizeof src - 1, &t), RNNCK_E_SHAPE);
    cr_expect(strstr(rnnck_errmsg(), "23 bytes"), "message: %s", rnnck_errmsg());
    cr_expect_eq(rnnck_tensor_from_data(RNNCK_F64, 2, (int64_t[]){2, 3}, src, sizeof src, &t), RNNCK_E_SHAPE,
                 "f64 needs 48 bytes");
    cr_expect_null(t);
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 2, (int64_t[]){2, 3}, src, sizeof src, &t), RNNCK_OK);
    src[0] = 99; /* a copy, not an alias */
    const float *d = rnnck_tensor_cdata(t);
    for (int i = 0; i < 6; i++) cr_expect_eq(d[i], (float)(i + 1));
    rnnck_tensor_free(t);
}

/* ------------------------------------------------------------------ views */

static rnnck_model *lstm_10_8(void) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 10;
    info.hidden_size = 8;
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    return m;
}

Test(tensor, gate_view_shares_memory_with_the_parameter_and_outlives_the_model) {
    rnnck_model *m = lstm_10_8();
    rnnck_tensor *w, *f;
    cr_assert_eq(rnnck_model_find(m, "weight_ih_l0", &w), RNNCK_OK);
    cr_assert_eq(rnnck_model_gate(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, 'f', &f), RNNCK_OK);
    cr_expect(rnnck_tensor_dim(f, 0) == 8 && rnnck_tensor_dim(f, 1) == 10);
    cr_expect_eq(rnnck_tensor_stride(f, 0), 10);
    cr_expect_eq((char *)rnnck_tensor_data(f), (char *)rnnck_tensor_data(w) + 8 * 10 * sizeof(float));
    /* Write through the view: the parameter changes exactly at rows [H, 2H). */
    float *fd = rnnck_tensor_data(f);
    for (int i = 0; i < 80; i++) fd[i] = 1000.0f + (float)i;
    const float *wd = rnnck_tensor_cdata(w);
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 10; c++) {
            float want = (r >= 8 && r < 16) ? 1000.0f + (float)((r - 8) * 10 + c) : 0.0f;
            cr_expect_eq(wd[r * 10 + c], want, "row %d col %d", r, c);
        }
    /* The model (and with it the parameter) goes first; the view keeps the
     * storage alive. */
    rnnck_model_free(m);
    float vals[80];
    cr_assert_eq(rnnck_tensor_copy_out(f, RNNCK_F32, vals, sizeof vals), RNNCK_OK);
    for (int i = 0; i < 80; i++) cr_expect_eq(vals[i], 1000.0f + (float)i);
    fd[3] = -1; /* still writable */
    cr_expect_eq(((const float *)rnnck_tensor_cdata(f))[3], -1.0f);
    rnnck_tensor_free(f);
}

Test(tensor, view_of_a_view_and_blocks_of_bias_vectors) {
    rnnck_tensor *t = arange_f32(32, 10), *g, *gg, *b;
    cr_assert_eq(rnnck_tensor_block(t, 4, 1, &g), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_block(g, 2, 1, &gg), RNNCK_OK); /* rows 12..15 */
    rnnck_tensor_free(t);
    rnnck_tensor_free(g); /* the innermost view alone holds the storage now */
    cr_expect(rnnck_tensor_dim(gg, 0) == 4 && rnnck_tensor_dim(gg, 1) == 10);
    float vals[40];
    cr_assert_eq(rnnck_tensor_copy_out(gg, RNNCK_F32, vals, sizeof vals), RNNCK_OK);
    for (int i = 0; i < 40; i++) cr_expect_eq(vals[i], 120.0f + (float)i);
    rnnck_tensor_free(gg);

    float bias[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 1, (int64_t[]){12}, bias, sizeof bias, &t), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_block(t, 3, 2, &b), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_numel(b), 4);
    cr_expect_eq(((const float *)rnnck_tensor_cdata(b))[0], 8.0f);
    rnnck_tensor_free(b);
    rnnck_tensor_free(t);
}

Test(tensor, block_refuses_bad_counts_indices_and_scalars) {
    rnnck_tensor *t = arange_f32(12, 2), *v = NULL, *s;
    cr_expect_eq(rnnck_tensor_block(t, 5, 0, &v), RNNCK_E_USAGE, "12 rows do not split in 5");
    cr_expect_eq(rnnck_tensor_block(t, 4, 4, &v), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_tensor_block(t, 4, -1, &v), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_tensor_block(t, 0, 0, &v), RNNCK_E_USAGE);
    cr_expect_null(v);
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 0, NULL, &s), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_block(s, 1, 0, &v), RNNCK_E_USAGE);
    rnnck_tensor_free(s);
    rnnck_tensor_free(t);
}

/* ------------------------------------------------------------ conversions */

Test(tensor, copy_out_to_float16_rounds_to_nearest_even) {
    /* Expected bits from numpy: np.float32(x).astype(np.float16).view(np.uint16). */
    static const struct {
        float x;
        uint16_t bits;
    } table[] = {
        {1.0f, 0x3c00},
        {1.00048828125f, 0x3c00},       /* 1 + 2^-11: tie, stays on even 1.0 */
        {1.00146484375f, 0x3c02},       /* 1 + 3*2^-11: tie, up to even */
        {1.0004884004592896f, 0x3c01},  /* just above the tie: up */
        {65504.0f, 0x7bff},             /* largest half */
        {65519.0f, 0x7bff},             /* below the overflow midpoint */
        {65520.0f, 0x7c00},             /* overflow midpoint: to inf */
        {5.960464477539063e-08f, 0x0001}, /* 2^-24, smallest subnormal */
        {2.9802322387695312e-08f, 0x0000}, /* 2^-25: tie to even zero */
        {4.470348358154297e-08f, 0x0001},  /* 1.5 * 2^-25 */
        {8.940696716308594e-08f, 0x0002},  /* 3 * 2^-25: tie, to even 2 */
        {6.1005353927612305e-05f, 0x0400}, /* 2^-14 - 2^-25: rounds up to the smallest normal */
        {-2.0f, 0xc000},
        {0.1f, 0x2e66},
        {-0.0f, 0x8000},
        {INFINITY, 0x7c00},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        cr_expect_eq(f32_to(RNNCK_F16, table[i].x), table[i].bits, "%.9g -> 0x%04x, want 0x%04x", table[i].x,
                     f32_to(RNNCK_F16, table[i].x), table[i].bits);
    uint16_t nan_bits = f32_to(RNNCK_F16, NAN);
    cr_expect((nan_bits & 0x7c00) == 0x7c00 && (nan_bits & 0x3ff) != 0, "NaN stays NaN: 0x%04x", nan_bits);
}

Test(tensor, copy_out_to_bfloat16_rounds_to_nearest_even) {
    /* Expected bits from PyTorch: torch.tensor([x]).to(torch.bfloat16).view(torch.int16). */
    static const struct {
        float x;
        uint16_t bits;
    } table[] = {
        {1.0f, 0x3f80},
        {1.00390625f, 0x3f80},          /* 1 + 2^-8: tie, stays on even */
        {1.01171875f, 0x3f82},          /* 1 + 3*2^-8: tie, up to even */
        {1.0039063692092896f, 0x3f81},  /* just above the tie */
        {3.0e38f, 0x7f62},
        {3.3895313892515355e38f, 0x7f7f}, /* largest bfloat16 */
        {3.4028234663852886e38f, 0x7f80}, /* FLT_MAX rounds to inf */
        {-1.5f, 0xbfc0},
        {0.1f, 0x3dcd},
        {9.183549615799121e-41f, 0x0001}, /* 2^-133: smallest subnormal */
        {1.1754943508222875e-38f, 0x0080}, /* FLT_MIN */
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        cr_expect_eq(f32_to(RNNCK_BF16, table[i].x), table[i].bits, "%.9g -> 0x%04x, want 0x%04x", table[i].x,
                     f32_to(RNNCK_BF16, table[i].x), table[i].bits);
    uint16_t nan_bits = f32_to(RNNCK_BF16, NAN);
    cr_expect((nan_bits & 0x7f80) == 0x7f80 && (nan_bits & 0x7f) != 0, "NaN stays NaN: 0x%04x", nan_bits);
}

Test(tensor, half_and_bfloat16_decode_exactly) {
    cr_expect_eq(from_half(RNNCK_F16, 0x0001), 0x1p-24f);
    cr_expect_eq(from_half(RNNCK_F16, 0x03ff), 0x3ffp-24f, "largest subnormal");
    cr_expect_eq(from_half(RNNCK_F16, 0x0400), 0x1p-14f);
    cr_expect_eq(from_half(RNNCK_F16, 0x7bff), 65504.0f);
    cr_expect_eq(from_half(RNNCK_F16, 0xfc00), -INFINITY);
    cr_expect(isnan(from_half(RNNCK_F16, 0x7e00)));
    cr_expect(signbit(from_half(RNNCK_F16, 0x8000)) && from_half(RNNCK_F16, 0x8000) == 0);
    cr_expect_eq(from_half(RNNCK_BF16, 0x3f81), 1.0078125f);
    cr_expect_eq(from_half(RNNCK_BF16, 0x0001), 0x1p-133f);
    /* Every finite half survives half -> f32 -> half. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        cr_assert_eq(f32_to(RNNCK_F16, from_half(RNNCK_F16, (uint16_t)h)), h, "half 0x%04x", h);
    }
}

Test(tensor, copy_out_converts_between_float_and_int_dtypes) {
    double src[4] = {1.5, -2.25, 1e300, 3.0};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F64, 1, (int64_t[]){4}, src, sizeof src, &t), RNNCK_OK);
    float f[4];
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_F32, f, sizeof f), RNNCK_OK);
    cr_expect(f[0] == 1.5f && f[1] == -2.25f && isinf(f[2]) && f[3] == 3.0f);
    int32_t ints[4];
    cr_expect_eq(rnnck_tensor_copy_out(t, RNNCK_I32, ints, sizeof ints), RNNCK_E_USAGE, "float -> int refused");
    cr_expect_eq(rnnck_tensor_copy_out(t, RNNCK_F32, f, sizeof f - 4), RNNCK_E_SHAPE);
    cr_expect_eq(rnnck_tensor_copy_out(t, RNNCK_DTYPE_INVALID, f, sizeof f), RNNCK_E_USAGE);
    rnnck_tensor_free(t);

    int32_t isrc[3] = {-7, 0, 16777217};
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_I32, 1, (int64_t[]){3}, isrc, sizeof isrc, &t), RNNCK_OK);
    double d[3];
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_F64, d, sizeof d), RNNCK_OK);
    cr_expect(d[0] == -7 && d[1] == 0 && d[2] == 16777217.0);
    int64_t wide[3];
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_I64, wide, sizeof wide), RNNCK_OK);
    cr_expect(wide[0] == -7 && wide[2] == 16777217);
    rnnck_tensor_free(t);
}

Test(tensor, clone_is_an_independent_converted_copy) {
    rnnck_tensor *t = arange_f32(4, 3), *c, *v;
    cr_assert_eq(rnnck_tensor_block(t, 2, 1, &v), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_clone(v, RNNCK_F16, &c), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_dtype(c), RNNCK_F16);
    cr_expect(rnnck_tensor_dim(c, 0) == 2 && rnnck_tensor_dim(c, 1) == 3);
    ((float *)rnnck_tensor_data(t))[6] = -1;
    float vals[6];
    cr_assert_eq(rnnck_tensor_copy_out(c, RNNCK_F32, vals, sizeof vals), RNNCK_OK);
    for (int i = 0; i < 6; i++) cr_expect_eq(vals[i], 6.0f + (float)i);
    rnnck_tensor_free(c);
    rnnck_tensor_free(v);
    rnnck_tensor_free(t);
}

/* ------------------------------------------------------------- assignment */

Test(tensor, assign_writes_through_a_view_converting_dtype) {
    rnnck_model *m = lstm_10_8();
    rnnck_tensor *g, *src, *w;
    cr_assert_eq(rnnck_model_gate(m, 0, RNNCK_PARAM_WEIGHT_HH, 0, 0, 'g', &g), RNNCK_OK);
    double vals[64];
    for (int i = 0; i < 64; i++) vals[i] = 0.5 * i;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F64, 2, (int64_t[]){8, 8}, vals, sizeof vals, &src), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_assign(g, src), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_find(m, "weight_hh_l0", &w), RNNCK_OK);
    const float *wd = rnnck_tensor_cdata(w);
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 8; c++)
            cr_expect_eq(wd[r * 8 + c], (r >= 16 && r < 24) ? 0.5f * (float)((r - 16) * 8 + c) : 0.0f, "row %d", r);
    rnnck_tensor_free(src);
    /* Wrong shape: refused, nothing written. */
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){8, 7}, &src), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_assign(g, src), RNNCK_E_SHAPE);
    cr_expect(strstr(rnnck_errmsg(), "(8, 7)"), "message: %s", rnnck_errmsg());
    cr_expect_eq(wd[16 * 8 + 1], 0.5f);
    rnnck_tensor_free(src);
    rnnck_tensor_free(g);
    rnnck_model_free(m);
}

Test(tensor, assign_between_overlapping_views_of_one_storage) {
    rnnck_tensor *t = arange_f32(6, 2), *a, *b;
    cr_assert_eq(rnnck_tensor_block(t, 3, 0, &a), RNNCK_OK); /* rows 0-1 */
    cr_assert_eq(rnnck_tensor_block(t, 3, 1, &b), RNNCK_OK); /* rows 2-3 */
    cr_assert_eq(rnnck_tensor_assign(b, a), RNNCK_OK);
    const float *d = rnnck_tensor_cdata(t);
    float want[12] = {0, 1, 2, 3, 0, 1, 2, 3, 8, 9, 10, 11};
    for (int i = 0; i < 12; i++) cr_expect_eq(d[i], want[i], "element %d", i);
    cr_assert_eq(rnnck_tensor_assign(t, t), RNNCK_OK, "self-assignment");
    for (int i = 0; i < 12; i++) cr_expect_eq(d[i], want[i]);
    rnnck_tensor *ints;
    cr_assert_eq(rnnck_tensor_new(RNNCK_I16, 2, (int64_t[]){2, 2}, &ints), RNNCK_OK);
    cr_expect_eq(rnnck_tensor_assign(ints, a), RNNCK_E_USAGE, "float into int refused");
    cr_expect_eq(rnnck_tensor_assign(a, ints), RNNCK_OK, "int into float allowed");
    cr_expect_eq(d[0], 0.0f);
    cr_expect_eq(d[3], 0.0f);
    rnnck_tensor_free(ints);
    rnnck_tensor_free(a);
    rnnck_tensor_free(b);
    rnnck_tensor_free(t);
}

/* ------------------------------------------------------------------ stats */

Test(tensor, stats_give_min_max_mean_population_std_and_count_nonfinite) {
    float v[7] = {1, 2, 3, 4, NAN, INFINITY, -INFINITY};
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 1, (int64_t[]){7}, v, sizeof v, &t), RNNCK_OK);
    double mn, mx, mean, sd;
    int64_t nonfinite;
    cr_assert_eq(rnnck_tensor_stats(t, &mn, &mx, &mean, &sd, &nonfinite), RNNCK_OK);
    cr_expect(mn == 1 && mx == 4 && mean == 2.5);
    cr_expect(fabs(sd - sqrt(1.25)) < 1e-15, "population std %g", sd);
    cr_expect_eq(nonfinite, 3);
    cr_expect_eq(rnnck_tensor_stats(t, NULL, NULL, NULL, NULL, NULL), RNNCK_OK, "all outputs optional");
    rnnck_tensor_free(t);

    /* Large offset: a one-pass formula would lose the spread entirely. */
    double big[4] = {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4};
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F64, 1, (int64_t[]){4}, big, sizeof big, &t), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_stats(t, NULL, NULL, &mean, &sd, NULL), RNNCK_OK);
    cr_expect(mean == 1e9 + 2.5 && fabs(sd - sqrt(1.25)) < 1e-9, "mean %.17g std %.17g", mean, sd);
    rnnck_tensor_free(t);

    float all_bad[2] = {NAN, INFINITY};
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 1, (int64_t[]){2}, all_bad, sizeof all_bad, &t), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_stats(t, &mn, &mx, &mean, &sd, &nonfinite), RNNCK_OK);
    cr_expect(isnan(mn) && isnan(mx) && isnan(mean) && isnan(sd) && nonfinite == 2);
    rnnck_tensor_free(t);
}

Test(tensor, stats_of_a_view_cover_only_its_block) {
    rnnck_tensor *t = arange_f32(8, 2), *v;
    cr_assert_eq(rnnck_tensor_block(t, 4, 2, &v), RNNCK_OK); /* 8, 9, 10, 11 */
    double mn, mx, mean;
    cr_assert_eq(rnnck_tensor_stats(v, &mn, &mx, &mean, NULL, NULL), RNNCK_OK);
    cr_expect(mn == 8 && mx == 11 && mean == 9.5);
    rnnck_tensor_free(v);
    rnnck_tensor_free(t);
}

/* Regression (found by fuzzing .npy): an empty tensor has nothing to lay out,
 * so it is contiguous whatever its strides; before the fix (3, 0) and (2, 0, 4)
 * were reported non-contiguous and took the slow element-wise path. */
Test(tensor, empty_tensors_are_contiguous_whatever_their_shape) {
    const int64_t shapes[][3] = {{3, 0, 1}, {2, 0, 4}, {0, 5, 1}};
    const int ndims[] = {2, 3, 2};
    for (int k = 0; k < 3; k++) {
        rnnck_tensor *t;
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, ndims[k], shapes[k], &t), RNNCK_OK);
        cr_expect(rnnck_tensor_is_contiguous(t), "shape %d is not contiguous", k);
        cr_expect_eq(rnnck_tensor_copy_out(t, RNNCK_F32, NULL, 0), RNNCK_OK);
        rnnck_tensor_free(t);
    }
}
