/* rnnck_model_add_module lays out parameters exactly as PyTorch does: names,
 * shapes and order compared with real torch.nn modules recorded by
 * fixtures/layouts/make_torch_layouts.py (torch_layouts.txt). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rnnck.h"

/* ------------------------------------------------------ fixture reading */

typedef struct fixture {
    char *text;    /* the file, NUL-split into lines */
    char **lines;
    size_t nlines;
} fixture;

static fixture load_fixture(void) {
    const char *dir = getenv("RNNCK_FIXTURES");
    cr_assert(dir, "RNNCK_FIXTURES is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/layouts/torch_layouts.txt", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    fixture fx = {0};
    fx.text = malloc((size_t)len + 1);
    cr_assert(fx.text);
    cr_assert_eq(fread(fx.text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    fx.text[len] = '\0';
    size_t cap = 1;
    for (long i = 0; i < len; i++) cap += fx.text[i] == '\n';
    fx.lines = calloc(cap, sizeof *fx.lines);
    cr_assert(fx.lines);
    for (char *save = NULL, *line = strtok_r(fx.text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (line[0] != '#') fx.lines[fx.nlines++] = line;
    return fx;
}

static void free_fixture(fixture *fx) {
    free(fx->lines);
    free(fx->text);
}

/* One "module" block of the fixture. */
typedef struct torch_module {
    char cell[16], prefix[64];
    long long input, hidden, layers, bidir, bias, proj;
    char **tensors; /* '<name> <ndim> <dims...>' lines */
    size_t ntensors;
} torch_module;

/* Parses the block starting at line *i; advances *i past its "end". */
static torch_module parse_module(const fixture *fx, size_t *i) {
    torch_module tm;
    int n = sscanf(fx->lines[*i], "module %15s %lld %lld %lld %lld %lld %lld %63s", tm.cell, &tm.input, &tm.hidden,
                   &tm.layers, &tm.bidir, &tm.bias, &tm.proj, tm.prefix);
    cr_assert_eq(n, 8, "malformed fixture line: %s", fx->lines[*i]);
    if (strcmp(tm.prefix, "-") == 0) tm.prefix[0] = '\0';
    tm.tensors = fx->lines + *i + 1;
    tm.ntensors = 0;
    while (*i + 1 + tm.ntensors < fx->nlines && strcmp(tm.tensors[tm.ntensors], "end") != 0) tm.ntensors++;
    cr_assert_lt(*i + 1 + tm.ntensors, fx->nlines, "fixture block without 'end'");
    *i += tm.ntensors + 2;
    return tm;
}

static rnnck_module_info info_of(const torch_module *tm) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, rnnck_cell_from_name(tm->cell));
    cr_assert_neq(info.cell, RNNCK_CELL_INVALID, "unknown cell %s in fixture", tm->cell);
    info.name = tm->prefix;
    info.input_size = tm->input;
    info.hidden_size = tm->hidden;
    info.num_layers = tm->layers;
    info.bidirectional = (int)tm->bidir;
    info.bias = (int)tm->bias;
    info.proj_size = tm->proj;
    return info;
}

/* Tensor `first + k` of m must be the k-th expected "<name> <ndim> <dims>" line. */
static void expect_tensors(const rnnck_model *m, size_t first, char **expected, size_t nexpected, const char *what) {
    cr_assert_eq(rnnck_model_tensor_count(m) - first, nexpected, "%s: rnnck made %zu tensors, torch has %zu", what,
                 rnnck_model_tensor_count(m) - first, nexpected);
    for (size_t k = 0; k < nexpected; k++) {
        char name[256];
        int ndim;
        long long d[2] = {-1, -1};
        int n = sscanf(expected[k], "%255s %d %lld %lld", name, &ndim, &d[0], &d[1]);
        cr_assert_eq(n, 2 + ndim, "malformed fixture line: %s", expected[k]);
        const rnnck_tensor *t = rnnck_model_tensor(m, first + k);
        cr_assert_str_eq(rnnck_tensor_name(t), name, "%s: tensor #%zu is %s, torch has %s", what, k,
                         rnnck_tensor_name(t), name);
        cr_assert_eq(rnnck_tensor_ndim(t), ndim, "%s: %s has %d dims, torch %d", what, name, rnnck_tensor_ndim(t),
                     ndim);
        for (int j = 0; j < ndim; j++)
            cr_assert_eq(rnnck_tensor_dim(t, j), d[j], "%s: %s dim %d is %lld, torch %lld", what, name, j,
                         (long long)rnnck_tensor_dim(t, j), d[j]);
    }
}

static rnnck_model *model_of(const torch_module *tm) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    rnnck_module_info info = info_of(tm);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "add_module: %s", rnnck_errmsg());
    return m;
}

/* Finds the bare-module block with these sizes. */
static torch_module find_module(const fixture *fx, const char *cell, long long input, long long hidden,
                                long long layers, long long bidir, long long proj) {
    for (size_t i = 0; i < fx->nlines;) {
        if (strncmp(fx->lines[i], "module ", 7) != 0) {
            i++;
            continue;
        }
        torch_module tm = parse_module(fx, &i);
        if (strcmp(tm.cell, cell) == 0 && tm.input == input && tm.hidden == hidden && tm.layers == layers &&
            tm.bidir == bidir && tm.proj == proj && tm.bias && !tm.prefix[0])
            return tm;
    }
    cr_assert_fail("fixture has no %s(%lld, %lld) module", cell, input, hidden);
    return (torch_module){0};
}

/* Shape of the fixture's tensor `name` in block tm: ndim, or 0 if absent. */
static int fixture_shape(const torch_module *tm, const char *name, long long d[2]) {
    for (size_t k = 0; k < tm->ntensors; k++) {
        char n[256];
        int ndim;
        if (sscanf(tm->tensors[k], "%255s %d %lld %lld", n, &ndim, &d[0], &d[1]) >= 2 && strcmp(n, name) == 0)
            return ndim;
    }
    return 0;
}

/* ------------------------------------------------------------------ tests */

Test(layout, every_torch_module_config_has_the_same_names_shapes_and_order) {
    fixture fx = load_fixture();
    size_t checked = 0, with_prefix = 0, with_proj = 0, per_cell[5] = {0};
    for (size_t i = 0; i < fx.nlines;) {
        if (strncmp(fx.lines[i], "module ", 7) != 0) {
            i++;
            continue;
        }
        char what[160];
        snprintf(what, sizeof what, "%s", fx.lines[i]);
        torch_module tm = parse_module(&fx, &i);
        rnnck_model *m = model_of(&tm);
        expect_tensors(m, 0, tm.tensors, tm.ntensors, what);
        rnnck_model_free(m);
        checked++;
        with_prefix += tm.prefix[0] != '\0';
        with_proj += tm.proj > 0;
        per_cell[rnnck_cell_from_name(tm.cell)]++;
    }
    /* The whole matrix was there: 3 prefixes x (LSTM 3x2x2x2 + 3 cells x 3x2x2)
     * = 180, plus the 3 example modules. */
    cr_expect_eq(checked, 183);
    cr_expect_eq(with_prefix, 120);
    cr_expect_eq(with_proj, 37);
    for (int c = RNNCK_CELL_LSTM; c <= RNNCK_CELL_RNN_RELU; c++) cr_expect_geq(per_cell[c], 36);
    free_fixture(&fx);
}

Test(layout, wrapper_model_with_embedding_nested_encoder_rnn_and_head_matches_torch_state_dict) {
    fixture fx = load_fixture();
    int wrappers = 0;
    for (size_t i = 0; i < fx.nlines; i++) {
        long long vocab, embed, hidden, layers, bidir, out;
        if (sscanf(fx.lines[i], "wrapper %lld %lld %lld %lld %lld %lld", &vocab, &embed, &hidden, &layers, &bidir,
                   &out) != 6)
            continue;
        size_t n = 0;
        while (strcmp(fx.lines[i + 1 + n], "end") != 0) n++;
        /* Build the same model on the rnnck side: embedding, then the
         * recurrent module at 'encoder.rnn', then the linear head. */
        rnnck_model *m;
        cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
        rnnck_tensor *t;
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){vocab, embed}, &t), RNNCK_OK);
        cr_assert_eq(rnnck_model_add_tensor(m, "embedding.weight", t), RNNCK_OK);
        rnnck_tensor_free(t);
        rnnck_module_info info;
        rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
        info.name = "encoder.rnn";
        info.input_size = embed;
        info.hidden_size = hidden;
        info.num_layers = layers;
        info.bidirectional = (int)bidir;
        cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, (int64_t[]){out, hidden * (bidir ? 2 : 1)}, &t), RNNCK_OK);
        cr_assert_eq(rnnck_model_add_tensor(m, "head.weight", t), RNNCK_OK);
        rnnck_tensor_free(t);
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 1, (int64_t[]){out}, &t), RNNCK_OK);
        cr_assert_eq(rnnck_model_add_tensor(m, "head.bias", t), RNNCK_OK);
        rnnck_tensor_free(t);
        expect_tensors(m, 0, fx.lines + i + 1, n, fx.lines[i]);
        size_t idx;
        cr_expect_eq(rnnck_model_find_module(m, "encoder.rnn", &idx), RNNCK_OK);
        rnnck_tensor *w;
        cr_expect_eq(rnnck_model_param(m, idx, RNNCK_PARAM_WEIGHT_IH, 0, 0, &w), RNNCK_OK);
        cr_expect_str_eq(rnnck_tensor_name(w), "encoder.rnn.weight_ih_l0");
        rnnck_model_free(m);
        wrappers++;
    }
    cr_expect_eq(wrappers, 2);
    free_fixture(&fx);
}

