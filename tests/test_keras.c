/* Keras import (formats/keras): the fixtures of fixtures/keras (laid out as
 * Keras 2 / tf.keras / Keras 3 write them, by make_keras_fixtures.py) read
 * with the contract's names and shapes, every weight bit-exact against what
 * the script wrote after the documented transform, the forward pass matches
 * the TF.js (or NumPy-Keras) goldens, and malformed files are refused with
 * exit 3 naming file, layer and field. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "h5/h5_tree.h" /* rnnck__h5_helper_starts, the tree reader's budget */
#include "helpers/testutil.h"
#include "rnnck.h"

#define ATOL 2e-5
#define RTOL 2e-4

typedef struct kcase {
    char file[128], fixture[128], module[128], cls[32], golden[16], bias[16], reset[16], rec_act[32], act[32];
    int I, H, dirs;
} kcase;

static int read_cases(kcase *c, int max) {
    char *path = fixture_path("keras/expect/cases.txt");
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    free(path);
    char line[1024];
    int n = 0;
    while (n < max && fgets(line, sizeof line, fp)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        kcase *k = &c[n];
        int got = sscanf(line, "%127s %127s %127s %31s %15s %d %d %d %15s %15s %31s %31s", k->file, k->fixture,
                         k->module, k->cls, k->golden, &k->I, &k->H, &k->dirs, k->bias, k->reset, k->rec_act, k->act);
        cr_assert_eq(got, 12, "bad line in cases.txt: %s", line);
        n++;
    }
    fclose(fp);
    return n;
}

static rnnck_model *open_keras(const char *file) {
    char rel[300];
    snprintf(rel, sizeof rel, "keras/%s", file);
    char *path = fixture_path(rel);
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, NULL, &m);
    cr_assert_eq(st, RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
    return m;
}

