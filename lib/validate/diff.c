/* rnnck diff: parameter-by-parameter comparison after mapping, with the
 * gate block and direction that differ. */
#include "validate/validate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rnnck_diff {
    rnnck_diff_row *rows;
    size_t n, cap;
    char **strings;
    size_t nstrings, strings_cap;
    double atol;
};

void rnnck_diff_free(rnnck_diff *d) {
    if (!d) return;
    for (size_t i = 0; i < d->nstrings; i++) free(d->strings[i]);
    free(d->strings);
    free(d->rows);
    free(d);
}

static const char *keep(rnnck_diff *d, const char *s) {
    if (!s) return NULL;
    if (d->nstrings == d->strings_cap) {
        size_t cap = d->strings_cap ? d->strings_cap * 2 : 32;
        char **p = realloc(d->strings, cap * sizeof *p);
        if (!p) return NULL;
        d->strings = p;
        d->strings_cap = cap;
    }
    char *c = rnnck__strdup(s);
    if (c) d->strings[d->nstrings++] = c;
    return c;
}

static rnnck_status add_row(rnnck_diff *d, rnnck_diff_row *r, const char *na, const char *nb, const char *problem) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        rnnck_diff_row *p = realloc(d->rows, cap * sizeof *p);
        if (!p) return rnnck__oom();
        d->rows = p;
        d->cap = cap;
    }
    r->name_a = keep(d, na);
    r->name_b = keep(d, nb);
    r->problem = keep(d, problem);
    if ((na && !r->name_a) || (nb && !r->name_b) || (problem && !r->problem)) return rnnck__oom();
    d->rows[d->n++] = *r;
    return RNNCK_OK;
}

/* Values of a (possibly lazily stored) tensor as malloc'd doubles. */
static rnnck_status values(rnnck_model *m, rnnck_tensor *t, double **out) {
    rnnck_status st = rnnck_model_load_tensor(m, t);
    if (st) return st;
    int64_t n = rnnck_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return rnnck__oom();
    st = rnnck_tensor_copy_out(t, RNNCK_F64, v, (size_t)n * sizeof *v);
    if (st) {
        free(v);
        return st;
    }
    *out = v;
    return RNNCK_OK;
}

static double max_abs_diff(const double *x, const double *y, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(x[i] - y[i]);
        if (isnan(e)) e = (isnan(x[i]) && isnan(y[i])) ? 0 : INFINITY;
        if (e > m) m = e;
    }
    return m;
}

static int same_shape(const rnnck_tensor *x, const rnnck_tensor *y, char *why, size_t n) {
    int nd = rnnck_tensor_ndim(x), same = nd == rnnck_tensor_ndim(y);
    for (int i = 0; same && i < nd; i++) same = rnnck_tensor_dim(x, i) == rnnck_tensor_dim(y, i);
    if (!same) {
        int64_t sx[RNNCK_MAX_DIMS], sy[RNNCK_MAX_DIMS];
        for (int i = 0; i < nd; i++) sx[i] = rnnck_tensor_dim(x, i);
        for (int i = 0; i < rnnck_tensor_ndim(y); i++) sy[i] = rnnck_tensor_dim(y, i);
        char bx[96], by[96];
        snprintf(why, n, "shape %s in A, %s in B", rnnck__shape_str(nd, sx, bx, sizeof bx),
                 rnnck__shape_str(rnnck_tensor_ndim(y), sy, by, sizeof by));
    }
    return same;
}

/* Compares two tensors; gates > 1 splits the comparison per gate block and
 * looks for B's blocks being A's in another order. */
