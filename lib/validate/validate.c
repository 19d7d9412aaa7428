/* rnnck validate: run two checkpoints' modules on the same inputs under
 * their own semantics and compare output, h_n and c_n per layer and
 * direction; on a mismatch, ask the diagnosis which mistake explains it. */
#include "validate/validate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bound on elements of one generated input: validation must stay cheap. */
#define MAX_CASE_ELEMENTS ((int64_t)1 << 28)

struct rnnck_validation {
    rnnck_validation_pair *pairs;
    size_t npairs;
    char **strings; /* every string the pairs point at */
    size_t nstrings, strings_cap;
    rnnck__finding_list *findings; /* one per pair */
    rnnck_validation_row *rows;
    size_t nrows, rows_cap;
    rnnck_error_series *series;
    size_t nseries, series_cap;
    int passed;
    double atol; /* drawn on the plot as the line errors must stay under */
};

void rnnck_validate_opts_init(rnnck_validate_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->seq_len = 16;
    o->batch = 3;
    o->long_len = 200;
    o->atol = 1e-5;
    o->rtol = 1e-4;
    o->diagnose = 1;
    o->per_layer = 1;
}

const char *rnnck_output_name(rnnck_output_kind kind) {
    switch (kind) {
    case RNNCK_OUT_OUTPUT: return "output";
    case RNNCK_OUT_H_N: return "h_n";
    case RNNCK_OUT_C_N: return "c_n";
    }
    return "invalid";
}

void rnnck_validation_free(rnnck_validation *v) {
    if (!v) return;
    for (size_t i = 0; i < v->nstrings; i++) free(v->strings[i]);
    for (size_t i = 0; v->findings && i < v->npairs; i++) rnnck__finding_list_free(&v->findings[i]);
    for (size_t i = 0; i < v->nseries; i++) free((double *)v->series[i].max_abs);
    free(v->strings);
    free(v->findings);
    free(v->pairs);
    free(v->rows);
    free(v->series);
    free(v);
}

/* Keeps a copy of s owned by v; NULL on OOM. */
static const char *keep(rnnck_validation *v, const char *s) {
    if (v->nstrings == v->strings_cap) {
        size_t cap = v->strings_cap ? v->strings_cap * 2 : 16;
        char **p = realloc(v->strings, cap * sizeof *p);
        if (!p) return NULL;
        v->strings = p;
        v->strings_cap = cap;
    }
    char *c = rnnck__strdup(s);
    if (c) v->strings[v->nstrings++] = c;
    return c;
}

static rnnck_status add_row(rnnck_validation *v, const rnnck_validation_row *r) {
    if (v->nrows == v->rows_cap) {
        size_t cap = v->rows_cap ? v->rows_cap * 2 : 32;
        rnnck_validation_row *p = realloc(v->rows, cap * sizeof *p);
        if (!p) return rnnck__oom();
        v->rows = p;
        v->rows_cap = cap;
    }
    v->rows[v->nrows++] = *r;
    return RNNCK_OK;
}

/* Takes ownership of max_abs. */
static rnnck_status add_series(rnnck_validation *v, const rnnck_error_series *s) {
    if (v->nseries == v->series_cap) {
        size_t cap = v->series_cap ? v->series_cap * 2 : 8;
        rnnck_error_series *p = realloc(v->series, cap * sizeof *p);
        if (!p) {
            free((double *)s->max_abs);
            return rnnck__oom();
        }
        v->series = p;
        v->series_cap = cap;
    }
    v->series[v->nseries++] = *s;
    return RNNCK_OK;
}

static rnnck_status new_validation(size_t npairs, rnnck_validation **out) {
    rnnck_validation *v = calloc(1, sizeof *v);
    if (!v) return rnnck__oom();
    v->pairs = calloc(npairs ? npairs : 1, sizeof *v->pairs);
    v->findings = calloc(npairs ? npairs : 1, sizeof *v->findings);
    if (!v->pairs || !v->findings) {
        rnnck_validation_free(v);
        return rnnck__oom();
    }
    v->npairs = npairs;
    v->passed = 1;
    *out = v;
    return RNNCK_OK;
}

