/* rnnck_forward: argument checks, layout changes (batch_first, unbatched),
 * dtype conversion, then the float or double kernel (forward_kernel.h). */
#include "forward/blas_blocks.h"
#include "forward/forward_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape_view {
    int ndim;
    int64_t d[3];
} shape_view;

static int64_t ring_blocks_for_tests;

void rnnck__forward_ring_for_tests(int64_t blocks) { ring_blocks_for_tests = blocks; }

int64_t rnnck__forward_ring_blocks(void) { return ring_blocks_for_tests; }

static _Atomic unsigned long ring_fills;

void rnnck__forward_count_fill(void) { atomic_fetch_add_explicit(&ring_fills, 1, memory_order_relaxed); }

unsigned long rnnck__forward_fills(void) { return atomic_load_explicit(&ring_fills, memory_order_relaxed); }

static const char *module_label(const rnnck_module_info *info) {
    return (info->name && *info->name) ? info->name : "(root)";
}

static rnnck_status shape_mismatch(const rnnck_module_info *info, const char *what, const char *expected,
                                   const rnnck_tensor *t) {
    char got[160];
    return rnnck__err(RNNCK_E_SHAPE, "forward: module %s: %s has shape %s, expected %s", module_label(info), what,
                      rnnck__shape_str(rnnck_tensor_ndim(t), t->shape, got, sizeof got), expected);
}

static bool same_shape(const rnnck_tensor *t, const shape_view *s) {
    if (t->ndim != s->ndim) return false;
    for (int i = 0; i < s->ndim; i++)
        if (t->shape[i] != s->d[i]) return false;
    return true;
}

/* Checks a state tensor (h0 or c0) against its expected shape and dtype. */
static rnnck_status check_state(const rnnck_module_info *info, const char *what, const rnnck_tensor *t,
                                const shape_view *want) {
    char exp[160];
    rnnck__shape_str(want->ndim, want->d, exp, sizeof exp);
    if (!rnnck_dtype_is_float(t->dtype))
        return rnnck__err(RNNCK_E_SHAPE, "forward: module %s: %s has dtype %s, expected a float dtype",
                          module_label(info), what, rnnck_dtype_name(t->dtype));
    if (!same_shape(t, want)) return shape_mismatch(info, what, exp, t);
    if (!rnnck__tensor_loaded(t))
        return rnnck__err(RNNCK_E_USAGE, "forward: module %s: %s has no data", module_label(info), what);
    return RNNCK_OK;
}

/* Lengths as int64, each in [1, T]. */
static rnnck_status read_lengths(const rnnck_module_info *info, const rnnck_tensor *t, int64_t T, int64_t B,
                                 int64_t **out) {
    char exp[64];
    snprintf(exp, sizeof exp, "(%lld,) of int64 or int32", (long long)B);
    if (t->dtype != RNNCK_I64 && t->dtype != RNNCK_I32)
        return rnnck__err(RNNCK_E_SHAPE, "forward: module %s: lengths has dtype %s, expected %s", module_label(info),
                          rnnck_dtype_name(t->dtype), exp);
    if (t->ndim != 1 || t->shape[0] != B) return shape_mismatch(info, "lengths", exp, t);
    if (!rnnck__tensor_loaded(t))
        return rnnck__err(RNNCK_E_USAGE, "forward: module %s: lengths has no data", module_label(info));
    int64_t *len = malloc(sizeof *len * (size_t)B);
    if (!len) return rnnck__oom();
    for (int64_t b = 0; b < B; b++) {
        const char *base = (const char *)rnnck_tensor_cdata(t);
        int64_t v;
        if (t->dtype == RNNCK_I64) {
            memcpy(&v, base + (size_t)(b * t->stride[0]) * 8, 8);
        } else {
            int32_t v32;
            memcpy(&v32, base + (size_t)(b * t->stride[0]) * 4, 4);
            v = v32;
        }
        if (v < 1 || v > T) {
            free(len);
            return rnnck__err(RNNCK_E_SHAPE,
                              "forward: module %s: lengths[%lld] = %lld, expected 1 <= length <= T = %lld",
                              module_label(info), (long long)b, (long long)v, (long long)T);
        }
        len[b] = v;
    }
    *out = len;
    return RNNCK_OK;
}

/* Swaps the first two axes of a (n0, n1, w) array of `es`-byte elements. */
static void swap01(const char *src, char *dst, int64_t n0, int64_t n1, int64_t w, size_t es) {
    size_t row = (size_t)w * es;
    for (int64_t i = 0; i < n0; i++)
        for (int64_t j = 0; j < n1; j++)
            memcpy(dst + (size_t)(j * n0 + i) * row, src + (size_t)(i * n1 + j) * row, row);
}

/* Output rows of each sequence in processing order: row s of batch entry b
 * becomes row len-1-s (rows past len stay as they are: zero). */
