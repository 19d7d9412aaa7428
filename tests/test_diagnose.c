/* Diagnosis: every conversion mistake, injected into a copy of a freshly
 * initialised module, makes validate fail and is named correctly; and
 * rnnck diff points at the gate block and direction that differ. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"
#include "rnnck.h"

/* A model with one module, initialised like torch.nn's reset_parameters. */
static rnnck_model *make_model(rnnck_cell cell, int64_t in, int64_t hidden, int64_t layers, int bidir, uint64_t seed) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.name = "rnn";
    info.input_size = in;
    info.hidden_size = hidden;
    info.num_layers = layers;
    info.bidirectional = bidir;
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, seed, 0, 0), RNNCK_OK, "%s", rnnck_errmsg());
    return m;
}

/* Copy of module 0 of src under description info (NULL = the same). */
static rnnck_model *copy_model(rnnck_model *src, const rnnck_module_info *info) {
    rnnck_module_info ni = *rnnck_model_module(src, 0);
    if (info) ni = *info;
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &ni), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(m), rnnck_model_tensor_count(src));
    for (size_t i = 0; i < rnnck_model_tensor_count(src); i++) {
        rnnck_tensor *dst;
        cr_assert_eq(rnnck_model_find(m, rnnck_tensor_name(rnnck_model_tensor(src, i)), &dst), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_assign(dst, rnnck_model_tensor(src, i)), RNNCK_OK, "%s", rnnck_errmsg());
    }
    return m;
}

static rnnck_tensor *param(rnnck_model *m, rnnck_param kind, int64_t layer, int reverse) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_param(m, 0, kind, layer, reverse, &t), RNNCK_OK, "%s", rnnck_errmsg());
    return t;
}

/* Stores the gate blocks of every weight and bias of (layer, reverse) in the
 * order `stored` (letters of the cell's gate order): the mistake of writing
 * another framework's layout without reordering. */
static void store_gates_as(rnnck_model *m, int64_t layer, int reverse, const char *stored) {
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    rnnck_param kinds[] = {RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH, RNNCK_PARAM_BIAS_HH};
    int g = rnnck_cell_gates(info->cell);
    for (int k = 0; k < 4; k++) {
        rnnck_tensor *p = param(m, kinds[k], layer, reverse), *orig;
        cr_assert_eq(rnnck_tensor_clone(p, rnnck_tensor_dtype(p), &orig), RNNCK_OK);
        for (int pos = 0; pos < g; pos++) {
            rnnck_tensor *from, *to;
            cr_assert_eq(rnnck_tensor_block(orig, g, rnnck_cell_gate_index(info->cell, stored[pos]), &from), RNNCK_OK);
            cr_assert_eq(rnnck_tensor_block(p, g, pos, &to), RNNCK_OK);
            cr_assert_eq(rnnck_tensor_assign(to, from), RNNCK_OK);
            rnnck_tensor_free(from);
            rnnck_tensor_free(to);
        }
        rnnck_tensor_free(orig);
    }
}

static void swap_params(rnnck_model *m, rnnck_param kind, int64_t l1, int r1, int64_t l2, int r2) {
    rnnck_tensor *x = param(m, kind, l1, r1), *y = param(m, kind, l2, r2), *tmp;
    cr_assert_eq(rnnck_tensor_clone(x, rnnck_tensor_dtype(x), &tmp), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_assign(x, y), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_assign(y, tmp), RNNCK_OK);
    rnnck_tensor_free(tmp);
}

static const rnnck_param all_params[] = {RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
                                         RNNCK_PARAM_BIAS_HH};

static rnnck_validation *validate(rnnck_model *a, rnnck_model *b) {
    rnnck_validate_opts o;
    rnnck_validate_opts_init(&o);
    o.long_len = 40; /* keep the suite quick; the long case is tested in test_validate */
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &o, &v), RNNCK_OK, "%s", rnnck_errmsg());
    return v;
}

/* The mismatch is reported and the first finding is of `kind` and mentions
 * every string of `needles` (NULL-terminated). */
