/* Loads one forward golden case (fixtures/forward/<group>/<case>/: meta.txt
 * plus .npy files), builds the model, runs rnnck_forward and measures the
 * error against the stored expectations. Used by tests/test_forward*.c. */
#ifndef RNNCK_TEST_FORWARD_CASE_H
#define RNNCK_TEST_FORWARD_CASE_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnck.h"

typedef struct fcase {
    char dir[1024];
    char name[256];
    rnnck_module_info info;
    rnnck_dtype dtype;
    rnnck_model *model;
    rnnck_tensor *input, *h0, *c0, *lengths;
    rnnck_tensor *exp_out, *exp_hn, *exp_cn;
} fcase;

/* Error of one comparison: worst |a-e| and worst |a-e| / (atol + rtol*|e|). */
typedef struct ferr {
    double max_abs, max_rel, worst_ratio;
} ferr;

static inline const char *fc_fixtures(void) {
    const char *f = getenv("RNNCK_FIXTURES");
    cr_assert(f != NULL, "RNNCK_FIXTURES is not set");
    return f;
}

/* Case names of a group, from its cases.txt; returns the count. */
static inline int fc_list(const char *group, char names[][128], int max) {
    char path[1024];
    snprintf(path, sizeof path, "%s/forward/%s/cases.txt", fc_fixtures(), group);
    FILE *fp = fopen(path, "r");
    cr_assert(fp != NULL, "cannot open %s", path);
    int n = 0;
    while (n < max && fgets(names[n], 128, fp)) {
        names[n][strcspn(names[n], "\r\n")] = '\0';
        if (names[n][0]) n++;
    }
    fclose(fp);
    return n;
}

static inline rnnck_tensor *fc_load_opt(const fcase *c, const char *file) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.npy", c->dir, file);
    FILE *probe = fopen(path, "rb");
    if (!probe) return NULL;
    fclose(probe);
    rnnck_tensor *t = NULL;
    rnnck_status st = rnnck_npy_load(path, &t);
    cr_assert_eq(st, RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    return t;
}

static inline rnnck_activation fc_parse_act(const char *v) {
    rnnck_activation a = {RNNCK_ACT_SIGMOID, 0, 0};
    char name[64];
    double al = 0, be = 0;
    int n = sscanf(v, "%63[^:]:%lf:%lf", name, &al, &be);
    cr_assert(n >= 1, "bad activation '%s'", v);
    a.kind = rnnck_act_from_name(name);
    cr_assert(a.kind != RNNCK_ACT_COUNT_, "unknown activation '%s'", name);
    a.alpha = al;
    a.beta = be;
    return a;
}

static inline void fc_parse_meta(fcase *c) {
    char path[1400], line[256];
    snprintf(path, sizeof path, "%s/meta.txt", c->dir);
    FILE *fp = fopen(path, "r");
    cr_assert(fp != NULL, "cannot open %s", path);
    rnnck_module_info *in = &c->info;
    bool cell_seen = false;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = '\0';
        const char *k = line, *v = eq + 1;
        if (!strcmp(k, "cell")) {
            rnnck_module_info_init(in, rnnck_cell_from_name(v));
            cr_assert(in->cell != RNNCK_CELL_INVALID, "%s: cell %s", path, v);
            cell_seen = true;
            continue;
        }
        cr_assert(cell_seen, "%s: 'cell' must come first", path);
        if (!strcmp(k, "input_size")) in->input_size = atoll(v);
        else if (!strcmp(k, "hidden_size")) in->hidden_size = atoll(v);
        else if (!strcmp(k, "num_layers")) in->num_layers = atoll(v);
        else if (!strcmp(k, "proj_size")) in->proj_size = atoll(v);
        else if (!strcmp(k, "bias")) in->bias = atoi(v);
        else if (!strcmp(k, "bidirectional")) in->bidirectional = atoi(v);
        else if (!strcmp(k, "batch_first")) in->batch_first = atoi(v);
        else if (!strcmp(k, "dtype")) c->dtype = in->dtype = rnnck_dtype_from_name(v);
        else if (!strcmp(k, "linear_before_reset")) in->linear_before_reset = atoi(v);
        else if (!strcmp(k, "forget_bias")) in->forget_bias = atof(v);
        else if (!strcmp(k, "peepholes")) in->peepholes = atoi(v);
        else if (!strcmp(k, "clip")) in->clip = atof(v);
        else if (!strcmp(k, "input_forget")) in->input_forget = atoi(v);
        else if (!strcmp(k, "direction")) {
            cr_assert(!strcmp(v, "reverse") || !strcmp(v, "forward"), "%s: direction %s", path, v);
            in->reverse = !strcmp(v, "reverse");
        } else if (!strcmp(k, "output_order")) {
            cr_assert(!strcmp(v, "processed") || !strcmp(v, "time"), "%s: output_order %s", path, v);
            in->output_reversed = !strcmp(v, "processed");
        } else if (!strcmp(k, "merge_mode")) {
            in->merge_mode = rnnck_merge_mode_from_name(v);
            cr_assert(in->merge_mode != RNNCK_MERGE_COUNT_, "%s: merge_mode %s", path, v);
        }
        else if (!strncmp(k, "act_", 4)) {
            int d = k[4] - '0', s = k[6] - '0';
            cr_assert(d >= 0 && d < 2 && s >= 0 && s < RNNCK_ACT_SLOTS, "%s: key %s", path, k);
            in->act[d][s] = fc_parse_act(v);
        }
    }
    fclose(fp);
    cr_assert(cell_seen, "%s: no cell", path);
}