static void time_reverse(char *y, int64_t T, int64_t B, size_t row, const int64_t *len) {
    char tmp[512];
    char *buf = row <= sizeof tmp ? tmp : malloc(row);
    for (int64_t b = 0; b < B; b++) {
        int64_t L = len ? len[b] : T;
        for (int64_t s = 0; s < L / 2; s++) {
            char *p = y + (size_t)(s * B + b) * row, *q = y + (size_t)((L - 1 - s) * B + b) * row;
            if (buf) {
                memcpy(buf, p, row);
                memcpy(p, q, row);
                memcpy(q, buf, row);
            } else { /* no memory for a row: swap byte by byte */
                for (size_t k = 0; k < row; k++) {
                    char v = p[k];
                    p[k] = q[k];
                    q[k] = v;
                }
            }
        }
    }
    if (buf != tmp) free(buf);
}

/* Keras Bidirectional's merges of (n, 2P) rows [y_f, y_r] into (n, P), with
 * Keras's operations: y_f + y_r, y_f * y_r, (y_f + y_r) / 2. */
#define MERGE_FN(NAME, REAL)                                                                 \
    static void NAME(rnnck_merge_mode mode, const REAL *y, REAL *out, int64_t n, int64_t P) { \
        for (int64_t r = 0; r < n; r++) {                                                   \
            const REAL *f = y + r * 2 * P, *b = f + P;                                      \
            REAL *o = out + r * P;                                                          \
            for (int64_t k = 0; k < P; k++)                                                 \
                o[k] = mode == RNNCK_MERGE_SUM   ? f[k] + b[k]                              \
                       : mode == RNNCK_MERGE_MUL ? f[k] * b[k]                              \
                                                 : (f[k] + b[k]) / 2;                       \
        }                                                                                   \
    }
MERGE_FN(merge_f32, float)
MERGE_FN(merge_f64, double)