static rnnck_tensor *expect_npy(const kcase *k, const char *what) {
    char rel[400];
    snprintf(rel, sizeof rel, "keras/expect/%s.%s.%s.npy", k->fixture, k->module, what);
    char *path = fixture_path(rel);
    rnnck_tensor *t = NULL;
    cr_assert_eq(rnnck_npy_load(path, &t), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
    return t;
}

static size_t module_of(rnnck_model *m, const char *name) {
    size_t idx;
    cr_assert_eq(rnnck_model_find_module(m, name, &idx), RNNCK_OK, "no module '%s': %s", name, rnnck_errmsg());
    return idx;
}

static kcase cases[32];
static int ncases;

static void load_cases(void) { ncases = read_cases(cases, 32); }

Test(keras, every_fixture_reads_with_the_layer_names_and_pytorch_shapes, .init = load_cases) {
    cr_assert_geq(ncases, 10);
    for (int i = 0; i < ncases; i++) {
        const kcase *k = &cases[i];
        rnnck_model *m = open_keras(k->file);
        const rnnck_module_info *info = rnnck_model_module(m, module_of(m, k->module));
        rnnck_cell cell = strstr(k->cls, "LSTM") ? RNNCK_CELL_LSTM
                          : strstr(k->cls, "GRU") ? RNNCK_CELL_GRU
                          : !strcmp(k->act, "relu") ? RNNCK_CELL_RNN_RELU : RNNCK_CELL_RNN_TANH;
        cr_expect_eq(info->cell, cell, "%s %s: cell", k->file, k->module);
        cr_expect_eq(info->input_size, k->I, "%s %s", k->file, k->module);
        cr_expect_eq(info->hidden_size, k->H, "%s %s", k->file, k->module);
        cr_expect_eq(info->num_layers, 1);
        cr_expect_eq(info->bidirectional, k->dirs == 2, "%s %s", k->file, k->module);
        cr_expect_eq(info->batch_first, 1, "Keras layers are batch-major");
        cr_expect_eq(info->bias, 1);
        int G = rnnck_cell_gates(cell);
        for (int d = 0; d < k->dirs; d++) {
            char name[300];
            snprintf(name, sizeof name, "%s.weight_ih_l0%s", k->module, d ? "_reverse" : "");
            rnnck_tensor *t = NULL;
            cr_assert_eq(rnnck_model_find(m, name, &t), RNNCK_OK, "%s: no %s", k->file, name);
            cr_expect_eq(rnnck_tensor_dim(t, 0), G * k->H);
            cr_expect_eq(rnnck_tensor_dim(t, 1), k->I);
            snprintf(name, sizeof name, "%s.bias_hh_l0%s", k->module, d ? "_reverse" : "");
            cr_expect_eq(rnnck_model_find(m, name, &t), RNNCK_OK, "%s: no %s", k->file, name);
        }
        /* Semantics: reset placement and the gate activation of the version. */
        if (cell == RNNCK_CELL_GRU)
            cr_expect_eq(info->linear_before_reset, strcmp(k->reset, "after") == 0, "%s %s: reset", k->file,
                         k->module);
        if (!strcmp(k->rec_act, "hard_sigmoid") && cell != RNNCK_CELL_RNN_TANH) {
            bool k3 = strstr(k->file, "k3") == k->file;
            for (int d = 0; d < 2; d++) {
                cr_expect_eq(info->act[d][0].kind, RNNCK_ACT_HARD_SIGMOID);
                cr_expect_eq(info->act[d][0].alpha, k3 ? 1.0 / 6.0 : 0.2, "%s: Keras %d hard_sigmoid slope",
                             k->file, k3 ? 3 : 2);
                cr_expect_eq(info->act[d][0].beta, 0.5);
            }
        } else {
            cr_expect(rnnck_module_info_is_pytorch(info) || cell == RNNCK_CELL_GRU, "%s %s", k->file, k->module);
        }
        rnnck_model_free(m);
    }
}

/* PyTorch gate block g of a Keras kernel: LSTM i,f,c,o = i,f,g,o; GRU z,r,h
 * -> r,z,n takes Keras block 1, 0, 2. */
static int keras_block(const char *cls, int g) {
    if (strstr(cls, "GRU")) return g == 0 ? 1 : g == 1 ? 0 : 2;
    return g;
}

/* dst (G*H, in) must be src (in, G*H) transposed, blocks moved. */
static void expect_weight(const kcase *k, rnnck_tensor *dst, rnnck_tensor *src, const char *what) {
    int G = rnnck_tensor_dim(dst, 0) / k->H, in = (int)rnnck_tensor_dim(dst, 1);
    cr_assert_eq(rnnck_tensor_dim(src, 0), in);
    cr_assert_eq(rnnck_tensor_dim(src, 1), G * k->H);
    const float *d = rnnck_tensor_data(dst), *s = rnnck_tensor_data(src);
    int bad = 0;
    for (int g = 0; g < G; g++)
        for (int h = 0; h < k->H; h++)
            for (int i = 0; i < in; i++) {
                float want = s[i * G * k->H + keras_block(k->cls, g) * k->H + h];
                bad += memcmp(&want, &d[(g * k->H + h) * in + i], sizeof want) != 0;
            }
    cr_expect_eq(bad, 0, "%s %s %s: %d elements differ", k->file, k->module, what, bad);
}

static void expect_bias(const kcase *k, rnnck_tensor *dst, const float *src, float scale, const char *what) {
    int G = rnnck_tensor_dim(dst, 0) / k->H, bad = 0;
    const float *d = rnnck_tensor_data(dst);
    for (int g = 0; g < G; g++)
        for (int h = 0; h < k->H; h++) {
            float want = src ? src[keras_block(k->cls, g) * k->H + h] * scale : 0.0f;
            bad += memcmp(&want, &d[g * k->H + h], sizeof want) != 0;
        }
    cr_expect_eq(bad, 0, "%s %s %s: %d elements differ", k->file, k->module, what, bad);
}

Test(keras, weights_are_bit_exact_after_transpose_and_gate_reorder, .init = load_cases) {
    for (int i = 0; i < ncases; i++) {
        const kcase *k = &cases[i];
        rnnck_model *m = open_keras(k->file);
        size_t mod = module_of(m, k->module);
        for (int d = 0; d < k->dirs; d++) {
            char w[32];
            rnnck_tensor *p, *src;
            snprintf(w, sizeof w, "w%d_0", d);
            src = expect_npy(k, w);
            cr_assert_eq(rnnck_model_param(m, mod, RNNCK_PARAM_WEIGHT_IH, 0, d, &p), RNNCK_OK);
            expect_weight(k, p, src, "weight_ih");
            rnnck_tensor_free(src);
            snprintf(w, sizeof w, "w%d_1", d);
            src = expect_npy(k, w);
            cr_assert_eq(rnnck_model_param(m, mod, RNNCK_PARAM_WEIGHT_HH, 0, d, &p), RNNCK_OK);
            expect_weight(k, p, src, "weight_hh");
            rnnck_tensor_free(src);
            snprintf(w, sizeof w, "w%d_2", d);
            src = expect_npy(k, w);
            const float *b = rnnck_tensor_data(src);
            bool two = rnnck_tensor_ndim(src) == 2;
            /* CuDNNLSTM's file holds Keras's conversion of this bias: half
             * of it on each side (exact). */
            bool halves = !strcmp(k->cls, "CuDNNLSTM");
            cr_assert_eq(rnnck_model_param(m, mod, RNNCK_PARAM_BIAS_IH, 0, d, &p), RNNCK_OK);
            expect_bias(k, p, b, halves ? 0.5f : 1.0f, "bias_ih");
            /* One Keras bias: bias_hh is zero (exact); GRU reset_after: row 1. */
            cr_assert_eq(rnnck_model_param(m, mod, RNNCK_PARAM_BIAS_HH, 0, d, &p), RNNCK_OK);
            expect_bias(k, p, halves ? b : two ? b + rnnck_tensor_dim(src, 1) : NULL, halves ? 0.5f : 1.0f, "bias_hh");
            rnnck_tensor_free(src);
        }
        rnnck_model_free(m);
    }
}

static void max_err(const rnnck_tensor *got, const rnnck_tensor *want, double *max_abs, int *fails) {
    cr_assert_eq(rnnck_tensor_numel(got), rnnck_tensor_numel(want));
    const float *a = rnnck_tensor_cdata(got), *e = rnnck_tensor_cdata(want);
    for (int64_t i = 0; i < rnnck_tensor_numel(want); i++) {
        double d = fabs((double)a[i] - (double)e[i]);
        if (d > *max_abs) *max_abs = d;
        if (!(d <= ATOL + RTOL * fabs((double)e[i]))) (*fails)++;
    }
}

Test(keras, forward_pass_matches_the_tfjs_and_keras_equation_goldens, .init = load_cases) {
    double worst = 0;
    for (int i = 0; i < ncases; i++) {
        const kcase *k = &cases[i];
        rnnck_model *m = open_keras(k->file);
        rnnck_tensor *x = expect_npy(k, "input"), *y = expect_npy(k, "output"), *out = NULL, *hn = NULL, *cn = NULL;
        cr_assert_eq(rnnck_tensor_dim(x, 2), k->I);
        rnnck_status st = rnnck_forward(m, module_of(m, k->module), x, NULL, NULL, NULL, NULL, &out, &hn, &cn);
        cr_assert_eq(st, RNNCK_OK, "%s %s: %s", k->file, k->module, rnnck_errmsg());
        double max_abs = 0;
        int fails = 0;
        max_err(out, y, &max_abs, &fails);
        cr_expect_eq(fails, 0, "%s %s (%s golden): %d outputs beyond %g + %g*|y|, max |err| %.3g", k->file, k->module,
                     k->golden, fails, ATOL, RTOL, max_abs);
        cr_log_info("%s %s (%s): max |err| %.3g", k->file, k->module, k->golden, max_abs);
        if (max_abs > worst) worst = max_abs;
        rnnck_tensor_free(out);
        rnnck_tensor_free(hn);
        rnnck_tensor_free(cn);
        rnnck_tensor_free(x);
        rnnck_tensor_free(y);
        rnnck_model_free(m);
    }
    cr_expect_lt(worst, ATOL);
}

static rnnck_tensor *fixture_npy(const char *rel) {
    char *path = fixture_path(rel);
    rnnck_tensor *t = NULL;
    cr_assert_eq(rnnck_npy_load(path, &t), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
    return t;
}

Test(keras, dense_becomes_a_linear_weight_and_embedding_keeps_its_table) {
    rnnck_model *m = open_keras("tfk2_lstm_dense.h5");
    rnnck_tensor *k = fixture_npy("keras/expect/tfk2_lstm_dense.dense.kernel.npy");
    rnnck_tensor *b = fixture_npy("keras/expect/tfk2_lstm_dense.dense.bias.npy"), *w = NULL, *wb = NULL;
    cr_assert_eq(rnnck_model_find(m, "dense.weight", &w), RNNCK_OK);
    cr_assert_eq(rnnck_model_find(m, "dense.bias", &wb), RNNCK_OK);
    int64_t I = rnnck_tensor_dim(k, 0), O = rnnck_tensor_dim(k, 1);
    cr_assert_eq(rnnck_tensor_dim(w, 0), O);
    cr_assert_eq(rnnck_tensor_dim(w, 1), I);
    const float *kd = rnnck_tensor_data(k), *wd = rnnck_tensor_data(w);
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++) cr_expect_eq(memcmp(&wd[o * I + i], &kd[i * O + o], 4), 0);
    cr_expect_eq(memcmp(rnnck_tensor_data(wb), rnnck_tensor_data(b), rnnck_tensor_nbytes(b)), 0);
    cr_expect_eq(rnnck_model_tensor_count(m), 6, "lstm (4) + dense (2); optimizer state ignored");
    rnnck_tensor_free(k);
    rnnck_tensor_free(b);
    rnnck_model_free(m);
    m = open_keras("tfk2_weights_gru.h5");
    rnnck_tensor *e = fixture_npy("keras/expect/tfk2_weights_gru.embedding.embeddings.npy"), *we = NULL;
    cr_assert_eq(rnnck_model_find(m, "embedding.weight", &we), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_tensor_nbytes(we), rnnck_tensor_nbytes(e));
    cr_expect_eq(memcmp(rnnck_tensor_data(we), rnnck_tensor_data(e), rnnck_tensor_nbytes(e)), 0);
    rnnck_tensor_free(e);
    rnnck_model_free(m);
}

Test(keras, keras_hdf5_is_detected_by_content_and_rnnck_files_stay_rnnck) {
    const char *files[] = {"keras/tfk2_lstm_dense.h5", "keras/tfk2_weights_gru.h5", "keras/k3_model.weights.h5",
                           "keras/k3_gru_hard_sigmoid.keras", "schema/example_lstm.h5"};
    const char *want[] = {"keras", "keras", "keras", "keras", "rnnck"};
    for (size_t i = 0; i < 5; i++) {
        char *p = fixture_path(files[i]);
        const char *fmt = NULL;
        cr_assert_eq(rnnck_detect_format(p, &fmt), RNNCK_OK, "%s: %s", p, rnnck_errmsg());
        cr_expect_str_eq(fmt, want[i], "%s", files[i]);
        free(p);
    }
}

Test(keras, trusted_open_reads_the_same_model_without_the_helper) {
    char *p = fixture_path("keras/tfk2_bilstm_stack.h5");
    rnnck_open_opts opts = {0};
    opts.flags = RNNCK_OPEN_TRUSTED;
    rnnck_model *a = NULL, *b = NULL;
    cr_assert_eq(rnnck_open(p, &opts, &a), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_open(p, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b));
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *x = rnnck_model_tensor(a, i), *y = rnnck_model_tensor(b, i);
        cr_expect_str_eq(rnnck_tensor_name(x), rnnck_tensor_name(y));
        cr_expect_eq(memcmp(rnnck_tensor_data(x), rnnck_tensor_data(y), rnnck_tensor_nbytes(x)), 0);
    }
    rnnck_model_free(a);
    rnnck_model_free(b);
    free(p);
}