static void expect_diagnosis(rnnck_validation *v, rnnck_mistake kind, const char *const *needles) {
    cr_assert_not(rnnck_validation_passed(v), "the injected mistake was not detected");
    const rnnck_validation_pair *p = rnnck_validation_pair_at(v, 0);
    cr_assert_not_null(p);
    cr_assert_not(p->pass);
    cr_assert_gt(p->nfindings, 0, "no diagnosis for a %s mistake", rnnck_mistake_name(kind));
    const rnnck_finding *f = &p->findings[0];
    cr_expect_eq(f->kind, kind, "diagnosed %s (%s), expected %s", rnnck_mistake_name(f->kind), f->text,
                 rnnck_mistake_name(kind));
    cr_expect(f->exact, "the fix does not restore agreement: %s", f->text);
    cr_expect_lt(f->max_abs_after, 1e-4, "after the fix the error is still %g", f->max_abs_after);
    cr_expect_gt(f->max_abs_before, 1e-3, "before the fix the error is only %g", f->max_abs_before);
    for (size_t i = 0; needles && needles[i]; i++)
        cr_expect(strstr(f->text, needles[i]), "diagnosis '%s' lacks '%s'", f->text, needles[i]);
}

Test(diagnose, lstm_gates_stored_in_onnx_order_read_as_iofg) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 5, 6, 1, 0, 11);
    rnnck_model *b = copy_model(a, NULL);
    store_gates_as(b, 0, 0, "iofg");
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"i,o,f,g", "ONNX", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_GATE_ORDER, needles);
    cr_expect_eq(rnnck_validation_pair_at(v, 0)->findings[0].layer, -1, "the mistake is in every layer");
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, every_one_of_the_23_wrong_lstm_gate_orders_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 3, 4, 1, 0, 12);
    const char *order = "ifgo";
    int idx[4] = {0, 1, 2, 3};
    int tried = 0;
    /* All 24 orders but the identity, in lexicographic order of idx. */
    for (;;) {
        int i = 2;
        while (i >= 0 && idx[i] >= idx[i + 1]) i--;
        if (i < 0) break;
        int j = 3;
        while (idx[j] <= idx[i]) j--;
        int t = idx[i]; idx[i] = idx[j]; idx[j] = t;
        for (int x = i + 1, y = 3; x < y; x++, y--) { t = idx[x]; idx[x] = idx[y]; idx[y] = t; }
        char stored[5] = {order[idx[0]], order[idx[1]], order[idx[2]], order[idx[3]], 0};
        char listed[8] = {stored[0], ',', stored[1], ',', stored[2], ',', stored[3], 0};
        rnnck_model *b = copy_model(a, NULL);
        store_gates_as(b, 0, 0, stored);
        rnnck_validation *v = validate(a, b);
        const char *needles[] = {listed, NULL};
        expect_diagnosis(v, RNNCK_MISTAKE_GATE_ORDER, needles);
        rnnck_validation_free(v);
        rnnck_model_free(b);
        tried++;
    }
    cr_expect_eq(tried, 23);
    rnnck_model_free(a);
}