rnnck_status rnnck_forward(rnnck_model *m, size_t module, const rnnck_tensor *input, const rnnck_tensor *h0,
                           const rnnck_tensor *c0, const rnnck_tensor *lengths, const rnnck_forward_opts *opts,
                           rnnck_tensor **output, rnnck_tensor **h_n, rnnck_tensor **c_n) {
    rnnck__err_clear();
    if (!m || !input || !output || !h_n) return rnnck__err(RNNCK_E_USAGE, "forward: NULL argument");
    const rnnck_module_info *info = rnnck_model_module(m, module);
    if (!info)
        return rnnck__err(RNNCK_E_USAGE, "forward: module index %zu out of range (model has %zu)", module,
                          rnnck_model_module_count(m));
    rnnck_status st = rnnck_module_info_validate(info);
    if (st) return st;
    rnnck__err_clear();
    const char *label = module_label(info);
    const int lstm = info->cell == RNNCK_CELL_LSTM;
    const int64_t In = info->input_size, H = info->hidden_size, P = rnnck__h_out(info);
    const int64_t D = info->bidirectional ? 2 : 1, LD = info->num_layers * D;

    /* ---- input ---- */
    if (input->dtype != RNNCK_F32 && input->dtype != RNNCK_F64)
        return rnnck__err(RNNCK_E_SHAPE, "forward: module %s: input has dtype %s, expected float32 or float64", label,
                          rnnck_dtype_name(input->dtype));
    char exp[160];
    snprintf(exp, sizeof exp, "%s with I = %lld", info->batch_first ? "(B, T, I) or (T, I)" : "(T, B, I) or (T, I)",
             (long long)In);
    if ((input->ndim != 2 && input->ndim != 3) || input->shape[input->ndim - 1] != In)
        return shape_mismatch(info, "input", exp, input);
    const int unbatched = input->ndim == 2;
    const int64_t T = unbatched || !info->batch_first ? input->shape[0] : input->shape[1];
    const int64_t B = unbatched ? 1 : (info->batch_first ? input->shape[0] : input->shape[1]);
    if (T < 1 || B < 1) return shape_mismatch(info, "input", "at least one time step and one batch entry", input);
    if (!rnnck__tensor_loaded(input))
        return rnnck__err(RNNCK_E_USAGE, "forward: module %s: input has no data", label);
    rnnck_dtype cdt = (opts && opts->compute != RNNCK_DTYPE_INVALID) ? opts->compute : input->dtype;
    if (cdt != RNNCK_F32 && cdt != RNNCK_F64)
        return rnnck__err(RNNCK_E_USAGE, "forward: compute dtype %s, expected float32 or float64",
                          rnnck_dtype_name(cdt));

    /* ---- states and lengths ---- */
    shape_view hs = unbatched ? (shape_view){2, {LD, P, 0}} : (shape_view){3, {LD, B, P}};
    shape_view cs = unbatched ? (shape_view){2, {LD, H, 0}} : (shape_view){3, {LD, B, H}};
    if (h0 && (st = check_state(info, "h0", h0, &hs))) return st;
    if (c0 && !lstm)
        return rnnck__err(RNNCK_E_USAGE, "forward: module %s: c0 given, but a %s has no cell state", label,
                          rnnck_cell_name(info->cell));
    if (c0 && (st = check_state(info, "c0", c0, &cs))) return st;
    int64_t *len = NULL;
    if (lengths && unbatched)
        return rnnck__err(RNNCK_E_SHAPE, "forward: module %s: lengths given for unbatched input of shape (%lld, %lld); "
                          "expected batched input (T, B, I)", label, (long long)T, (long long)In);
    if (lengths && (st = read_lengths(info, lengths, T, B, &len))) return st;

    /* ---- buffers ---- */
    size_t es = rnnck_dtype_size(cdt);
    rnnck_tensor *x = NULL, *y = NULL, *yt = NULL, *hn = NULL, *cn = NULL;
    void *xin = NULL;
    int64_t yshape[3] = {T, B, D * P};
    int64_t xshape[3] = {T, B, In};
    /* A contiguous time-major input in the compute dtype is used in place. */
    const bool input_as_is = (unbatched || !info->batch_first) && input->dtype == cdt &&
                             rnnck_tensor_is_contiguous(input);
    if ((!input_as_is && (st = rnnck_tensor_new(cdt, 3, xshape, &x))) || (st = rnnck_tensor_new(cdt, 3, yshape, &y)) ||
        (st = rnnck_tensor_new(cdt, hs.ndim, hs.d, &hn)) || (lstm && (st = rnnck_tensor_new(cdt, cs.ndim, cs.d, &cn))))
        goto fail;
    if (input_as_is) {
        /* nothing to copy */
    } else if (info->batch_first && !unbatched) {
        xin = malloc(rnnck_tensor_nbytes(x) ? rnnck_tensor_nbytes(x) : 1);
        if (!xin) {
            st = rnnck__oom();
            goto fail;
        }
        if ((st = rnnck_tensor_copy_out(input, cdt, xin, rnnck_tensor_nbytes(x)))) goto fail;
        swap01(xin, rnnck_tensor_data(x), B, T, In, es);
    } else if ((st = rnnck_tensor_copy_out(input, cdt, rnnck_tensor_data(x), rnnck_tensor_nbytes(x)))) {
        goto fail;
    }
    if (h0 && (st = rnnck_tensor_copy_out(h0, cdt, rnnck_tensor_data(hn), rnnck_tensor_nbytes(hn)))) goto fail;
    if (c0 && (st = rnnck_tensor_copy_out(c0, cdt, rnnck_tensor_data(cn), rnnck_tensor_nbytes(cn)))) goto fail;

    /* rnnck's own team uses the threads; OpenBLAS runs each fixed block of a
     * product at one thread (blas_blocks.h), and gets its setting back. */
    int threads = opts && opts->threads > 0 ? opts->threads : rnnck__blas_threads();
    if ((st = rnnck__blas_room(&threads))) goto fail;
    const int blas_threads = rnnck__blas_single();
    rnnck__fwd_run run = {m, module, info, T, B, threads, len, rnnck_tensor_cdata(input_as_is ? input : x),
                          rnnck_tensor_data(y), rnnck_tensor_data(hn), cn ? rnnck_tensor_data(cn) : NULL};
    st = cdt == RNNCK_F32 ? rnnck__forward_f32(&run) : rnnck__forward_f64(&run);
    rnnck__blas_restore(blas_threads);
    if (st) goto fail;

    /* ---- schema 1.1: processing order, merged directions ---- */
    if (info->output_reversed) time_reverse(rnnck_tensor_data(y), T, B, (size_t)(D * P) * es, len);
    if (info->merge_mode != RNNCK_MERGE_CONCAT && info->merge_mode != RNNCK_MERGE_NONE) {
        int64_t ms[3] = {T, B, P};
        rnnck_tensor *ym = NULL;
        if ((st = rnnck_tensor_new(cdt, 3, ms, &ym))) goto fail;
        if (cdt == RNNCK_F32) merge_f32(info->merge_mode, rnnck_tensor_cdata(y), rnnck_tensor_data(ym), T * B, P);
        else merge_f64(info->merge_mode, rnnck_tensor_cdata(y), rnnck_tensor_data(ym), T * B, P);
        rnnck_tensor_free(y);
        y = ym;
    }
    const int64_t W = rnnck_tensor_dim(y, 2);

    /* ---- PyTorch output layouts ---- */
    if (unbatched) {
        int64_t s2[2] = {T, W};
        if ((st = rnnck_tensor_new(cdt, 2, s2, &yt))) goto fail;
        memcpy(rnnck_tensor_data(yt), rnnck_tensor_cdata(y), rnnck_tensor_nbytes(y));
    } else if (info->batch_first) {
        int64_t s3[3] = {B, T, W};
        if ((st = rnnck_tensor_new(cdt, 3, s3, &yt))) goto fail;
        swap01(rnnck_tensor_cdata(y), rnnck_tensor_data(yt), T, B, W, es);
    } else {
        yt = y;
        y = NULL;
    }
    rnnck_tensor_free(x);
    rnnck_tensor_free(y);
    free(xin);
    free(len);
    *output = yt;
    *h_n = hn;
    if (c_n) *c_n = cn;
    else rnnck_tensor_free(cn);
    return RNNCK_OK;
fail:
    rnnck_tensor_free(x);
    rnnck_tensor_free(y);
    rnnck_tensor_free(yt);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    free(xin);
    free(len);
    return st;
}