Test(layout, lstm_10_8_two_layers_bidirectional_has_16_tensors_and_weight_ih_l1_32x16) {
    fixture fx = load_fixture();
    torch_module tm = find_module(&fx, "LSTM", 10, 8, 2, 1, 0);
    long long d[2];
    cr_assert_eq(tm.ntensors, 16, "torch itself");
    cr_assert_eq(fixture_shape(&tm, "weight_ih_l1", d), 2);
    cr_assert(d[0] == 32 && d[1] == 16, "torch itself: %lld x %lld", d[0], d[1]);
    rnnck_model *m = model_of(&tm);
    cr_expect_eq(rnnck_model_tensor_count(m), 16);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_find(m, "weight_ih_l1", &w), RNNCK_OK);
    cr_expect(rnnck_tensor_dim(w, 0) == 32 && rnnck_tensor_dim(w, 1) == 16);
    cr_assert_eq(rnnck_model_find(m, "weight_ih_l1_reverse", &w), RNNCK_OK);
    cr_expect(rnnck_tensor_dim(w, 0) == 32 && rnnck_tensor_dim(w, 1) == 16);
    expect_tensors(m, 0, tm.tensors, tm.ntensors, "LSTM(10, 8, 2, bidirectional)");
    rnnck_model_free(m);
    free_fixture(&fx);
}