Test(diagnose, gru_gates_stored_in_keras_order_read_as_zrn) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 4, 5, 2, 1, 13);
    rnnck_model *b = copy_model(a, NULL);
    for (int64_t l = 0; l < 2; l++)
        for (int r = 0; r < 2; r++) store_gates_as(b, l, r, "zrn");
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"z,r,n", "Keras", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_GATE_ORDER, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, gate_order_mistake_in_one_layer_and_direction_is_located) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 4, 5, 2, 1, 14);
    rnnck_model *b = copy_model(a, NULL);
    store_gates_as(b, 1, 1, "fig" "o");
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"f,i,g,o", "layer 1", "reverse", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_GATE_ORDER, needles);
    const rnnck_finding *f = &rnnck_validation_pair_at(v, 0)->findings[0];
    cr_expect_eq(f->layer, 1);
    cr_expect_eq(f->reverse, 1);
    /* Localisation by the rows too: layer 0 agrees, layer 1 reverse does not. */
    int l0_fail = 0, l1_fwd_fail = 0, l1_rev_fail = 0;
    for (size_t i = 0; i < rnnck_validation_row_count(v); i++) {
        const rnnck_validation_row *r = rnnck_validation_row_at(v, i);
        if (r->output != RNNCK_OUT_OUTPUT && r->output != RNNCK_OUT_H_N) continue;
        if (r->layer == 0 && !r->pass) l0_fail++;
        if (r->layer == 1 && r->output == RNNCK_OUT_H_N && r->reverse == 0 && !r->pass) l1_fwd_fail++;
        if (r->layer == 1 && r->reverse == 1 && !r->pass) l1_rev_fail++;
    }
    cr_expect_eq(l0_fail, 0, "layer 0 is intact but %d rows fail", l0_fail);
    cr_expect_eq(l1_fwd_fail, 0, "h_n of layer 1 forward does not depend on layer 1 reverse");
    cr_expect_gt(l1_rev_fail, 0);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, kernel_reshaped_instead_of_transposed_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 5, 6, 1, 0, 15);
    rnnck_model *b = copy_model(a, NULL);
    /* B's weight_ih buffer holds A's (in, 4H) kernel: W^T, reshaped. */
    rnnck_tensor *wa = param(a, RNNCK_PARAM_WEIGHT_IH, 0, 0), *wb = param(b, RNNCK_PARAM_WEIGHT_IH, 0, 0);
    int64_t R = rnnck_tensor_dim(wa, 0), C = rnnck_tensor_dim(wa, 1);
    const float *src = rnnck_tensor_cdata(wa);
    float *dst = rnnck_tensor_data(wb);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) dst[c * R + r] = src[r * C + c];
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"weight_ih", "transposed", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_TRANSPOSED, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, transposed_recurrent_gate_blocks_are_named) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 3, 4, 1, 0, 16);
    rnnck_model *b = copy_model(a, NULL);
    rnnck_tensor *w = param(b, RNNCK_PARAM_WEIGHT_HH, 0, 0);
    float *d = rnnck_tensor_data(w);
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++) {
                float t = d[g * 16 + i * 4 + j];
                d[g * 16 + i * 4 + j] = d[g * 16 + j * 4 + i];
                d[g * 16 + j * 4 + i] = t;
            }
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"weight_hh", "transposed", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_TRANSPOSED, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, swapped_directions_are_named) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 4, 5, 2, 1, 17);
    rnnck_model *b = copy_model(a, NULL);
    for (int64_t l = 0; l < 2; l++)
        for (int k = 0; k < 4; k++) swap_params(b, all_params[k], l, 0, l, 1);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"forward and reverse directions are swapped", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_DIRECTIONS, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, layers_out_of_order_are_named) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 4, 5, 3, 0, 18);
    rnnck_model *b = copy_model(a, NULL);
    for (int k = 0; k < 4; k++) swap_params(b, all_params[k], 1, 0, 2, 0);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"layers 1 and 2 are swapped", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_LAYER_ORDER, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

static void zero(rnnck_model *m, rnnck_param kind) {
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    for (int64_t l = 0; l < info->num_layers; l++)
        for (int r = 0; r <= info->bidirectional; r++)
            cr_assert_eq(rnnck_init_constant(param(m, kind, l, r), 0.0), RNNCK_OK);
}