Test(keras, convert_to_pytorch_keeps_names_and_bits_and_refuses_keras_only_maths, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *in = fixture_path("keras/tfk2_bilstm_stack.h5"), *out = path_join(test_dir, "x.pt");
    tool_result r = run_tool("convert", in, out, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    rnnck_model *a = open_keras("tfk2_bilstm_stack.h5"), *b = NULL;
    cr_assert_eq(rnnck_open(out, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(b), RNNCK_OK);
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b));
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *x = rnnck_model_tensor(a, i), *y = NULL;
        cr_assert_eq(rnnck_model_find(b, rnnck_tensor_name(x), &y), RNNCK_OK, "%s", rnnck_tensor_name(x));
        cr_expect_eq(memcmp(rnnck_tensor_data(x), rnnck_tensor_data(y), rnnck_tensor_nbytes(x)), 0);
    }
    rnnck_model_free(a);
    rnnck_model_free(b);
    free(in);
    /* hard_sigmoid and reset-before GRUs: PyTorch cannot run them. */
    const char *refused[] = {"keras/k21_gru_hard_sigmoid.h5", "keras/k3_gru_hard_sigmoid.keras"};
    for (int i = 0; i < 2; i++) {
        in = fixture_path(refused[i]);
        r = run_tool("convert", in, out, "--to", "pytorch", NULL);
        cr_expect_eq(r.exit_code, 3, "%s: %s", refused[i], r.err);
        cr_expect(strstr(r.err, "gru") != NULL, "names the layer: %s", r.err);
        tool_result_free(&r);
        free(in);
    }
    free(out);
}