Test(layout, lstm_100_128_weight_ih_l0_is_512x100) {
    fixture fx = load_fixture();
    torch_module tm = find_module(&fx, "LSTM", 100, 128, 1, 0, 0);
    long long d[2];
    cr_assert_eq(fixture_shape(&tm, "weight_ih_l0", d), 2);
    cr_assert(d[0] == 512 && d[1] == 100, "torch itself: %lld x %lld", d[0], d[1]);
    rnnck_model *m = model_of(&tm);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_find(m, "weight_ih_l0", &w), RNNCK_OK);
    cr_expect(rnnck_tensor_dim(w, 0) == 512 && rnnck_tensor_dim(w, 1) == 100);
    expect_tensors(m, 0, tm.tensors, tm.ntensors, "LSTM(100, 128)");
    rnnck_model_free(m);
    free_fixture(&fx);
}

Test(layout, projected_bidirectional_lstm_layer_1_input_is_two_times_proj_size) {
    fixture fx = load_fixture();
    torch_module tm = find_module(&fx, "LSTM", 10, 8, 2, 1, 3);
    long long d[2];
    cr_assert_eq(fixture_shape(&tm, "weight_ih_l1", d), 2);
    cr_assert(d[0] == 32 && d[1] == 6, "torch itself: %lld x %lld", d[0], d[1]);
    cr_assert_eq(fixture_shape(&tm, "weight_hh_l1_reverse", d), 2);
    cr_assert(d[0] == 32 && d[1] == 3, "torch itself: %lld x %lld", d[0], d[1]);
    cr_assert_eq(fixture_shape(&tm, "weight_hr_l1_reverse", d), 2);
    cr_assert(d[0] == 3 && d[1] == 8, "torch itself: %lld x %lld", d[0], d[1]);
    rnnck_model *m = model_of(&tm);
    rnnck_tensor *w;
    cr_assert_eq(rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_IH, 1, 1, &w), RNNCK_OK);
    cr_expect_str_eq(rnnck_tensor_name(w), "weight_ih_l1_reverse");
    cr_expect(rnnck_tensor_dim(w, 0) == 32 && rnnck_tensor_dim(w, 1) == 6, "layer-1 input must be 2P = 6");
    expect_tensors(m, 0, tm.tensors, tm.ntensors, "LSTM(10, 8, 2, bidirectional, proj 3)");
    rnnck_model_free(m);
    free_fixture(&fx);
}

static rnnck_param param_named(const char *name) {
    if (strcmp(name, "weight_ih_l0") == 0) return RNNCK_PARAM_WEIGHT_IH;
    if (strcmp(name, "weight_hh_l0") == 0) return RNNCK_PARAM_WEIGHT_HH;
    cr_assert_str_eq(name, "bias_ih_l0", "unexpected parameter in fixture");
    return RNNCK_PARAM_BIAS_IH;
}

