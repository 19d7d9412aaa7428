/* Private copies of one recurrent module, and the conversion mistakes (or
 * their inverses) that the diagnosis applies to them. */
#include "validate/validate_internal.h"

#include <stdlib.h>
#include <string.h>

static const rnnck_param all_kinds[] = {RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
                                        RNNCK_PARAM_BIAS_HH,   RNNCK_PARAM_WEIGHT_HR, RNNCK_PARAM_PEEPHOLE};
#define NKINDS (sizeof all_kinds / sizeof *all_kinds)

/* Borrowed, loaded parameter; NOTFOUND if the module lacks it. */
static rnnck_status loaded_param(rnnck_model *m, size_t module, rnnck_param kind, int64_t layer, int reverse,
                                 rnnck_tensor **out) {
    rnnck_tensor *t;
    rnnck_status st = rnnck_model_param(m, module, kind, layer, reverse, &t);
    if (st) return st;
    st = rnnck_model_load_tensor(m, t);
    if (st) return st;
    *out = t;
    return RNNCK_OK;
}

rnnck_status rnnck__module_copy(rnnck_model *src, size_t module, const rnnck_module_info *info, int64_t layers,
                                rnnck_model **out) {
    const rnnck_module_info *si = rnnck_model_module(src, module);
    if (!si) return rnnck__err(RNNCK_E_USAGE, "no module with index %zu", module);
    rnnck_module_info ni = info ? *info : *si;
    ni.name = "";
    if (layers > 0 && layers < ni.num_layers) ni.num_layers = layers;
    rnnck_model *m;
    rnnck_status st = rnnck_model_new(&m);
    if (st) return st;
    st = rnnck_model_add_module(m, &ni);
    int dirs = ni.bidirectional ? 2 : 1;
    for (int64_t l = 0; l < ni.num_layers && !st; l++)
        for (int d = 0; d < dirs && !st; d++)
            for (size_t k = 0; k < NKINDS && !st; k++) {
                int64_t shape[2];
                if (!rnnck_param_shape(&ni, all_kinds[k], l, shape)) continue;
                rnnck_tensor *from, *to;
                st = loaded_param(src, module, all_kinds[k], l, d, &from);
                if (!st) st = rnnck_model_param(m, 0, all_kinds[k], l, d, &to);
                if (!st) st = rnnck_tensor_assign(to, from);
            }
    if (st) {
        rnnck__err_prefix("copying module '%s'", si->name);
        rnnck_model_free(m);
        return st;
    }
    *out = m;
    return RNNCK_OK;
}

/* Calls fn on every selected (layer, direction) of module 0. */
typedef rnnck_status (*where_fn)(rnnck_model *m, int64_t layer, int reverse, const void *arg);
static rnnck_status for_each_where(rnnck_model *m, rnnck__where w, where_fn fn, const void *arg) {
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    int dirs = info->bidirectional ? 2 : 1;
    for (int64_t l = 0; l < info->num_layers; l++) {
        if (w.layer >= 0 && l != w.layer) continue;
        for (int d = 0; d < dirs; d++) {
            if (w.reverse >= 0 && d != w.reverse) continue;
            rnnck_status st = fn(m, l, d, arg);
            if (st) return st;
        }
    }
    return RNNCK_OK;
}

static rnnck_status perm_param(rnnck_model *m, rnnck_param kind, int64_t l, int d, const int *dst) {
    rnnck_tensor *p, *tmp;
    if (rnnck_model_param(m, 0, kind, l, d, &p)) return RNNCK_OK; /* absent (no bias) */
    int g = rnnck_cell_gates(rnnck_model_module(m, 0)->cell);
    rnnck_status st = rnnck_tensor_clone(p, rnnck_tensor_dtype(p), &tmp);
    for (int k = 0; k < g && !st; k++) {
        rnnck_tensor *from = NULL, *to = NULL;
        st = rnnck_tensor_block(tmp, g, k, &from);
        if (!st) st = rnnck_tensor_block(p, g, dst[k], &to);
        if (!st) st = rnnck_tensor_assign(to, from);
        rnnck_tensor_free(from);
        rnnck_tensor_free(to);
    }
    rnnck_tensor_free(tmp);
    return st;
}
static rnnck_status perm_where(rnnck_model *m, int64_t l, int d, const void *arg) {
    static const rnnck_param kinds[] = {RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
                                        RNNCK_PARAM_BIAS_HH};
    for (size_t k = 0; k < 4; k++) {
        rnnck_status st = perm_param(m, kinds[k], l, d, arg);
        if (st) return st;
    }
    return RNNCK_OK;
}
rnnck_status rnnck__apply_gate_perm(rnnck_model *m, rnnck__where w, const int *dst) {
    return for_each_where(m, w, perm_where, dst);
}