/* Builds the model and copies every parameter in from <name>.npy. */
static inline void fc_open(fcase *c, const char *group, const char *name) {
    memset(c, 0, sizeof *c);
    int nd = snprintf(c->dir, sizeof c->dir, "%s/forward/%s/%s", fc_fixtures(), group, name);
    int nn = snprintf(c->name, sizeof c->name, "%s/%s", group, name);
    cr_assert(nd > 0 && (size_t)nd < sizeof c->dir && nn > 0 && (size_t)nn < sizeof c->name, "path too long");
    fc_parse_meta(c);
    c->info.name = "rnn";
    cr_assert_eq(rnnck_model_new(&c->model), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(c->model, &c->info), RNNCK_OK, "%s: %s", c->name, rnnck_errmsg());
    int dirs = c->info.bidirectional ? 2 : 1;
    for (int64_t l = 0; l < c->info.num_layers; l++)
        for (int d = 0; d < dirs; d++)
            for (int k = 0; k < RNNCK_PARAM_COUNT_; k++) {
                rnnck_tensor *p;
                if (rnnck_model_param(c->model, 0, (rnnck_param)k, l, d, &p) != RNNCK_OK) continue;
                char local[64];
                cr_assert_eq(rnnck_param_name((rnnck_param)k, l, d, local, sizeof local), RNNCK_OK);
                rnnck_tensor *src = fc_load_opt(c, local);
                cr_assert(src != NULL, "%s: parameter %s.npy missing", c->name, local);
                cr_assert_eq(rnnck_tensor_assign(p, src), RNNCK_OK, "%s: %s: %s", c->name, local, rnnck_errmsg());
                rnnck_tensor_free(src);
            }
    c->input = fc_load_opt(c, "input");
    cr_assert(c->input != NULL, "%s: input.npy missing", c->name);
    c->h0 = fc_load_opt(c, "h0");
    c->c0 = fc_load_opt(c, "c0");
    c->lengths = fc_load_opt(c, "lengths");
    c->exp_out = fc_load_opt(c, "expected_output");
    c->exp_hn = fc_load_opt(c, "expected_h_n");
    c->exp_cn = fc_load_opt(c, "expected_c_n");
    cr_assert(c->exp_out && c->exp_hn, "%s: expectations missing", c->name);
}

static inline void fc_close(fcase *c) {
    rnnck_model_free(c->model);
    rnnck_tensor_free(c->input);
    rnnck_tensor_free(c->h0);
    rnnck_tensor_free(c->c0);
    rnnck_tensor_free(c->lengths);
    rnnck_tensor_free(c->exp_out);
    rnnck_tensor_free(c->exp_hn);
    rnnck_tensor_free(c->exp_cn);
}

/* Compares got with want element-wise in double; shapes must match. */
static inline void fc_compare(const char *what, const char *label, const rnnck_tensor *got,
                              const rnnck_tensor *want, double atol, double rtol, ferr *e) {
    cr_assert(got != NULL, "%s %s: missing", label, what);
    int nd = rnnck_tensor_ndim(want);
    cr_assert_eq(rnnck_tensor_ndim(got), nd, "%s %s: ndim %d, expected %d", label, what, rnnck_tensor_ndim(got), nd);
    for (int i = 0; i < nd; i++)
        cr_assert_eq(rnnck_tensor_dim(got, i), rnnck_tensor_dim(want, i), "%s %s: dim %d", label, what, i);
    int64_t n = rnnck_tensor_numel(want);
    double *a = malloc(sizeof(double) * (size_t)(n ? n : 1)), *b = malloc(sizeof(double) * (size_t)(n ? n : 1));
    cr_assert(a && b);
    cr_assert_eq(rnnck_tensor_copy_out(got, RNNCK_F64, a, sizeof(double) * (size_t)n), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_copy_out(want, RNNCK_F64, b, sizeof(double) * (size_t)n), RNNCK_OK);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        double ratio = d / (atol + rtol * fabs(b[i]));
        if (d > e->max_abs) e->max_abs = d;
        if (b[i] != 0 && d / fabs(b[i]) > e->max_rel) e->max_rel = d / fabs(b[i]);
        if (!(ratio <= e->worst_ratio)) e->worst_ratio = ratio; /* NaN counts as worst */
        cr_expect(d <= atol + rtol * fabs(b[i]), "%s %s[%lld]: got %.17g, expected %.17g (atol %g, rtol %g)",
                  label, what, (long long)i, a[i], b[i], atol, rtol);
        if (!(d <= atol + rtol * fabs(b[i]))) break; /* one message per array is enough */
    }
    free(a);
    free(b);
}

/* Runs the case in `compute` and compares all outputs. */
static inline void fc_run_and_compare(fcase *c, rnnck_dtype compute, double atol, double rtol, ferr *e) {
    rnnck_forward_opts opts = {0, compute};
    rnnck_tensor *y = NULL, *hn = NULL, *cn = NULL;
    rnnck_status st = rnnck_forward(c->model, 0, c->input, c->h0, c->c0, c->lengths, &opts, &y, &hn, &cn);
    cr_assert_eq(st, RNNCK_OK, "%s: %s", c->name, rnnck_errmsg());
    cr_expect_eq(rnnck_tensor_dtype(y), compute, "%s: output dtype", c->name);
    fc_compare("output", c->name, y, c->exp_out, atol, rtol, e);
    fc_compare("h_n", c->name, hn, c->exp_hn, atol, rtol, e);
    if (c->exp_cn) fc_compare("c_n", c->name, cn, c->exp_cn, atol, rtol, e);
    else cr_expect(cn == NULL, "%s: c_n returned for a cell without cell state", c->name);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
}

#endif