Test(diagnose, dropped_bias_hh_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 4, 5, 1, 1, 19);
    rnnck_model *b = copy_model(a, NULL);
    zero(b, RNNCK_PARAM_BIAS_HH);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"bias_hh is dropped", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_BIAS, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, dropped_bias_ih_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_RNN_TANH, 4, 5, 1, 0, 20);
    rnnck_model *b = copy_model(a, NULL);
    zero(b, RNNCK_PARAM_BIAS_IH);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"bias_ih is dropped", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_BIAS, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, bias_folded_into_bias_ih_but_kept_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 4, 5, 1, 0, 21);
    rnnck_model *b = copy_model(a, NULL);
    float *bi = rnnck_tensor_data(param(b, RNNCK_PARAM_BIAS_IH, 0, 0));
    const float *bh = rnnck_tensor_cdata(param(b, RNNCK_PARAM_BIAS_HH, 0, 0));
    for (int k = 0; k < 20; k++) bi[k] += bh[k];
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"counted twice", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_BIAS, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, gru_reset_placement_flipped_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 4, 5, 1, 0, 22);
    rnnck_module_info info = *rnnck_model_module(a, 0);
    info.linear_before_reset = 0; /* read as Keras reset_after=False */
    rnnck_model *b = copy_model(a, &info);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"linear_before_reset=1", "after the recurrent product", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_GRU_RESET, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, keras2_hard_sigmoid_where_sigmoid_is_due_is_named) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 4, 5, 1, 0, 23);
    rnnck_module_info info = *rnnck_model_module(a, 0);
    rnnck_activation hs2 = {RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    info.act[0][0] = info.act[1][0] = hs2;
    rnnck_model *b = copy_model(a, &info);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"Sigmoid instead of Keras 2's hard_sigmoid", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_ACTIVATION, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, keras3_hard_sigmoid_read_as_keras2_is_named) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_GRU);
    info.input_size = 4;
    info.hidden_size = 5;
    rnnck_activation hs3 = {RNNCK_ACT_HARD_SIGMOID, 1.0 / 6.0, 0.5}, hs2 = {RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    info.act[0][0] = info.act[1][0] = hs3;
    rnnck_model *a;
    cr_assert_eq(rnnck_model_new(&a), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(a, &info), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(a, 0, RNNCK_INIT_DEFAULT, 24, 0, 0), RNNCK_OK);
    info.act[0][0] = info.act[1][0] = hs2;
    rnnck_model *b = copy_model(a, &info);
    rnnck_validation *v = validate(a, b);
    const char *needles[] = {"Keras 3's hard_sigmoid", "instead of Keras 2's", NULL};
    expect_diagnosis(v, RNNCK_MISTAKE_ACTIVATION, needles);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diagnose, unrelated_weights_get_no_false_diagnosis) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 4, 5, 1, 0, 25);
    rnnck_model *b = make_model(RNNCK_CELL_LSTM, 4, 5, 1, 0, 26);
    rnnck_validation *v = validate(a, b);
    cr_assert_not(rnnck_validation_passed(v));
    const rnnck_validation_pair *p = rnnck_validation_pair_at(v, 0);
    for (size_t i = 0; i < p->nfindings; i++)
        cr_expect_not(p->findings[i].exact, "claimed an exact explanation: %s", p->findings[i].text);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

/* ------------------------------------------------------------------ diff */

Test(diff, identical_models_have_no_differences) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 3, 4, 2, 1, 30);
    rnnck_model *b = copy_model(a, NULL);
    rnnck_diff *d;
    cr_assert_eq(rnnck_diff_models(a, b, 0.0, &d), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_diff_row_count(d), 16, "2 layers x 2 directions x 4 parameters");
    cr_expect_eq(rnnck_diff_differences(d), 0);
    rnnck_diff_free(d);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diff, names_the_permuted_gate_blocks_and_the_direction) {
    rnnck_model *a = make_model(RNNCK_CELL_LSTM, 3, 4, 1, 1, 31);
    rnnck_model *b = copy_model(a, NULL);
    store_gates_as(b, 0, 1, "iofg");
    rnnck_diff *d;
    cr_assert_eq(rnnck_diff_models(a, b, 0.0, &d), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_diff_differences(d), 4, "the four reverse parameters differ");
    for (size_t i = 0; i < rnnck_diff_row_count(d); i++) {
        const rnnck_diff_row *r = rnnck_diff_row_at(d, i);
        if (!r->reverse) {
            cr_expect_eq(r->max_abs, 0.0, "%s differs", r->name_a);
            continue;
        }
        cr_expect_gt(r->max_abs, 0.0);
        cr_expect_str_eq(r->gate_letters, "ifgo");
        cr_expect_eq(r->gate_max_abs[0], 0.0, "block i is in place");
        cr_expect_gt(r->gate_max_abs[1], 0.0, "block f moved");
        cr_expect_str_eq(r->b_blocks_hold, "iofg", "%s", r->name_a);
    }
    rnnck_diff_free(d);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

Test(diff, changed_values_are_not_mistaken_for_a_permutation) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 3, 4, 1, 0, 32);
    rnnck_model *b = copy_model(a, NULL);
    float *bias = rnnck_tensor_data(param(b, RNNCK_PARAM_BIAS_HH, 0, 0));
    bias[9] += 0.5f; /* block n (rows 8..11) */
    rnnck_diff *d;
    cr_assert_eq(rnnck_diff_models(a, b, 1e-6, &d), RNNCK_OK);
    cr_assert_eq(rnnck_diff_differences(d), 1);
    for (size_t i = 0; i < rnnck_diff_row_count(d); i++) {
        const rnnck_diff_row *r = rnnck_diff_row_at(d, i);
        if (!strstr(r->name_a, "bias_hh")) continue;
        cr_expect_float_eq(r->max_abs, 0.5, 1e-6);
        cr_expect_eq(r->gate_max_abs[0], 0.0);
        cr_expect_eq(r->gate_max_abs[1], 0.0);
        cr_expect_float_eq(r->gate_max_abs[2], 0.5, 1e-6);
        cr_expect_str_eq(r->b_blocks_hold, "");
    }
    rnnck_diff_free(d);
    rnnck_model_free(a);
    rnnck_model_free(b);
}