Test(layout, gate_views_hold_what_torch_chunk_gives_for_every_gate) {
    fixture fx = load_fixture();
    int checked = 0;
    for (size_t i = 0; i < fx.nlines; i++) {
        char cell[16], pname[32];
        long long input, hidden, gates, k, rows, cols, first, last, sum;
        if (sscanf(fx.lines[i], "chunk %15s %lld %lld %31s %lld %lld %lld %lld %lld %lld %lld", cell, &input, &hidden,
                   pname, &gates, &k, &rows, &cols, &first, &last, &sum) != 11)
            continue;
        torch_module tm = {.input = input, .hidden = hidden, .layers = 1, .bias = 1};
        snprintf(tm.cell, sizeof tm.cell, "%s", cell);
        rnnck_model *m = model_of(&tm);
        rnnck_param kind = param_named(pname);
        rnnck_tensor *p;
        cr_assert_eq(rnnck_model_param(m, 0, kind, 0, 0, &p), RNNCK_OK);
        /* Fill the parameter with 0, 1, 2, ... in C order, as the script did. */
        float *data = rnnck_tensor_data(p);
        for (int64_t e = 0; e < rnnck_tensor_numel(p); e++) data[e] = (float)e;
        char gate = rnnck_cell_gate_order(rnnck_cell_from_name(cell))[k];
        cr_assert_eq(rnnck_cell_gates(rnnck_cell_from_name(cell)), gates);
        rnnck_tensor *v;
        cr_assert_eq(rnnck_model_gate(m, 0, kind, 0, 0, gate, &v), RNNCK_OK, "%s", rnnck_errmsg());
        cr_expect_eq(rnnck_tensor_dim(v, 0), rows);
        if (rnnck_tensor_ndim(v) == 2) cr_expect_eq(rnnck_tensor_dim(v, 1), cols);
        int64_t n = rnnck_tensor_numel(v);
        cr_assert_eq(n, rows * cols);
        double *vals = malloc((size_t)n * sizeof *vals);
        cr_assert(vals);
        cr_assert_eq(rnnck_tensor_copy_out(v, RNNCK_F64, vals, (size_t)n * sizeof *vals), RNNCK_OK);
        double total = 0;
        for (int64_t e = 0; e < n; e++) total += vals[e];
        cr_expect_eq((long long)vals[0], first, "%s %s gate '%c': first %g, torch %lld", cell, pname, gate, vals[0],
                     first);
        cr_expect_eq((long long)vals[n - 1], last, "%s %s gate '%c': last %g, torch %lld", cell, pname, gate,
                     vals[n - 1], last);
        cr_expect_eq((long long)total, sum, "%s %s gate '%c': sum", cell, pname, gate);
        free(vals);
        rnnck_tensor_free(v);
        rnnck_model_free(m);
        checked++;
    }
    cr_expect_eq(checked, 3 * 4 + 3 * 3 + 3 * 1);
    free_fixture(&fx);
}

Test(layout, lstm_forget_view_is_torch_chunk_1_of_weight_ih_l0) {
    /* The brief's case spelled out: rnnck's 'f' block is torch's chunk(4)[1]. */
    fixture fx = load_fixture();
    long long first = -1, last = -1;
    for (size_t i = 0; i < fx.nlines; i++)
        if (sscanf(fx.lines[i], "chunk LSTM 10 8 weight_ih_l0 4 1 8 10 %lld %lld", &first, &last) == 2) break;
    cr_assert(first == 80 && last == 159, "torch chunk(4)[1] of an arange (32, 10): %lld..%lld", first, last);
    torch_module tm = {.cell = "LSTM", .input = 10, .hidden = 8, .layers = 1, .bias = 1};
    rnnck_model *m = model_of(&tm);
    rnnck_tensor *p, *f;
    cr_assert_eq(rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, &p), RNNCK_OK);
    float *data = rnnck_tensor_data(p);
    for (int e = 0; e < 320; e++) data[e] = (float)e;
    cr_assert_eq(rnnck_model_gate(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, 'f', &f), RNNCK_OK);
    float vals[80];
    cr_assert_eq(rnnck_tensor_copy_out(f, RNNCK_F32, vals, sizeof vals), RNNCK_OK);
    cr_expect_eq((long long)vals[0], first);
    cr_expect_eq((long long)vals[79], last);
    rnnck_tensor_free(f);
    rnnck_model_free(m);
    free_fixture(&fx);
}