/* Parameter values as doubles (malloc'd). */
static rnnck_status param_doubles(rnnck_tensor *p, double **out) {
    int64_t n = rnnck_tensor_numel(p);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return rnnck__oom();
    rnnck_status st = rnnck_tensor_copy_out(p, RNNCK_F64, v, (size_t)n * sizeof *v);
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    return RNNCK_OK;
}
/* Writes doubles back into p (converting to its dtype). */
static rnnck_status store_doubles(rnnck_tensor *p, const double *v) {
    int64_t shape[RNNCK_MAX_DIMS];
    int nd = rnnck_tensor_ndim(p);
    for (int i = 0; i < nd; i++) shape[i] = rnnck_tensor_dim(p, i);
    rnnck_tensor *tmp;
    rnnck_status st = rnnck_tensor_from_data(RNNCK_F64, nd, shape, v, (size_t)rnnck_tensor_numel(p) * sizeof *v, &tmp);
    if (!st) st = rnnck_tensor_assign(p, tmp);
    rnnck_tensor_free(tmp);
    return st;
}

static rnnck_status reshape_t_where(rnnck_model *m, int64_t l, int d, const void *arg) {
    rnnck_tensor *p;
    if (rnnck_model_param(m, 0, *(const rnnck_param *)arg, l, d, &p)) return RNNCK_OK;
    int64_t R = rnnck_tensor_dim(p, 0), C = rnnck_tensor_dim(p, 1);
    double *v = NULL, *w = NULL;
    rnnck_status st = param_doubles(p, &v);
    if (st) return st;
    w = malloc((size_t)(R * C > 0 ? R * C : 1) * sizeof *w);
    if (!w) {
        free(v);
        return rnnck__oom();
    }
    /* The buffer holds the (C, R) matrix row-major: element (c, r) at c*R+r. */
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) w[r * C + c] = v[c * R + r];
    st = store_doubles(p, w);
    free(v);
    free(w);
    return st;
}
rnnck_status rnnck__apply_reshape_transpose(rnnck_model *m, rnnck__where w, rnnck_param kind) {
    return for_each_where(m, w, reshape_t_where, &kind);
}

static rnnck_status block_t_where(rnnck_model *m, int64_t l, int d, const void *arg) {
    rnnck_tensor *p;
    if (rnnck_model_param(m, 0, *(const rnnck_param *)arg, l, d, &p)) return RNNCK_OK;
    int g = rnnck_cell_gates(rnnck_model_module(m, 0)->cell);
    int64_t H = rnnck_tensor_dim(p, 0) / g, C = rnnck_tensor_dim(p, 1);
    if (H != C) return RNNCK_OK; /* only square blocks can be transposed in place */
    double *v = NULL;
    rnnck_status st = param_doubles(p, &v);
    if (st) return st;
    for (int k = 0; k < g; k++) {
        double *blk = v + (int64_t)k * H * H;
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = i + 1; j < H; j++) {
                double t = blk[i * H + j];
                blk[i * H + j] = blk[j * H + i];
                blk[j * H + i] = t;
            }
    }
    st = store_doubles(p, v);
    free(v);
    return st;
}
rnnck_status rnnck__apply_block_transpose(rnnck_model *m, rnnck__where w, rnnck_param kind) {
    return for_each_where(m, w, block_t_where, &kind);
}

static rnnck_status swap_tensors(rnnck_tensor *x, rnnck_tensor *y) {
    rnnck_tensor *tmp;
    rnnck_status st = rnnck_tensor_clone(x, rnnck_tensor_dtype(x), &tmp);
    if (!st) st = rnnck_tensor_assign(x, y);
    if (!st) st = rnnck_tensor_assign(y, tmp);
    rnnck_tensor_free(tmp);
    return st;
}