Test(keras, converted_rnnck_file_runs_like_the_keras_file, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *in = fixture_path("keras/tfk1_gru_bi.h5"), *out = path_join(test_dir, "x.h5");
    tool_result r = run_tool("convert", in, out, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("validate", in, out, NULL);
    cr_expect_eq(r.exit_code, 0, "keras vs its rnnck copy: %s %s", r.out, r.err);
    tool_result_free(&r);
    free(in);
    free(out);
}

/* ---------------------------------------------------------- malformed files */

Test(keras, malformed_keras_files_are_refused_naming_file_layer_and_field) {
    char *path = fixture_path("keras/bad/EXPECT.txt");
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    free(path);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#') continue;
        char file[256], status[32], needles[700];
        if (sscanf(line, "%255s %31s %699s", file, status, needles) != 3) continue;
        char rel[300];
        snprintf(rel, sizeof rel, "keras/bad/%s", file);
        char *p = fixture_path(rel);
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_open(p, NULL, &m);
        rnnck_status want = !strcmp(status, "unsupported") ? RNNCK_E_UNSUPPORTED : RNNCK_E_FORMAT;
        cr_expect_eq(st, want, "%s: status %d (%s), expected %s", file, st, rnnck_errmsg(), status);
        const char *msg = rnnck_errmsg();
        cr_expect(strstr(msg, file) != NULL, "%s: message does not name the file: %s", file, msg);
        for (char *w = strtok(needles, "|"); w; w = strtok(NULL, "|"))
            cr_expect(strstr(msg, w) != NULL, "%s: message lacks '%s': %s", file, w, msg);
        rnnck_model_free(m);
        tool_result r = run_tool("inspect", p, NULL);
        cr_expect_eq(r.exit_code, 3, "%s: rnnck inspect exit %d", file, r.exit_code);
        cr_expect_eq(count_lines(r.err), 1, "%s: one line: %s", file, r.err);
        tool_result_free(&r);
        free(p);
        n++;
    }
    fclose(fp);
    cr_expect_geq(n, 30, "at least 30 malformed Keras files (%d)", n);
}

Test(keras, truncated_and_damaged_keras_files_fail_cleanly, .init = test_dir_setup, .fini = test_dir_teardown) {
    char *p = fixture_path("keras/tfk2_lstm_dense.h5");
    size_t len;
    unsigned char *good = read_file(p, &len);
    cr_assert(good && len > 4096);
    for (int i = 0; i < 12; i++) {
        size_t n = i < 4 ? len * (size_t)(i + 1) / 5 : len;
        unsigned char *bad = malloc(len);
        memcpy(bad, good, len);
        if (i >= 4)
            for (int k = 0; k < 24; k++) bad[(200 + (size_t)i * 517 + (size_t)k * 131) % len] ^= (unsigned char)(0x33 + k);
        char name[32];
        snprintf(name, sizeof name, "bad%d.h5", i);
        char *q = path_join(test_dir, name);
        cr_assert_eq(write_file(q, bad, n), 0);
        rnnck_open_opts opts = {0};
        opts.format = "keras";
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_open(q, &opts, &m);
        if (st == RNNCK_OK) {
            /* damage in data bytes can leave a readable file: it must run */
            rnnck_model_free(m);
        } else {
            cr_expect(st == RNNCK_E_FORMAT || st == RNNCK_E_UNSUPPORTED, "%s: status %d: %s", name, st,
                      rnnck_errmsg());
            cr_expect(strstr(rnnck_errmsg(), name) != NULL, "%s: %s", name, rnnck_errmsg());
        }
        free(q);
        free(bad);
    }
    free(good);
    free(p);
}

/* ---------------------------------------------------------- --to keras */

static void same_models_bitwise(rnnck_model *a, rnnck_model *b, const char *what) {
    cr_assert_eq(rnnck_model_load_all(a), RNNCK_OK);
    cr_assert_eq(rnnck_model_load_all(b), RNNCK_OK);
    cr_expect_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b), "%s", what);
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *x = rnnck_model_tensor(a, i), *y = NULL;
        cr_assert_eq(rnnck_model_find(b, rnnck_tensor_name(x), &y), RNNCK_OK, "%s: %s missing", what,
                     rnnck_tensor_name(x));
        cr_assert_eq(rnnck_tensor_nbytes(x), rnnck_tensor_nbytes(y));
        cr_expect_eq(memcmp(rnnck_tensor_data(x), rnnck_tensor_data(y), rnnck_tensor_nbytes(x)), 0, "%s: %s differs",
                     what, rnnck_tensor_name(x));
    }
    cr_expect_eq(rnnck_model_module_count(a), rnnck_model_module_count(b));
    for (size_t i = 0; i < rnnck_model_module_count(a); i++) {
        const rnnck_module_info *x = rnnck_model_module(a, i);
        size_t j;
        cr_assert_eq(rnnck_model_find_module(b, x->name, &j), RNNCK_OK, "%s: module %s", what, x->name);
        const rnnck_module_info *y = rnnck_model_module(b, j);
        cr_expect_eq(x->cell, y->cell);
        cr_expect_eq(x->linear_before_reset, y->linear_before_reset, "%s: %s reset placement", what, x->name);
        cr_expect_eq(x->bidirectional, y->bidirectional);
    }
}