static rnnck_status check_opts(const rnnck_validate_opts *o) {
    if (o->seq_len < 1 || o->seq_len > 1000000)
        return rnnck__err(RNNCK_E_USAGE, "validate: seq_len %lld must be in [1, 1000000]", (long long)o->seq_len);
    if (o->batch < 1 || o->batch > 100000)
        return rnnck__err(RNNCK_E_USAGE, "validate: batch %lld must be in [1, 100000]", (long long)o->batch);
    if (o->threads < 0 || o->threads > 1024)
        return rnnck__err(RNNCK_E_USAGE, "validate: threads %d must be in [0, 1024]", o->threads);
    if (o->long_len < 0 || o->long_len > 1000000)
        return rnnck__err(RNNCK_E_USAGE, "validate: long_len %lld must be in [0, 1000000]", (long long)o->long_len);
    if (!(o->atol >= 0) || !(o->rtol >= 0) || !isfinite(o->atol) || !isfinite(o->rtol))
        return rnnck__err(RNNCK_E_USAGE, "validate: atol %g and rtol %g must be finite and >= 0", o->atol, o->rtol);
    return RNNCK_OK;
}

/* ------------------------------------------------------------- pairing */

static int compatible(const rnnck_module_info *a, const rnnck_module_info *b) {
    char why[8];
    return rnnck__modules_compatible(a, b, why, sizeof why);
}

rnnck_status rnnck__pair_modules(const rnnck_model *a, const rnnck_model *b, rnnck__pairing **out, size_t *n) {
    size_t na = rnnck_model_module_count(a), nb = rnnck_model_module_count(b);
    rnnck__pairing *p = calloc(na + nb + 1, sizeof *p);
    char *b_used = calloc(nb + 1, 1), *a_used = calloc(na + 1, 1);
    if (!p || !b_used || !a_used) {
        free(p);
        free(b_used);
        free(a_used);
        return rnnck__oom();
    }
    size_t np = 0;
    for (size_t i = 0; i < na; i++) {
        size_t j;
        if (rnnck_model_find_module(b, rnnck_model_module(a, i)->name, &j) == RNNCK_OK && !b_used[j]) {
            p[np++] = (rnnck__pairing){i, j, "name"};
            a_used[i] = b_used[j] = 1;
        }
    }
    /* What names could not pair goes by order, checked by shape. */
    size_t j = 0;
    for (size_t i = 0; i < na; i++) {
        if (a_used[i]) continue;
        while (j < nb && b_used[j]) j++;
        if (j == nb) break;
        p[np++] = (rnnck__pairing){i, j, compatible(rnnck_model_module(a, i), rnnck_model_module(b, j))
                                             ? "order and shape" : "order"};
        a_used[i] = b_used[j] = 1;
    }
    for (size_t i = 0; i < na; i++)
        if (!a_used[i]) p[np++] = (rnnck__pairing){i, SIZE_MAX, "none"};
    for (size_t k = 0; k < nb; k++)
        if (!b_used[k]) p[np++] = (rnnck__pairing){SIZE_MAX, k, "none"};
    free(a_used);
    free(b_used);
    rnnck__err_clear(); /* failed name look-ups are not errors */
    *out = p;
    *n = np;
    return RNNCK_OK;
}

/* ----------------------------------------------------------- comparing */

typedef struct progress {
    const rnnck_validate_opts *o;
    int64_t done, total;
} progress;
static void tick(progress *p) {
    p->done++;
    if (p->done > p->total) p->total = p->done;
    if (p->o->progress) p->o->progress(p->o->progress_user, p->done, p->total);
}

/* Compares one run's output sequence per direction, adding rows (and the
 * per-step series when `series` is set). */