rnnck_status rnnck__apply_swap_directions(rnnck_model *m, int64_t layer) {
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    if (!info->bidirectional) return rnnck__err(RNNCK_E_USAGE, "module is not bidirectional");
    for (int64_t l = 0; l < info->num_layers; l++) {
        if (layer >= 0 && l != layer) continue;
        for (size_t k = 0; k < NKINDS; k++) {
            rnnck_tensor *f, *r;
            if (rnnck_model_param(m, 0, all_kinds[k], l, 0, &f)) continue;
            rnnck_status st = rnnck_model_param(m, 0, all_kinds[k], l, 1, &r);
            if (!st) st = swap_tensors(f, r);
            if (st) return st;
        }
    }
    return RNNCK_OK;
}

rnnck_status rnnck__apply_swap_layers(rnnck_model *m, int64_t i, int64_t j) {
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    int dirs = info->bidirectional ? 2 : 1;
    for (size_t k = 0; k < NKINDS; k++) {
        int64_t si[2], sj[2];
        int ni = rnnck_param_shape(info, all_kinds[k], i, si), nj = rnnck_param_shape(info, all_kinds[k], j, sj);
        if (ni != nj || (ni && (si[0] != sj[0] || (ni == 2 && si[1] != sj[1]))))
            return rnnck__err(RNNCK_E_USAGE, "layers %lld and %lld have different shapes", (long long)i, (long long)j);
    }
    for (int d = 0; d < dirs; d++)
        for (size_t k = 0; k < NKINDS; k++) {
            rnnck_tensor *x, *y;
            if (rnnck_model_param(m, 0, all_kinds[k], i, d, &x)) continue;
            rnnck_status st = rnnck_model_param(m, 0, all_kinds[k], j, d, &y);
            if (!st) st = swap_tensors(x, y);
            if (st) return st;
        }
    return RNNCK_OK;
}

static rnnck_status zero_where(rnnck_model *m, int64_t l, int d, const void *arg) {
    rnnck_tensor *p;
    if (rnnck_model_param(m, 0, *(const rnnck_param *)arg, l, d, &p)) return RNNCK_OK;
    return rnnck_init_constant(p, 0.0);
}
rnnck_status rnnck__apply_zero_bias(rnnck_model *m, rnnck__where w, rnnck_param kind) {
    return for_each_where(m, w, zero_where, &kind);
}

static rnnck_status unfold_where(rnnck_model *m, int64_t l, int d, const void *arg) {
    (void)arg;
    rnnck_tensor *bi, *bh;
    if (rnnck_model_param(m, 0, RNNCK_PARAM_BIAS_IH, l, d, &bi)) return RNNCK_OK;
    rnnck_status st = rnnck_model_param(m, 0, RNNCK_PARAM_BIAS_HH, l, d, &bh);
    double *vi = NULL, *vh = NULL;
    if (!st) st = param_doubles(bi, &vi);
    if (!st) st = param_doubles(bh, &vh);
    if (!st) {
        for (int64_t k = 0; k < rnnck_tensor_numel(bi); k++) vi[k] -= vh[k];
        st = store_doubles(bi, vi);
    }
    free(vi);
    free(vh);
    return st;
}
rnnck_status rnnck__apply_unfold_bias(rnnck_model *m, rnnck__where w) { return for_each_where(m, w, unfold_where, NULL); }

int rnnck__modules_compatible(const rnnck_module_info *a, const rnnck_module_info *b, char *why, size_t whysize) {
#define DIFF_FIELD(field, label)                                                                             \
    if (a->field != b->field) {                                                                              \
        snprintf(why, whysize, "%s differs: %lld in A, %lld in B", label, (long long)a->field,               \
                 (long long)b->field);                                                                       \
        return 0;                                                                                            \
    }
    if (a->cell != b->cell) {
        snprintf(why, whysize, "cell differs: %s in A, %s in B", rnnck_cell_name(a->cell), rnnck_cell_name(b->cell));
        return 0;
    }
    DIFF_FIELD(input_size, "input_size")
    DIFF_FIELD(hidden_size, "hidden_size")
    DIFF_FIELD(num_layers, "num_layers")
    DIFF_FIELD(bidirectional, "bidirectional")
    DIFF_FIELD(proj_size, "proj_size")
    /* Outputs in another order or merged differently cannot be compared. */
    DIFF_FIELD(output_reversed, "output_reversed (output in processing order)")
    DIFF_FIELD(merge_mode, "merge_mode")
#undef DIFF_FIELD
    return 1;
}
