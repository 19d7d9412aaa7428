/* The input battery of rnnck validate, and running one module on one case
 * in a common time-major layout. */
#include "validate/validate_internal.h"

#include <stdlib.h>
#include <string.h>

void rnnck__case_free(rnnck__case *c) {
    if (!c) return;
    rnnck_tensor_free(c->x);
    rnnck_tensor_free(c->h0);
    rnnck_tensor_free(c->c0);
    rnnck_tensor_free(c->lengths);
    memset(c, 0, sizeof *c);
}

void rnnck__cases_free(rnnck__case *c, size_t n) {
    for (size_t i = 0; c && i < n; i++) rnnck__case_free(&c[i]);
    free(c);
}

/* Fills t with scale * N(0,1) (normal) or U(-scale, scale). */
static void fill_random(rnnck_tensor *t, rnnck_rng *rng, double scale, int normal) {
    void *d = rnnck_tensor_data(t);
    int64_t n = rnnck_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        rnnck__store_double(rnnck_tensor_dtype(t), d, i,
                            normal ? scale * rnnck_rng_normal(rng) : scale * (2.0 * rnnck_rng_uniform(rng) - 1.0));
}

typedef struct case_spec {
    const char *name;
    int64_t T, B;
    double x_scale; /* input N(0, x_scale^2) */
    int states;     /* non-zero initial states */
    int var_len;    /* lengths spread over [1, T] */
} case_spec;

static rnnck_status make_case(const rnnck_module_info *info, const case_spec *cs, uint64_t seed, rnnck_dtype dtype,
                              rnnck__case *c) {
    memset(c, 0, sizeof *c);
    c->name = cs->name;
    c->T = cs->T;
    c->B = cs->B;
    int64_t LD = info->num_layers * (info->bidirectional ? 2 : 1);
    int64_t xs[3] = {cs->T, cs->B, info->input_size};
    int64_t hs[3] = {LD, cs->B, rnnck__h_out(info)};
    int64_t cshape[3] = {LD, cs->B, info->hidden_size};
    rnnck_rng *rng;
    rnnck_status st = rnnck_rng_new(seed, &rng);
    if (st) return st;
    st = rnnck_tensor_new(dtype, 3, xs, &c->x);
    if (!st) fill_random(c->x, rng, cs->x_scale, 1);
    if (!st && cs->states) {
        /* Hidden states live in (-1, 1) for tanh cells; cell states do not. */
        st = rnnck_tensor_new(dtype, 3, hs, &c->h0);
        if (!st) fill_random(c->h0, rng, 1.0, 0);
        if (!st && info->cell == RNNCK_CELL_LSTM) {
            st = rnnck_tensor_new(dtype, 3, cshape, &c->c0);
            if (!st) fill_random(c->c0, rng, 1.0, 1);
        }
    }
    if (!st && cs->var_len) {
        int64_t ls[1] = {cs->B};
        st = rnnck_tensor_new(RNNCK_I64, 1, ls, &c->lengths);
        if (!st) {
            int64_t *len = rnnck_tensor_data(c->lengths);
            /* The first sequence is full length, the last one step long,
             * the rest anywhere between: packing bugs show at both ends. */
            for (int64_t b = 0; b < cs->B; b++)
                len[b] = b == 0 ? cs->T : b == cs->B - 1 ? 1 : 1 + (int64_t)(rnnck_rng_uniform(rng) * (double)cs->T);
        }
    }
    rnnck_rng_free(rng);
    if (st) rnnck__case_free(c);
    return st;
}

rnnck_status rnnck__make_battery(const rnnck_module_info *info, const rnnck_validate_opts *o, rnnck_dtype dtype,
                                 rnnck__case **out, size_t *n) {
    int64_t T = o->seq_len, B = o->batch;
    case_spec specs[5];
    size_t ns = 0;
    specs[ns++] = (case_spec){"random", T, B, 1.0, 0, 0};
    specs[ns++] = (case_spec){"initial-state", T, B, 1.0, 1, 0};
    if (o->long_len > 0) specs[ns++] = (case_spec){"long", o->long_len, B, 1.0, 1, 0};
    specs[ns++] = (case_spec){"variable-lengths", T, B < 3 ? 3 : B, 1.0, 1, 1};
    /* Inputs of magnitude ~8 drive gates into saturation, where a wrong
     * activation or a missing bias changes outputs by O(1). */
    specs[ns++] = (case_spec){"saturating", T, B, 8.0, 1, 0};
    rnnck__case *cases = calloc(ns, sizeof *cases);
    if (!cases) return rnnck__oom();
    for (size_t i = 0; i < ns; i++) {
        /* Each case has its own stream, so adding a case never changes another. */
        rnnck_status st = make_case(info, &specs[i], o->seed + 0x9e3779b97f4a7c15ull * (i + 1), dtype, &cases[i]);
        if (st) {
            rnnck__cases_free(cases, i);
            return st;
        }
    }
    *out = cases;
    *n = ns;
    return RNNCK_OK;
}