static rnnck_status compare_output(rnnck_validation *v, size_t pair, const char *case_name, int64_t layer,
                                   const rnnck__run_out *ra, const rnnck__run_out *rb, const rnnck__tol *tol,
                                   int series) {
    for (int d = 0; d < ra->yD; d++) {
        rnnck_validation_row r = {pair, case_name, RNNCK_OUT_OUTPUT, layer, d, {0}, 0};
        rnnck__stats_init(&r.err);
        double *steps = NULL;
        if (series) {
            steps = calloc((size_t)(ra->T ? ra->T : 1), sizeof *steps);
            if (!steps) return rnnck__oom();
        }
        rnnck__compare_slice(ra->y, rb->y, ra->T, ra->B, ra->width, d * ra->H_out, ra->H_out, tol, 0, &r.err, steps);
        r.pass = r.err.failures == 0;
        if (!r.pass) v->passed = 0;
        rnnck_status st = add_row(v, &r);
        if (st) {
            free(steps);
            return st;
        }
        if (series) {
            rnnck_error_series s = {pair, case_name, layer, d, ra->T, steps};
            st = add_series(v, &s);
            if (st) return st;
        }
    }
    return RNNCK_OK;
}

/* Compares h_n (and c_n) per layer and direction. */
static rnnck_status compare_states(rnnck_validation *v, size_t pair, const char *case_name, const rnnck__run_out *ra,
                                   const rnnck__run_out *rb, const rnnck__tol *tol) {
    for (int which = 0; which < 2; which++) {
        const double *sa = which ? ra->c : ra->h, *sb = which ? rb->c : rb->h;
        if (!sa || !sb) continue;
        int64_t W = which ? ra->H : ra->H_out;
        for (int64_t l = 0; l < ra->L; l++)
            for (int d = 0; d < ra->D; d++) {
                rnnck_validation_row r = {pair, case_name, which ? RNNCK_OUT_C_N : RNNCK_OUT_H_N, l, d, {0}, 0};
                rnnck__stats_init(&r.err);
                int64_t slice = (l * ra->D + d) * ra->B * W;
                rnnck__compare_slice(sa + slice, sb + slice, 1, ra->B, W, 0, W, tol, 1, &r.err, NULL);
                r.pass = r.err.failures == 0;
                if (!r.pass) v->passed = 0;
                rnnck_status st = add_row(v, &r);
                if (st) return st;
            }
    }
    return RNNCK_OK;
}

/* Runs the first `layers` layers of both modules on c and compares the
 * output sequences. */
static rnnck_status compare_truncated(rnnck_validation *v, size_t pair, rnnck_model *a, size_t ma, rnnck_model *b,
                                      size_t mb, const rnnck__case *c, int64_t layers, const rnnck_forward_opts *fo,
                                      const rnnck__tol *tol, int series, progress *pr) {
    rnnck_model *ta = NULL, *tb = NULL;
    rnnck__run_out ra = {0}, rb = {0};
    rnnck_status st = rnnck__module_copy(a, ma, NULL, layers, &ta);
    if (!st) st = rnnck__module_copy(b, mb, NULL, layers, &tb);
    if (!st) st = rnnck__run_case(ta, 0, c, fo, &ra);
    if (!st) tick(pr);
    if (!st) st = rnnck__run_case(tb, 0, c, fo, &rb);
    if (!st) tick(pr);
    if (!st) st = compare_output(v, pair, c->name, layers - 1, &ra, &rb, tol, series);
    rnnck__run_out_free(&ra);
    rnnck__run_out_free(&rb);
    rnnck_model_free(ta);
    rnnck_model_free(tb);
    return st;
}