Test(keras, keras_to_rnnck_to_keras_keeps_every_weight_bit_for_bit, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    const char *files[] = {"tfk2_lstm_dense.h5", "tfk2_bilstm_stack.h5", "tfk2_nested.h5", "k3_model.weights.h5"};
    for (size_t i = 0; i < 4; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "keras/%s", files[i]);
        char *in = fixture_path(rel), *mid = path_join(test_dir, "mid.h5"), *out = path_join(test_dir, "out.h5");
        tool_result r = run_tool("convert", in, mid, NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", files[i], r.err);
        tool_result_free(&r);
        r = run_tool("convert", mid, out, "--to", "keras", NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", files[i], r.err);
        tool_result_free(&r);
        const char *fmt = NULL;
        cr_assert_eq(rnnck_detect_format(out, &fmt), RNNCK_OK);
        cr_expect_str_eq(fmt, "keras");
        rnnck_model *a = open_keras(files[i]), *b = NULL;
        cr_assert_eq(rnnck_open(out, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
        same_models_bitwise(a, b, files[i]);
        rnnck_model_free(a);
        rnnck_model_free(b);
        free(in);
        free(mid);
        free(out);
    }
}

Test(keras, pytorch_modules_written_for_keras_run_the_same, .init = test_dir_setup, .fini = test_dir_teardown) {
    const char *cells[] = {"lstm", "gru", "rnn_tanh"};
    for (int i = 0; i < 3; i++) {
        char *src = path_join(test_dir, "src.h5"), *out = path_join(test_dir, "k.h5");
        tool_result r = run_tool("init", src, "--cell", cells[i], "--input-size", "5", "--hidden-size", "4",
                                 "--bidirectional", "--seed", "7", NULL);
        cr_assert_eq(r.exit_code, 0, "%s", r.err);
        tool_result_free(&r);
        /* random biases on both sides: the LSTM/RNN sum is then really tested */
        r = run_tool("convert", src, out, "--to", "keras", NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", cells[i], r.err);
        tool_result_free(&r);
        r = run_tool("validate", src, out, "--atol", "1e-5", "--rtol", "1e-4", NULL);
        cr_expect_eq(r.exit_code, 0, "%s: %s %s", cells[i], r.out, r.err);
        tool_result_free(&r);
        free(src);
        free(out);
    }
    /* A stacked module becomes one Keras layer per layer (Keras stacks layers). */
    char *src = path_join(test_dir, "s.h5"), *out = path_join(test_dir, "s_k.h5");
    tool_result r = run_tool("init", src, "--cell", "gru", "--input-size", "5", "--hidden-size", "4", "--num-layers",
                             "2", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", src, out, "--to", "keras", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(out, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t idx;
    cr_expect_eq(rnnck_model_find_module(m, "gru_l0", &idx), RNNCK_OK);
    cr_expect_eq(rnnck_model_find_module(m, "gru_l1", &idx), RNNCK_OK);
    cr_expect_eq(rnnck_model_module(m, idx)->input_size, 4, "layer 1 takes layer 0's output");
    rnnck_model_free(m);
    free(src);
    free(out);
}

Test(keras, maths_a_keras_weights_file_cannot_hold_is_refused_naming_module_and_feature, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *src = path_join(test_dir, "p.h5"), *out = path_join(test_dir, "k.h5");
    tool_result r = run_tool("init", src, "--cell", "lstm", "--input-size", "3", "--hidden-size", "5",
                             "--proj-size", "2", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", src, out, "--to", "keras", NULL);
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "proj_size") && strstr(r.err, "module"), "%s", r.err);
    tool_result_free(&r);
    /* Activations need a model_config, written only for a plain stack:
     * Keras has one `activation` for an LSTM's cell and output. */
    char *hs = fixture_path("onnx/nodes/lstm_hardsigmoid_softsign_elu.onnx");
    r = run_tool("convert", hs, out, "--to", "keras", NULL);
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "HardSigmoid") && strstr(r.err, "model_config") &&
                  strstr(r.err, "cell and output activations differ"),
              "%s", r.err);
    tool_result_free(&r);
    cr_expect_eq(access(out, F_OK), -1, "no output after a refusal");
    free(hs);
    char *emb = fixture_path("keras/tfk2_weights_gru.h5");
    r = run_tool("convert", emb, out, "--to", "keras", NULL);
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "embedding.weight") != NULL, "%s", r.err);
    tool_result_free(&r);
    free(emb);
    free(src);
    free(out);
}