rnnck_status rnnck__to_time_major(const rnnck_tensor *x, int batch_first, rnnck_dtype dtype, rnnck_tensor **out) {
    int nd = rnnck_tensor_ndim(x);
    if (nd != 2 && nd != 3) return rnnck__err(RNNCK_E_SHAPE, "input has %d dimensions; need (T, B, I) or (T, I)", nd);
    int64_t d0 = rnnck_tensor_dim(x, 0), d1 = rnnck_tensor_dim(x, 1), d2 = nd == 3 ? rnnck_tensor_dim(x, 2) : 0;
    int64_t T = nd == 2 ? d0 : batch_first ? d1 : d0, B = nd == 2 ? 1 : batch_first ? d0 : d1;
    int64_t I = nd == 2 ? d1 : d2;
    int64_t shape[3] = {T, B, I};
    rnnck_tensor *src;
    rnnck_status st = rnnck_tensor_clone(x, dtype, &src); /* C-contiguous, right dtype */
    if (st) return st;
    rnnck_tensor *t;
    st = rnnck_tensor_new(dtype, 3, shape, &t);
    if (!st) {
        size_t es = rnnck_dtype_size(dtype);
        const char *s = rnnck_tensor_cdata(src);
        char *d = rnnck_tensor_data(t);
        for (int64_t tt = 0; tt < T; tt++)
            for (int64_t b = 0; b < B; b++) {
                int64_t from = (nd == 3 && batch_first) ? (b * T + tt) : (tt * B + b);
                memcpy(d + (size_t)((tt * B + b) * I) * es, s + (size_t)(from * I) * es, (size_t)I * es);
            }
    }
    rnnck_tensor_free(src);
    if (st) return st;
    *out = t;
    return RNNCK_OK;
}

void rnnck__run_out_free(rnnck__run_out *r) {
    if (!r) return;
    free(r->y);
    free(r->h);
    free(r->c);
    memset(r, 0, sizeof *r);
}

/* Copy of the first `lead` slices of a (N, B, W) state tensor. */
static rnnck_status leading_slices(const rnnck_tensor *s, int64_t lead, rnnck_tensor **out) {
    if (!s) {
        *out = NULL;
        return RNNCK_OK;
    }
    int64_t shape[3] = {lead, rnnck_tensor_dim(s, 1), rnnck_tensor_dim(s, 2)};
    size_t bytes = (size_t)(lead * shape[1] * shape[2]) * rnnck_dtype_size(rnnck_tensor_dtype(s));
    return rnnck_tensor_from_data(rnnck_tensor_dtype(s), 3, shape, rnnck_tensor_cdata(s), bytes, out);
}

/* Tensor values as malloc'd doubles, time-major when `batch_first_3d`. */
static rnnck_status to_doubles(const rnnck_tensor *t, int batch_first_3d, double **out) {
    int64_t n = rnnck_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return rnnck__oom();
    rnnck_status st = rnnck_tensor_copy_out(t, RNNCK_F64, v, (size_t)n * sizeof *v);
    if (!st && batch_first_3d) {
        int64_t B = rnnck_tensor_dim(t, 0), T = rnnck_tensor_dim(t, 1), W = rnnck_tensor_dim(t, 2);
        double *w = malloc((size_t)(n ? n : 1) * sizeof *w);
        if (!w) st = rnnck__oom();
        else {
            for (int64_t b = 0; b < B; b++)
                for (int64_t tt = 0; tt < T; tt++) memcpy(w + (tt * B + b) * W, v + (b * T + tt) * W, (size_t)W * sizeof *w);
            free(v);
            v = w;
        }
    }
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    return RNNCK_OK;
}

rnnck_status rnnck__run_case(rnnck_model *m, size_t module, const rnnck__case *c, const rnnck_forward_opts *fo,
                             rnnck__run_out *out) {
    const rnnck_module_info *info = rnnck_model_module(m, module);
    if (!info) return rnnck__err(RNNCK_E_USAGE, "no module with index %zu", module);
    int D = info->bidirectional ? 2 : 1;
    int64_t LD = info->num_layers * D;
    rnnck_tensor *x = NULL, *h0 = NULL, *c0 = NULL, *y = NULL, *hn = NULL, *cn = NULL;
    rnnck_status st = RNNCK_OK;
    if (info->batch_first) {
        /* The case is time-major; a batch_first module wants (B, T, I). */
        int64_t T = c->T, B = c->B, I = rnnck_tensor_dim(c->x, 2);
        int64_t shape[3] = {B, T, I};
        st = rnnck_tensor_new(rnnck_tensor_dtype(c->x), 3, shape, &x);
        if (!st) {
            size_t es = rnnck_dtype_size(rnnck_tensor_dtype(x));
            const char *s = rnnck_tensor_cdata(c->x);
            char *d = rnnck_tensor_data(x);
            for (int64_t b = 0; b < B; b++)
                for (int64_t t = 0; t < T; t++)
                    memcpy(d + (size_t)((b * T + t) * I) * es, s + (size_t)((t * B + b) * I) * es, (size_t)I * es);
        }
    }
    if (!st) st = leading_slices(c->h0, LD, &h0);
    if (!st && info->cell == RNNCK_CELL_LSTM) st = leading_slices(c->c0, LD, &c0);
    if (!st)
        st = rnnck_forward(m, module, x ? x : c->x, h0, c0, c->lengths, fo, &y, &hn, &cn);
    memset(out, 0, sizeof *out);
    if (!st) st = to_doubles(y, info->batch_first, &out->y);
    if (!st) st = to_doubles(hn, 0, &out->h);
    if (!st && cn) st = to_doubles(cn, 0, &out->c);
    out->T = c->T;
    out->B = c->B;
    out->D = D;
    out->L = info->num_layers;
    out->H_out = rnnck__h_out(info);
    out->H = info->hidden_size;
    /* merge_mode sum/mul/ave leave one H_out-wide output. */
    out->yD = (info->merge_mode == RNNCK_MERGE_CONCAT || info->merge_mode == RNNCK_MERGE_NONE) ? D : 1;
    out->width = out->yD * out->H_out;
    rnnck_tensor_free(x);
    rnnck_tensor_free(h0);
    rnnck_tensor_free(c0);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    if (st) rnnck__run_out_free(out);
    return st;
}