static rnnck_status validate_pair(rnnck_validation *v, size_t pair, rnnck_model *a, size_t ma, rnnck_model *b,
                                  size_t mb, const rnnck__case *cases, size_t ncases, rnnck_dtype compute,
                                  const rnnck__tol *tol, const rnnck_validate_opts *o, progress *pr) {
    const rnnck_module_info *ia = rnnck_model_module(a, ma);
    size_t first_row = v->nrows;
    rnnck_status st = RNNCK_OK;
    rnnck_forward_opts fo = rnnck__validate_fwd(o, compute);
    for (size_t k = 0; k < ncases && !st; k++) {
        const rnnck__case *c = &cases[k];
        /* The plot shows where errors grow along time: the long case, or
         * the user's own input. */
        int series = strcmp(c->name, "long") == 0 || strcmp(c->name, "user") == 0;
        if (o->per_layer)
            for (int64_t l = 1; l < ia->num_layers && !st; l++)
                st = compare_truncated(v, pair, a, ma, b, mb, c, l, &fo, tol, series, pr);
        if (st) break;
        rnnck__run_out ra = {0}, rb = {0};
        st = rnnck__run_case(a, ma, c, &fo, &ra);
        if (!st) tick(pr);
        if (!st) st = rnnck__run_case(b, mb, c, &fo, &rb);
        if (!st) tick(pr);
        if (!st) st = compare_output(v, pair, c->name, ia->num_layers - 1, &ra, &rb, tol, series);
        if (!st) st = compare_states(v, pair, c->name, &ra, &rb, tol);
        rnnck__run_out_free(&ra);
        rnnck__run_out_free(&rb);
    }
    if (st) return st;
    int pass = 1;
    for (size_t i = first_row; i < v->nrows; i++) pass &= v->rows[i].pass;
    v->pairs[pair].pass = pass;
    if (!pass && o->diagnose) {
        /* The lowest disagreeing layer and its directions point the search. */
        int64_t first = -1;
        unsigned mask = 0;
        for (size_t i = first_row; i < v->nrows; i++) {
            const rnnck_validation_row *r = &v->rows[i];
            if (r->pass) continue;
            if (first < 0 || r->layer < first) {
                first = r->layer;
                mask = 0;
            }
            if (r->layer == first) mask |= 1u << r->reverse;
        }
        int64_t runs = 0;
        st = rnnck__diagnose(a, ma, b, mb, o, compute, first, mask, &v->findings[pair], &runs);
        pr->total += runs;
        pr->done += runs;
        if (!st) {
            v->pairs[pair].findings = v->findings[pair].items;
            v->pairs[pair].nfindings = v->findings[pair].n;
        }
    }
    return st;
}

static rnnck_dtype compute_dtype(const rnnck_module_info *a, const rnnck_module_info *b) {
    return (a->dtype == RNNCK_F64 || b->dtype == RNNCK_F64) ? RNNCK_F64 : RNNCK_F32;
}

/* Refuses inputs whose size would make validation unreasonably costly. */
static rnnck_status check_case_size(const rnnck_module_info *info, int64_t T, int64_t B) {
    int64_t n;
    if (rnnck__mul_overflow_i64(T, B, &n) || rnnck__mul_overflow_i64(n, info->input_size, &n) || n > MAX_CASE_ELEMENTS)
        return rnnck__err(RNNCK_E_USAGE, "validate: an input of %lld x %lld x %lld elements is too large",
                          (long long)T, (long long)B, (long long)info->input_size);
    return RNNCK_OK;
}

static rnnck_status run_pairs(rnnck_validation *v, rnnck_model *a, rnnck_model *b, const rnnck__pairing *pp,
                              const rnnck_validate_opts *o, progress *pr) {
    for (size_t i = 0; i < v->npairs; i++) {
        rnnck_validation_pair *vp = &v->pairs[i];
        const rnnck_module_info *ia = pp[i].a != SIZE_MAX ? rnnck_model_module(a, pp[i].a) : NULL;
        const rnnck_module_info *ib = pp[i].b != SIZE_MAX ? rnnck_model_module(b, pp[i].b) : NULL;
        vp->module_a = ia ? keep(v, ia->name) : NULL;
        vp->module_b = ib ? keep(v, ib->name) : NULL;
        vp->pairing = pp[i].how;
        if ((ia && !vp->module_a) || (ib && !vp->module_b)) return rnnck__oom();
        char why[256];
        if (!ia || !ib) {
            snprintf(why, sizeof why, "module '%s' of %s has no counterpart in %s", ia ? ia->name : ib->name,
                     ia ? "A" : "B", ia ? "B" : "A");
        } else if (!rnnck__modules_compatible(ia, ib, why, sizeof why)) {
            /* why filled */
        } else {
            why[0] = '\0';
        }
        if (why[0]) {
            vp->problem = keep(v, why);
            if (!vp->problem) return rnnck__oom();
            vp->pass = 0;
            v->passed = 0;
            continue;
        }
        rnnck_dtype compute = compute_dtype(ia, ib);
        rnnck__tol tol = {o->atol, o->rtol, compute};
        rnnck__case *cases = NULL;
        size_t ncases = 0;
        rnnck_status st;
        if (o->input) {
            cases = calloc(1, sizeof *cases);
            if (!cases) return rnnck__oom();
            ncases = 1;
            cases[0].name = "user";
            st = rnnck__to_time_major(o->input, ia->batch_first, compute, &cases[0].x);
            if (!st && rnnck_tensor_dim(cases[0].x, 2) != ia->input_size)
                st = rnnck__err(RNNCK_E_SHAPE, "the input has %lld features, the module takes input_size %lld",
                                (long long)rnnck_tensor_dim(cases[0].x, 2), (long long)ia->input_size);
            if (!st) {
                cases[0].T = rnnck_tensor_dim(cases[0].x, 0);
                cases[0].B = rnnck_tensor_dim(cases[0].x, 1);
            }
        } else {
            st = check_case_size(ia, o->seq_len > o->long_len ? o->seq_len : o->long_len,
                                 o->batch < 3 ? 3 : o->batch);
            if (!st) st = rnnck__make_battery(ia, o, compute, &cases, &ncases);
        }
        if (!st) {
            pr->total += (int64_t)ncases * 2 * (o->per_layer ? ia->num_layers : 1);
            st = validate_pair(v, i, a, pp[i].a, b, pp[i].b, cases, ncases, compute, &tol, o, pr);
        }
        rnnck__cases_free(cases, ncases);
        if (st) {
            rnnck__err_prefix("module %s", *ia->name ? ia->name : "(root)");
            return st;
        }
    }
    return RNNCK_OK;
}