Test(keras, forward_cli_runs_a_keras_layer_by_name_batched_and_unbatched, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *in = fixture_path("keras/tfk2_bilstm_stack.h5"), *x = fixture_path("keras/expect/tfk2_bilstm_stack.bidirectional.input.npy");
    char *out = path_join(test_dir, "y.npy");
    tool_result r = run_tool("forward", in, "--module", "bidirectional", "--input", x, "--output", out, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    rnnck_tensor *y = NULL, *want = fixture_npy("keras/expect/tfk2_bilstm_stack.bidirectional.output.npy");
    cr_assert_eq(rnnck_npy_load(out, &y), RNNCK_OK);
    double max_abs = 0;
    int fails = 0;
    max_err(y, want, &max_abs, &fails);
    cr_expect_eq(fails, 0, "CLI forward: max |err| %g", max_abs);
    rnnck_tensor_free(y);
    /* Unbatched (T, I): the first sequence alone gives the first row of the golden. */
    rnnck_model *m = open_keras("tfk2_bilstm_stack.h5");
    rnnck_tensor *xb = fixture_npy("keras/expect/tfk2_bilstm_stack.bidirectional.input.npy"), *x1 = NULL, *y1 = NULL,
                 *hn = NULL;
    int64_t T = rnnck_tensor_dim(xb, 1), I = rnnck_tensor_dim(xb, 2), O = rnnck_tensor_dim(want, 2);
    int64_t shape[2] = {T, I};
    cr_assert_eq(rnnck_tensor_from_data(RNNCK_F32, 2, shape, rnnck_tensor_data(xb), (size_t)(T * I) * 4, &x1),
                 RNNCK_OK);
    cr_assert_eq(rnnck_forward(m, module_of(m, "bidirectional"), x1, NULL, NULL, NULL, NULL, &y1, &hn, NULL),
                 RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_tensor_ndim(y1), 2);
    const float *a = rnnck_tensor_data(y1), *e = rnnck_tensor_data(want);
    for (int64_t i = 0; i < T * O; i++)
        cr_expect(fabs((double)a[i] - e[i]) <= ATOL + RTOL * fabs((double)e[i]), "unbatched element %lld",
                  (long long)i);
    rnnck_tensor_free(x1);
    rnnck_tensor_free(y1);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(xb);
    rnnck_tensor_free(want);
    rnnck_model_free(m);
    free(in);
    free(x);
    free(out);
}

/* ---- many datasets, one helper session ---- */

static void fixed_strings_attr(hid_t obj, const char *name, char (*vals)[64], size_t n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 64);
    hsize_t dims = n;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(a, 0);
    cr_assert_geq(H5Awrite(a, t, vals), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

/* A tf.keras save_weights file of n Dense layers d0..d{n-1} (2n datasets):
 * layer i's 1x1 kernel holds i + 0.5 and its bias -i - 0.25, so a dataset
 * read into the wrong tensor shows. */
static void write_dense_layers(const char *path, size_t n) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    char (*names)[64] = calloc(n, sizeof *names);
    cr_assert(names);
    for (size_t i = 0; i < n; i++) snprintf(names[i], sizeof names[i], "d%zu", i);
    fixed_strings_attr(f, "layer_names", names, n);
    char version[1][64] = {"2.9.0"};
    fixed_strings_attr(f, "keras_version", version, 1);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    for (size_t i = 0; i < n; i++) {
        hid_t g = H5Gcreate2(f, names[i], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        char wn[2][64];
        snprintf(wn[0], sizeof wn[0], "%s/kernel:0", names[i]);
        snprintf(wn[1], sizeof wn[1], "%s/bias:0", names[i]);
        fixed_strings_attr(g, "weight_names", wn, 2);
        hsize_t kd[2] = {1, 1}, bd[1] = {1};
        hid_t ks = H5Screate_simple(2, kd, NULL), bs = H5Screate_simple(1, bd, NULL);
        hid_t k = H5Dcreate2(g, wn[0], H5T_IEEE_F32LE, ks, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        hid_t b = H5Dcreate2(g, wn[1], H5T_IEEE_F32LE, bs, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        cr_assert(k >= 0 && b >= 0);
        float kv = (float)i + 0.5f, bv = -(float)i - 0.25f;
        H5Dwrite(k, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &kv);
        H5Dwrite(b, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &bv);
        H5Dclose(k);
        H5Dclose(b);
        H5Sclose(ks);
        H5Sclose(bs);
        H5Gclose(g);
    }
    H5Pclose(lcpl);
    free(names);
    cr_assert_geq(H5Fclose(f), 0);
}

/* Opens an n-layer file; returns the helper processes the open started,
 * after checking every weight landed in its own tensor. */
static unsigned long long helpers_to_open(size_t n) {
    char *path = path_join(test_dir, "dense.h5");
    write_dense_layers(path, n);
    unsigned long long before = rnnck__h5_helper_starts();
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    unsigned long long started = rnnck__h5_helper_starts() - before;
    cr_assert_eq(rnnck_model_tensor_count(m), 2 * n);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        rnnck_tensor *w = NULL, *b = NULL;
        snprintf(name, sizeof name, "d%zu.kernel", i); /* no model_config: names kept */
        cr_assert_eq(rnnck_model_find(m, name, &w), RNNCK_OK, "%s", name);
        snprintf(name, sizeof name, "d%zu.bias", i);
        cr_assert_eq(rnnck_model_find(m, name, &b), RNNCK_OK, "%s", name);
        cr_expect_eq(*(const float *)rnnck_tensor_data(w), (float)i + 0.5f, "layer %zu kernel", i);
        cr_expect_eq(*(const float *)rnnck_tensor_data(b), -(float)i - 0.25f, "layer %zu bias", i);
    }
    rnnck_model_free(m);
    free(path);
    return started;
}

Test(keras, many_datasets_are_read_by_a_constant_number_of_helper_processes, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    unsigned long long few = helpers_to_open(2), many = helpers_to_open(300);
    /* detection's probe, the walk, one session for the 4 or 600 reads */
    cr_expect_eq(few, 3, "2 layers: %llu helper starts", few);
    cr_expect_eq(many, few, "300 layers (600 datasets): %llu helper starts, 2 layers: %llu", many, few);
}

Test(keras, an_untrusted_tree_reads_no_more_bytes_than_its_datasets_hold, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *path = path_join(test_dir, "dense.h5");
    write_dense_layers(path, 2);
    rnnck__h5_tree *t = NULL;
    cr_assert_eq(rnnck__h5_tree_load(path, NULL, false, &t), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck__h5t_node *k = rnnck__h5t_find(rnnck__h5_tree_root(t), "d1/d1/kernel:0");
    const rnnck__h5t_node *b = rnnck__h5t_find(rnnck__h5_tree_root(t), "d0/d0/bias:0");
    cr_assert(k && b);
    float v = 0;
    cr_assert_eq(rnnck__h5_tree_read(t, k, &v, 4), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(v, 1.5f);
    /* the file holds 16 bytes of data: 12 more are allowed, then no more */
    cr_assert_eq(rnnck__h5_tree_read(t, k, &v, 4), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck__h5_tree_read(t, b, &v, 4), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(v, -0.25f);
    cr_assert_eq(rnnck__h5_tree_read(t, k, &v, 4), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_tree_read(t, k, &v, 4), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "16 bytes the file's datasets hold"), "%s", rnnck_errmsg());
    cr_expect(strstr(rnnck_errmsg(), "dense.h5"), "%s", rnnck_errmsg());
    rnnck__h5_tree_free(t);
    /* a tensor limit below a dataset's size: the walk refuses it, and a
     * read of it is refused in this process */
    rnnck_limits lim;
    rnnck_limits_init(&lim);
    lim.max_tensor_bytes = 2;
    cr_assert_eq(rnnck__h5_tree_load(path, &lim, false, &t), RNNCK_OK, "%s", rnnck_errmsg());
    k = rnnck__h5t_find(rnnck__h5_tree_root(t), "d1/d1/kernel:0");
    cr_assert(k);
    cr_expect_neq(rnnck__h5_tree_read(t, k, &v, 4), RNNCK_OK);
    rnnck__h5_tree_free(t);
    free(path);
}

/* ------------------------------------------------------------ schema 1.1 */

/* A time-major (T, B, W) array as batch-major (B, T, W), float32. */
static rnnck_tensor *batch_major(const rnnck_tensor *t) {
    int64_t T = rnnck_tensor_dim(t, 0), B = rnnck_tensor_dim(t, 1), W = rnnck_tensor_dim(t, 2);
    int64_t s[3] = {B, T, W};
    rnnck_tensor *o;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, s, &o), RNNCK_OK);
    double *src = malloc(sizeof(double) * (size_t)(T * B * W));
    cr_assert_eq(rnnck_tensor_copy_out(t, RNNCK_F64, src, sizeof(double) * (size_t)(T * B * W)), RNNCK_OK);
    float *d = rnnck_tensor_data(o);
    for (int64_t i = 0; i < T; i++)
        for (int64_t b = 0; b < B; b++)
            for (int64_t k = 0; k < W; k++) d[(b * T + i) * W + k] = (float)src[(i * B + b) * W + k];
    free(src);
    return o;
}

static rnnck_tensor *golden(const char *kcase, const char *what) {
    char rel[300];
    snprintf(rel, sizeof rel, "forward/keras11/%s/%s.npy", kcase, what);
    return fixture_npy(rel);
}

/* fixtures/keras/v11/<case>.h5 hold tf.keras 2 models of one go_backwards
 * layer or one Bidirectional with a merge mode, with the weights of the TF.js
 * goldens of fixtures/forward/keras11/<case>: read, they must say what the
 * config says and run (batch-major, as Keras does) to TF.js's output. */
Test(keras, go_backwards_and_merge_modes_read_as_schema_1_1_and_run_to_tfjs_outputs) {
    char *list = fixture_path("forward/keras11/cases.txt");
    FILE *fp = fopen(list, "r");
    cr_assert(fp, "%s", list);
    free(list);
    char name[128];
    int n = 0, merges_seen = 0, backwards_seen = 0;
    double worst = 0;
    while (fscanf(fp, "%127s", name) == 1) {
        char file[200];
        snprintf(file, sizeof file, "v11/%s.h5", name);
        rnnck_model *m = open_keras(file);
        size_t mi = module_of(m, "rnn");
        const rnnck_module_info *info = rnnck_model_module(m, mi);
        bool back = strstr(name, "go_backwards") != NULL;
        cr_expect_eq(info->reverse, back, "%s: reverse", name);
        cr_expect_eq(info->output_reversed, back, "%s: Keras returns the processing order", name);
        rnnck_merge_mode want = RNNCK_MERGE_CONCAT;
        const char *mm = strstr(name, "merge_");
        if (mm) {
            char word[16] = "";
            sscanf(mm + 6, "%15[a-z]", word);
            want = rnnck_merge_mode_from_name(word);
            merges_seen++;
        }
        backwards_seen += back;
        cr_expect_eq(info->merge_mode, want, "%s: merge_mode %s", name, rnnck_merge_mode_name(info->merge_mode));
        rnnck_tensor *xt = golden(name, "input"), *yt = golden(name, "expected_output");
        rnnck_tensor *x = batch_major(xt), *y = batch_major(yt), *out = NULL, *hn = NULL, *cn = NULL;
        cr_assert_eq(rnnck_forward(m, mi, x, NULL, NULL, NULL, NULL, &out, &hn, &cn), RNNCK_OK, "%s: %s", name,
                     rnnck_errmsg());
        double max_abs = 0;
        int fails = 0;
        max_err(out, y, &max_abs, &fails);
        cr_expect_eq(fails, 0, "%s: %d outputs off, max |err| %.3g", name, fails, max_abs);
        if (max_abs > worst) worst = max_abs;
        rnnck_tensor_free(out);
        rnnck_tensor_free(hn);
        rnnck_tensor_free(cn);
        rnnck_tensor_free(x);
        rnnck_tensor_free(y);
        rnnck_tensor_free(xt);
        rnnck_tensor_free(yt);
        rnnck_model_free(m);
        n++;
    }
    fclose(fp);
    cr_expect_geq(n, 10);
    cr_expect_geq(merges_seen, 5);
    cr_expect_geq(backwards_seen, 3);
    cr_log_info("keras v11 files: %d, max |err| vs TF.js %.3g", n, worst);
}

/* PyTorch has neither a lone backward direction nor merged directions: exit 3
 * naming the layer and the feature; rnnck's own format keeps them (1.1). */
Test(keras, go_backwards_and_merge_modes_are_refused_for_pytorch_and_kept_in_rnnck_files, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    static const char *const cases[][2] = {{"lstm_go_backwards", "go_backwards"},
                                           {"bilstm_merge_sum", "merge_mode sum"},
                                           {"bilstm_merge_none", "merge_mode none"},
                                           {"bigru_merge_sum", "merge_mode sum"}};
    char *pt = path_join(test_dir, "x.pt"), *h5 = path_join(test_dir, "x.h5"), *kk = path_join(test_dir, "k.h5");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "keras/v11/%s.h5", cases[i][0]);
        char *in = fixture_path(rel);
        tool_result r = run_tool("convert", in, pt, "--to", "pytorch", NULL);
        cr_expect_eq(r.exit_code, 3, "%s: exit %d: %s", cases[i][0], r.exit_code, r.err);
        cr_expect(strstr(r.err, "rnn") && strstr(r.err, cases[i][1]), "%s: %s", cases[i][0], r.err);
        cr_expect_eq(access(pt, F_OK), -1, "no output after a refusal");
        tool_result_free(&r);
        /* --to keras: a full model's config holds all but merge_mode none
         * (rnnck writes a Sequential, whose layers have one output). */
        bool none = strstr(cases[i][0], "none") != NULL;
        r = run_tool("convert", in, kk, "--to", "keras", NULL);
        cr_expect_eq(r.exit_code, none ? 3 : 0, "%s: --to keras exit %d: %s", cases[i][0], r.exit_code, r.err);
        if (none) cr_expect(strstr(r.err, "rnn") && strstr(r.err, cases[i][1]), "%s: %s", cases[i][0], r.err);
        tool_result_free(&r);
        r = run_tool("convert", in, h5, NULL);
        cr_expect_eq(r.exit_code, 0, "%s: %s", cases[i][0], r.err);
        tool_result_free(&r);
        r = run_tool("validate", in, h5, NULL);
        cr_expect_eq(r.exit_code, 0, "%s: keras vs its rnnck 1.1 copy: %s %s", cases[i][0], r.out, r.err);
        tool_result_free(&r);
        free(in);
    }
    free(pt);
    free(h5);
    free(kk);
}

/* A plain stack is written as a full model (model_config + /model_weights):
 * go_backwards, merge modes, activations and GRU reset placement read back
 * as they were, every weight bit for bit, the outputs unchanged. TF.js
 * rebuilding these files from their config is the cross-check tier's
 * (tests/crosscheck/check_keras_tfjs.py). */
Test(keras, plain_stacks_are_written_as_full_models_that_keep_their_maths, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    static const char *const cases[] = {"keras/v11/lstm_go_backwards.h5", "keras/v11/bigru_merge_sum.h5",
                                        "keras/v11/bilstm_merge_ave.h5", "keras/v11/bilstm_merge_mul.h5",
                                        "keras/v11/simple_rnn_go_backwards.h5", "keras/k21_gru_hard_sigmoid.h5"};
    char *out = path_join(test_dir, "full.h5");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *in = fixture_path(cases[i]);
        tool_result r = run_tool("convert", in, out, "--to", "keras", NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", cases[i], r.err);
        tool_result_free(&r);
        hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
        cr_assert_geq(f, 0);
        cr_expect_gt(H5Aexists(f, "model_config"), 0, "%s: no model_config", cases[i]);
        cr_expect_gt(H5Lexists(f, "model_weights", H5P_DEFAULT), 0, "%s: no /model_weights", cases[i]);
        H5Fclose(f);
        rnnck_model *a, *b;
        cr_assert_eq(rnnck_open(in, NULL, &a), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_open(out, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_module_count(b), 1);
        const rnnck_module_info *ia = rnnck_model_module(a, 0), *ib = rnnck_model_module(b, 0);
        rnnck_module_info a_as_b = *ia;
        a_as_b.batch_first = ib->batch_first; /* a layout convention, not maths */
        const char *diff = module_info_difference(&a_as_b, ib);
        cr_expect_null(diff, "%s: the module changed in %s", cases[i], diff);
        rnnck_model_free(a);
        rnnck_model_free(b);
        require_same_tensors(in, out);
        r = run_tool("validate", in, out, NULL);
        cr_expect_eq(r.exit_code, 0, "%s: %s", cases[i], r.out);
        tool_result_free(&r);
        free(in);
    }
    /* Not a stack (a Dense layer beside the LSTM): a weights file, as before. */
    char *dense = fixture_path("keras/tfk2_lstm_dense.h5");
    tool_result r = run_tool("convert", dense, out, "--to", "keras", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    cr_expect_eq(H5Aexists(f, "model_config"), 0, "a model with a Dense layer got a model_config");
    cr_expect_gt(H5Aexists(f, "layer_names"), 0);
    H5Fclose(f);
    free(dense);
    free(out);
}

/* Reads dataset `path` of file f as float32 into a malloc'd buffer. */
static float *read_f32(hid_t f, const char *path, size_t *n) {
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    cr_assert_geq(d, 0, "no dataset %s", path);
    hid_t sp = H5Dget_space(d);
    *n = (size_t)H5Sget_simple_extent_npoints(sp);
    float *buf = malloc(*n * sizeof *buf + 1);
    cr_assert(buf);
    cr_assert_geq(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

/* A name ending in .weights.h5 gets Keras 3's saving_lib layout: groups
 * named after the layer class, vars/N under the cell, empty vars groups, no
 * attributes; Keras 3 -> rnnck -> Keras 3 gives back every dataset. */
Test(keras, names_ending_in_weights_h5_get_the_keras3_layout_bit_for_bit, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *in = fixture_path("keras/k3_model.weights.h5"), *out = path_join(test_dir, "model.weights.h5");
    tool_result r = run_tool("convert", in, out, "--to", "keras", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    static const char *const datasets[] = {
        "layers/lstm/cell/vars/0", "layers/lstm/cell/vars/1", "layers/lstm/cell/vars/2",
        "layers/bidirectional/forward_layer/cell/vars/0", "layers/bidirectional/forward_layer/cell/vars/1",
        "layers/bidirectional/forward_layer/cell/vars/2", "layers/bidirectional/backward_layer/cell/vars/0",
        "layers/bidirectional/backward_layer/cell/vars/1", "layers/bidirectional/backward_layer/cell/vars/2",
        "layers/dense/vars/0", "layers/dense/vars/1"};
    static const char *const empty_groups[] = {"vars", "layers/lstm/vars", "layers/bidirectional/vars",
                                               "layers/bidirectional/forward_layer/vars", "layers/dense/vars"};
    hid_t a = H5Fopen(in, H5F_ACC_RDONLY, H5P_DEFAULT), b = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(a >= 0 && b >= 0);
    for (size_t i = 0; i < sizeof datasets / sizeof *datasets; i++) {
        size_t na, nb;
        float *x = read_f32(a, datasets[i], &na), *y = read_f32(b, datasets[i], &nb);
        cr_expect_eq(na, nb, "%s", datasets[i]);
        cr_expect_eq(memcmp(x, y, na * sizeof *x), 0, "%s: values differ", datasets[i]);
        free(x);
        free(y);
    }
    for (size_t i = 0; i < sizeof empty_groups / sizeof *empty_groups; i++)
        cr_expect_gt(H5Lexists(b, empty_groups[i], H5P_DEFAULT), 0, "no group %s", empty_groups[i]);
    H5O_info_t oi;
    cr_assert_geq(H5Oget_info(b, &oi), 0);
    cr_expect_eq(oi.num_attrs, 0, "Keras 3 writes no root attributes");
    H5Fclose(a);
    H5Fclose(b);
    r = run_tool("validate", in, out, NULL);
    cr_expect_eq(r.exit_code, 0, "%s", r.out);
    tool_result_free(&r);
    /* Maths only a layer configuration records is refused there. */
    char *bw = fixture_path("keras/v11/lstm_go_backwards.h5"), *out2 = path_join(test_dir, "bw.weights.h5");
    r = run_tool("convert", bw, out2, "--to", "keras", NULL);
    cr_expect_eq(r.exit_code, 3, "%s", r.err);
    cr_expect(strstr(r.err, "go_backwards") && strstr(r.err, "Keras 3 .weights.h5"), "%s", r.err);
    cr_expect_neq(access(out2, F_OK), 0);
    tool_result_free(&r);
    free(bw);
    free(out2);
    free(in);
    free(out);
}