static rnnck_status compare_tensors(rnnck_diff *d, rnnck_model *a, rnnck_tensor *ta, rnnck_model *b,
                                    rnnck_tensor *tb, int64_t layer, int reverse, int gates, const char *order) {
    rnnck_diff_row r;
    memset(&r, 0, sizeof r);
    r.layer = layer;
    r.reverse = reverse;
    char why[256];
    if (!same_shape(ta, tb, why, sizeof why)) {
        r.max_abs = INFINITY;
        return add_row(d, &r, rnnck_tensor_name(ta), rnnck_tensor_name(tb), why);
    }
    double *va = NULL, *vb = NULL;
    rnnck_status st = values(a, ta, &va);
    if (!st) st = values(b, tb, &vb);
    if (st) {
        free(va);
        free(vb);
        return st;
    }
    int64_t n = rnnck_tensor_numel(ta);
    r.max_abs = max_abs_diff(va, vb, n);
    if (gates > 1 && gates <= 4 && n % gates == 0) {
        int64_t bs = n / gates; /* blocks are contiguous along dimension 0 */
        r.gates = gates;
        snprintf(r.gate_letters, sizeof r.gate_letters, "%s", order);
        for (int k = 0; k < gates; k++) r.gate_max_abs[k] = max_abs_diff(va + k * bs, vb + k * bs, bs);
        if (r.max_abs > d->atol) {
            /* Which A block does each B block equal? A permutation means a
             * gate-order mistake, not different weights. */
            int used[4] = {0}, perm_ok = 1;
            for (int k = 0; k < gates && perm_ok; k++) {
                int found = -1;
                for (int j = 0; j < gates && found < 0; j++)
                    if (!used[j] && max_abs_diff(va + j * bs, vb + k * bs, bs) <= d->atol) found = j;
                if (found < 0) perm_ok = 0;
                else {
                    used[found] = 1;
                    r.b_blocks_hold[k] = order[found];
                }
            }
            if (!perm_ok) r.b_blocks_hold[0] = '\0';
            r.b_blocks_hold[gates] = '\0';
            if (!perm_ok) memset(r.b_blocks_hold, 0, sizeof r.b_blocks_hold);
        }
    }
    free(va);
    free(vb);
    return add_row(d, &r, rnnck_tensor_name(ta), rnnck_tensor_name(tb), NULL);
}

static const rnnck_param kinds[] = {RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
                                    RNNCK_PARAM_BIAS_HH,   RNNCK_PARAM_WEIGHT_HR, RNNCK_PARAM_PEEPHOLE};

static rnnck_status diff_module(rnnck_diff *d, rnnck_model *a, size_t ma, rnnck_model *b, size_t mb) {
    const rnnck_module_info *ia = rnnck_model_module(a, ma), *ib = rnnck_model_module(b, mb);
    int64_t layers = ia->num_layers > ib->num_layers ? ia->num_layers : ib->num_layers;
    int dirs = (ia->bidirectional || ib->bidirectional) ? 2 : 1;
    int gates = ia->cell == ib->cell ? rnnck_cell_gates(ia->cell) : 0;
    for (int64_t l = 0; l < layers; l++)
        for (int dd = 0; dd < dirs; dd++)
            for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
                rnnck_tensor *ta = NULL, *tb = NULL;
                int has_a = rnnck_model_param(a, ma, kinds[k], l, dd, &ta) == RNNCK_OK;
                int has_b = rnnck_model_param(b, mb, kinds[k], l, dd, &tb) == RNNCK_OK;
                rnnck__err_clear();
                rnnck_status st = RNNCK_OK;
                if (has_a && has_b) {
                    int g = (kinds[k] == RNNCK_PARAM_WEIGHT_HR || kinds[k] == RNNCK_PARAM_PEEPHOLE) ? 0 : gates;
                    st = compare_tensors(d, a, ta, b, tb, l, dd, g, rnnck_cell_gate_order(ia->cell));
                } else if (has_a || has_b) {
                    rnnck_diff_row r;
                    memset(&r, 0, sizeof r);
                    r.layer = l;
                    r.reverse = dd;
                    r.max_abs = INFINITY;
                    st = add_row(d, &r, has_a ? rnnck_tensor_name(ta) : NULL, has_b ? rnnck_tensor_name(tb) : NULL,
                                 has_a ? "only in A" : "only in B");
                }
                if (st) return st;
            }
    return RNNCK_OK;
}