rnnck_status rnnck_validate(rnnck_model *a, rnnck_model *b, const rnnck_validate_opts *opts, rnnck_validation **out) {
    rnnck__err_clear();
    if (!a || !b || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_validate: NULL argument");
    rnnck_validate_opts o;
    if (opts) o = *opts;
    else rnnck_validate_opts_init(&o);
    rnnck_status st = check_opts(&o);
    if (st) return st;
    if (!rnnck_model_module_count(a)) return rnnck__err(RNNCK_E_NOTFOUND, "validate: A holds no recurrent module");
    if (!rnnck_model_module_count(b)) return rnnck__err(RNNCK_E_NOTFOUND, "validate: B holds no recurrent module");
    rnnck__pairing *pp;
    size_t np;
    st = rnnck__pair_modules(a, b, &pp, &np);
    if (st) return st;
    rnnck_validation *v = NULL;
    st = new_validation(np, &v);
    if (!st) v->atol = o.atol;
    progress pr = {&o, 0, 0};
    if (!st) st = run_pairs(v, a, b, pp, &o, &pr);
    free(pp);
    if (st) {
        rnnck_validation_free(v);
        return st;
    }
    *out = v;
    return RNNCK_OK;
}

/* ------------------------------------------------- against a saved output */

static rnnck_status same_shape(const rnnck_tensor *x, const rnnck_tensor *y) {
    int nd = rnnck_tensor_ndim(x);
    int same = nd == rnnck_tensor_ndim(y);
    for (int i = 0; same && i < nd; i++) same = rnnck_tensor_dim(x, i) == rnnck_tensor_dim(y, i);
    if (same) return RNNCK_OK;
    int64_t sx[RNNCK_MAX_DIMS], sy[RNNCK_MAX_DIMS];
    for (int i = 0; i < nd; i++) sx[i] = rnnck_tensor_dim(x, i);
    for (int i = 0; i < rnnck_tensor_ndim(y); i++) sy[i] = rnnck_tensor_dim(y, i);
    char bx[128], by[128];
    return rnnck__err(RNNCK_E_SHAPE, "expected output has shape %s, the module's output is %s",
                      rnnck__shape_str(rnnck_tensor_ndim(y), sy, by, sizeof by), rnnck__shape_str(nd, sx, bx, sizeof bx));
}

rnnck_status rnnck_validate_expected(rnnck_model *m, size_t module, const rnnck_tensor *input,
                                     const rnnck_tensor *expected, const rnnck_validate_opts *opts,
                                     rnnck_validation **out) {
    rnnck__err_clear();
    if (!m || !input || !expected || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_validate_expected: NULL argument");
    const rnnck_module_info *info = rnnck_model_module(m, module);
    if (!info) return rnnck__err(RNNCK_E_NOTFOUND, "validate: no recurrent module with index %zu", module);
    rnnck_validate_opts o;
    if (opts) o = *opts;
    else rnnck_validate_opts_init(&o);
    rnnck_status st = check_opts(&o);
    if (st) return st;
    if (!rnnck_dtype_is_float(rnnck_tensor_dtype(expected)))
        return rnnck__err(RNNCK_E_SHAPE, "expected output has dtype %s, need a float type",
                          rnnck_dtype_name(rnnck_tensor_dtype(expected)));
    rnnck_dtype compute = rnnck_tensor_dtype(input) == RNNCK_F64 ? RNNCK_F64 : RNNCK_F32;
    rnnck_forward_opts fo = rnnck__validate_fwd(&o, compute);
    rnnck_tensor *y = NULL, *hn = NULL, *cn = NULL, *ty = NULL, *te = NULL;
    st = rnnck_forward(m, module, input, NULL, NULL, NULL, &fo, &y, &hn, &cn);
    if (!st) st = same_shape(y, expected);
    /* Both into a time-major (T, B, W) layout: unbatched is B = 1. */
    if (!st) st = rnnck__to_time_major(y, info->batch_first, RNNCK_F64, &ty);
    if (!st) st = rnnck__to_time_major(expected, info->batch_first, RNNCK_F64, &te);
    rnnck_validation *v = NULL;
    if (!st) st = new_validation(1, &v);
    if (!st) {
        v->atol = o.atol;
        rnnck__run_out re = {0}, rr = {0};
        re.y = rnnck_tensor_data(te);
        rr.y = rnnck_tensor_data(ty);
        re.T = rr.T = rnnck_tensor_dim(ty, 0);
        re.B = rr.B = rnnck_tensor_dim(ty, 1);
        re.width = rr.width = rnnck_tensor_dim(ty, 2);
        re.D = rr.D = info->bidirectional ? 2 : 1;
        re.yD = rr.yD = re.width / rnnck__h_out(info);
        re.H_out = rr.H_out = rnnck__h_out(info);
        re.L = rr.L = info->num_layers;
        rnnck_dtype ulp = (rnnck_tensor_dtype(expected) == RNNCK_F64 && compute == RNNCK_F64) ? RNNCK_F64 : RNNCK_F32;
        rnnck__tol tol = {o.atol, o.rtol, ulp};
        v->pairs[0].module_a = keep(v, info->name);
        v->pairs[0].pairing = "expected output";
        if (!v->pairs[0].module_a) st = rnnck__oom();
        if (!st) st = compare_output(v, 0, "expected", info->num_layers - 1, &re, &rr, &tol, 1);
        v->pairs[0].pass = v->passed;
    }
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    rnnck_tensor_free(ty);
    rnnck_tensor_free(te);
    if (st) {
        rnnck_validation_free(v);
        return st;
    }
    *out = v;
    return RNNCK_OK;
}

/* ------------------------------------------------------------ accessors */

int rnnck_validation_passed(const rnnck_validation *v) { return v ? v->passed : 0; }
double rnnck__validation_atol(const rnnck_validation *v) { return v ? v->atol : 0.0; }
size_t rnnck_validation_pair_count(const rnnck_validation *v) { return v ? v->npairs : 0; }
const rnnck_validation_pair *rnnck_validation_pair_at(const rnnck_validation *v, size_t i) {
    return (v && i < v->npairs) ? &v->pairs[i] : NULL;
}
size_t rnnck_validation_row_count(const rnnck_validation *v) { return v ? v->nrows : 0; }
const rnnck_validation_row *rnnck_validation_row_at(const rnnck_validation *v, size_t i) {
    return (v && i < v->nrows) ? &v->rows[i] : NULL;
}
size_t rnnck_validation_series_count(const rnnck_validation *v) { return v ? v->nseries : 0; }
const rnnck_error_series *rnnck_validation_series_at(const rnnck_validation *v, size_t i) {
    return (v && i < v->nseries) ? &v->series[i] : NULL;
}