/* ------------------------------------------------------------------- CLI */

static char *dir;
static void setup(void) { dir = tmpdir_new(); }
static void teardown(void) { tmpdir_remove(dir); }
TestSuite(cli_diagnose, .init = setup, .fini = teardown);

/* Saves a and b, runs rnnck validate on them and expects exit 1 with
 * `needle` in the diagnosis. */
static void expect_cli_diagnosis(rnnck_model *a, rnnck_model *b, const char *tag, const char *needle) {
    char an[64], bn[64];
    snprintf(an, sizeof an, "%s_a.h5", tag);
    snprintf(bn, sizeof bn, "%s_b.h5", tag);
    char *ap = path_join(dir, an), *bp = path_join(dir, bn);
    cr_assert_eq(rnnck_save(a, ap), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_save(b, bp), RNNCK_OK, "%s", rnnck_errmsg());
    tool_result r = run_tool("validate", ap, bp, "--long-len", "30", NULL);
    cr_expect_eq(r.exit_code, 1, "%s: exit %d\n%s%s", tag, r.exit_code, r.out, r.err);
    const char *d = strstr(r.out, "  diagnosis: ");
    cr_expect(d && strstr(d, needle), "%s: no diagnosis '%s' in\n%s", tag, needle, r.out);
    tool_result_free(&r);
    free(ap);
    free(bp);
}

Test(cli_diagnose, each_injected_mistake_exits_1_with_its_diagnosis) {
    rnnck_model *a = make_model(RNNCK_CELL_GRU, 4, 5, 2, 1, 50);

    rnnck_model *b = copy_model(a, NULL);
    for (int k = 0; k < 4; k++) swap_params(b, all_params[k], 0, 0, 0, 1);
    expect_cli_diagnosis(a, b, "directions", "directions are swapped in layer 0");
    rnnck_model_free(b);

    b = copy_model(a, NULL);
    zero(b, RNNCK_PARAM_BIAS_HH);
    expect_cli_diagnosis(a, b, "bias", "bias_hh is dropped");
    rnnck_model_free(b);

    rnnck_module_info info = *rnnck_model_module(a, 0);
    info.linear_before_reset = 0;
    b = copy_model(a, &info);
    expect_cli_diagnosis(a, b, "reset", "linear_before_reset=1");
    rnnck_model_free(b);

    info = *rnnck_model_module(a, 0);
    rnnck_activation hs3 = {RNNCK_ACT_HARD_SIGMOID, 1.0 / 6.0, 0.5};
    info.act[0][0] = info.act[1][0] = hs3;
    b = copy_model(a, &info);
    expect_cli_diagnosis(a, b, "activation", "Sigmoid instead of Keras 3's hard_sigmoid");
    rnnck_model_free(b);

    b = copy_model(a, NULL);
    for (int64_t l = 0; l < 2; l++)
        for (int r = 0; r < 2; r++) store_gates_as(b, l, r, "nzr");
    expect_cli_diagnosis(a, b, "gates", "read as n,z,r");
    rnnck_model_free(b);
    rnnck_model_free(a);
}