/* Whether tensor t belongs to one of m's recurrent modules. */
static int is_module_param(const rnnck_model *m, const rnnck_tensor *t) {
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        int dirs = info->bidirectional ? 2 : 1;
        for (int64_t l = 0; l < info->num_layers; l++)
            for (int dd = 0; dd < dirs; dd++)
                for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
                    rnnck_tensor *p;
                    if (rnnck_model_param(m, i, kinds[k], l, dd, &p) == RNNCK_OK && p == t) return 1;
                }
    }
    rnnck__err_clear();
    return 0;
}

static rnnck_status diff_others(rnnck_diff *d, rnnck_model *a, rnnck_model *b) {
    for (int side = 0; side < 2; side++) {
        rnnck_model *x = side ? b : a, *y = side ? a : b;
        for (size_t i = 0; i < rnnck_model_tensor_count(x); i++) {
            rnnck_tensor *tx = rnnck_model_tensor(x, i), *ty = NULL;
            if (is_module_param(x, tx)) continue;
            int found = rnnck_model_find(y, rnnck_tensor_name(tx), &ty) == RNNCK_OK;
            rnnck__err_clear();
            rnnck_status st = RNNCK_OK;
            if (found && !side) st = compare_tensors(d, a, tx, b, ty, -1, 0, 0, "");
            else if (!found) {
                rnnck_diff_row r;
                memset(&r, 0, sizeof r);
                r.layer = -1;
                r.max_abs = INFINITY;
                st = add_row(d, &r, side ? NULL : rnnck_tensor_name(tx), side ? rnnck_tensor_name(tx) : NULL,
                             side ? "only in B" : "only in A");
            }
            if (st) return st;
        }
    }
    return RNNCK_OK;
}

rnnck_status rnnck_diff_models(rnnck_model *a, rnnck_model *b, double atol, rnnck_diff **out) {
    rnnck__err_clear();
    if (!a || !b || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_diff_models: NULL argument");
    if (!(atol >= 0) || !isfinite(atol)) return rnnck__err(RNNCK_E_USAGE, "diff: atol %g must be finite and >= 0", atol);
    rnnck_diff *d = calloc(1, sizeof *d);
    if (!d) return rnnck__oom();
    d->atol = atol;
    rnnck__pairing *pp = NULL;
    size_t np = 0;
    rnnck_status st = rnnck__pair_modules(a, b, &pp, &np);
    for (size_t i = 0; i < np && !st; i++) {
        if (pp[i].a != SIZE_MAX && pp[i].b != SIZE_MAX) {
            st = diff_module(d, a, pp[i].a, b, pp[i].b);
        } else {
            const rnnck_module_info *info = pp[i].a != SIZE_MAX ? rnnck_model_module(a, pp[i].a)
                                                                : rnnck_model_module(b, pp[i].b);
            char why[300];
            snprintf(why, sizeof why, "module '%s' only in %s", info->name, pp[i].a != SIZE_MAX ? "A" : "B");
            rnnck_diff_row r;
            memset(&r, 0, sizeof r);
            r.layer = -1;
            r.max_abs = INFINITY;
            st = add_row(d, &r, pp[i].a != SIZE_MAX ? info->name : NULL, pp[i].b != SIZE_MAX ? info->name : NULL, why);
        }
    }
    free(pp);
    if (!st) st = diff_others(d, a, b);
    if (st) {
        rnnck_diff_free(d);
        return st;
    }
    *out = d;
    return RNNCK_OK;
}

size_t rnnck_diff_row_count(const rnnck_diff *d) { return d ? d->n : 0; }
const rnnck_diff_row *rnnck_diff_row_at(const rnnck_diff *d, size_t i) { return (d && i < d->n) ? &d->rows[i] : NULL; }
size_t rnnck_diff_differences(const rnnck_diff *d) {
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++) n += d->rows[i].problem || d->rows[i].max_abs > d->atol;
    return n;
}
