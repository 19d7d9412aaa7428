/* Recurrent-module descriptions: validation, cell and activation names, gate
 * orders, parameter names and shapes. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "rnnck.h"

static rnnck_module_info valid(rnnck_cell cell) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.input_size = 10;
    info.hidden_size = 8;
    return info;
}

static const rnnck_cell all_cells[] = {RNNCK_CELL_LSTM, RNNCK_CELL_GRU, RNNCK_CELL_RNN_TANH, RNNCK_CELL_RNN_RELU};

/* Validation refuses `info` with RNNCK_E_USAGE and a message containing `needle`. */
static void expect_refused(const rnnck_module_info *info, const char *needle, const char *why) {
    cr_expect_eq(rnnck_module_info_validate(info), RNNCK_E_USAGE, "%s: accepted", why);
    cr_expect(strstr(rnnck_errmsg(), needle), "%s: message '%s' lacks '%s'", why, rnnck_errmsg(), needle);
}

Test(module, info_init_gives_pytorch_defaults) {
    for (size_t c = 0; c < 4; c++) {
        rnnck_module_info info;
        memset(&info, 0x5a, sizeof info);
        rnnck_module_info_init(&info, all_cells[c]);
        cr_expect_eq(info.cell, all_cells[c]);
        cr_expect_str_eq(info.name, "");
        cr_expect(info.bias == 1 && info.num_layers == 1 && info.proj_size == 0 && !info.bidirectional &&
                  !info.batch_first);
        cr_expect_eq(info.dtype, RNNCK_F32);
        cr_expect_eq(info.linear_before_reset, 1);
        cr_expect(info.forget_bias == 0 && !info.peepholes && info.clip == 0 && !info.input_forget);
        cr_expect(info.cell_clip == 0 && info.proj_clip == 0);
        for (int d = 0; d < 2; d++) {
            rnnck_act_kind first = all_cells[c] == RNNCK_CELL_RNN_TANH   ? RNNCK_ACT_TANH
                                   : all_cells[c] == RNNCK_CELL_RNN_RELU ? RNNCK_ACT_RELU
                                                                          : RNNCK_ACT_SIGMOID;
            cr_expect_eq(info.act[d][0].kind, first, "cell %s direction %d", rnnck_cell_name(all_cells[c]), d);
        }
        if (all_cells[c] == RNNCK_CELL_LSTM)
            cr_expect(info.act[0][1].kind == RNNCK_ACT_TANH && info.act[0][2].kind == RNNCK_ACT_TANH);
        info.input_size = info.hidden_size = 4;
        cr_expect_eq(rnnck_module_info_validate(&info), RNNCK_OK, "%s", rnnck_errmsg());
        cr_expect(rnnck_module_info_is_pytorch(&info));
    }
}

Test(module, validate_accepts_pytorch_configurations) {
    for (size_t c = 0; c < 4; c++) {
        rnnck_module_info info = valid(all_cells[c]);
        info.num_layers = 3;
        info.bidirectional = 1;
        info.bias = 0;
        info.batch_first = 1;
        info.dtype = RNNCK_F64;
        cr_expect_eq(rnnck_module_info_validate(&info), RNNCK_OK, "%s: %s", rnnck_cell_name(all_cells[c]),
                     rnnck_errmsg());
        cr_expect_str_eq(rnnck_errmsg(), "", "success clears the message");
    }
    rnnck_module_info lstm = valid(RNNCK_CELL_LSTM);
    lstm.proj_size = 7; /* largest allowed: hidden_size - 1 */
    cr_expect_eq(rnnck_module_info_validate(&lstm), RNNCK_OK, "%s", rnnck_errmsg());
    lstm.input_size = lstm.hidden_size = (int64_t)1 << 18; /* 4 x 2^18 x 2^18 = 2^38 weights: allowed */
    lstm.proj_size = 0;
    cr_expect_eq(rnnck_module_info_validate(&lstm), RNNCK_OK, "%s", rnnck_errmsg());
}

Test(module, validate_refuses_projection_not_smaller_than_hidden_or_on_non_lstm) {
    rnnck_module_info info = valid(RNNCK_CELL_LSTM);
    info.proj_size = 8;
    expect_refused(&info, "smaller than hidden_size", "proj_size == hidden_size");
    info.proj_size = 9;
    expect_refused(&info, "smaller than hidden_size", "proj_size > hidden_size");
    info.proj_size = -1;
    expect_refused(&info, "negative", "negative proj_size");
    rnnck_cell others[] = {RNNCK_CELL_GRU, RNNCK_CELL_RNN_TANH, RNNCK_CELL_RNN_RELU};
    for (int c = 0; c < 3; c++) {
        info = valid(others[c]);
        info.proj_size = 4;
        expect_refused(&info, "only supported for LSTM", rnnck_cell_name(others[c]));
    }
}

Test(module, validate_refuses_zero_negative_and_huge_sizes) {
    rnnck_module_info info = valid(RNNCK_CELL_GRU);
    info.input_size = 0;
    expect_refused(&info, "input_size", "zero input_size");
    info = valid(RNNCK_CELL_GRU);
    info.hidden_size = 0;
    expect_refused(&info, "hidden_size", "zero hidden_size");
    info = valid(RNNCK_CELL_GRU);
    info.hidden_size = -3;
    expect_refused(&info, "hidden_size", "negative hidden_size");
    info = valid(RNNCK_CELL_GRU);
    info.num_layers = 0;
    expect_refused(&info, "num_layers", "zero layers");
    info = valid(RNNCK_CELL_GRU);
    info.num_layers = 1025;
    expect_refused(&info, "num_layers", "1025 layers");
    info = valid(RNNCK_CELL_GRU);
    info.input_size = ((int64_t)1 << 31) + 1;
    expect_refused(&info, "input_size", "input_size over 2^31");
    info = valid(RNNCK_CELL_GRU);
    info.hidden_size = INT64_MAX;
    expect_refused(&info, "hidden_size", "hidden_size INT64_MAX");
    /* Each size within bounds, but 4 * 2^31 x 2^31 elements overflow any budget. */
    info = valid(RNNCK_CELL_LSTM);
    info.input_size = info.hidden_size = (int64_t)1 << 31;
    expect_refused(&info, "too large", "2^31 x 2^31 weights");
}

Test(module, validate_refuses_bad_activations_and_misplaced_extras) {
    rnnck_module_info info = valid(RNNCK_CELL_LSTM);
    info.act[1][2].kind = RNNCK_ACT_COUNT_;
    expect_refused(&info, "activation 2 of direction 1", "activation kind out of range");
    info = valid(RNNCK_CELL_LSTM);
    info.act[0][0].kind = (rnnck_act_kind)-1;
    expect_refused(&info, "activation 0 of direction 0", "negative activation kind");
    info = valid(RNNCK_CELL_GRU);
    info.act[0][1] = (rnnck_activation){RNNCK_ACT_SCALED_TANH, NAN, 1};
    expect_refused(&info, "activation 1", "NaN alpha");
    info = valid(RNNCK_CELL_RNN_TANH);
    info.act[0][0].kind = RNNCK_ACT_RELU;
    expect_refused(&info, "contradicts", "RNN_TANH with relu");
    info = valid(RNNCK_CELL_RNN_RELU);
    info.act[0][0].kind = RNNCK_ACT_TANH;
    expect_refused(&info, "contradicts", "RNN_RELU with tanh");
    info = valid(RNNCK_CELL_LSTM);
    info.linear_before_reset = 0;
    expect_refused(&info, "GRU only", "linear_before_reset on LSTM");
    info = valid(RNNCK_CELL_GRU);
    info.peepholes = 1;
    expect_refused(&info, "LSTM only", "peepholes on GRU");
    info = valid(RNNCK_CELL_RNN_TANH);
    info.forget_bias = 1;
    expect_refused(&info, "LSTM only", "forget_bias on RNN");
    info = valid(RNNCK_CELL_LSTM);
    info.clip = -1;
    expect_refused(&info, "clip", "negative clip");
    info = valid(RNNCK_CELL_LSTM);
    info.cell_clip = -0.5;
    expect_refused(&info, "cell_clip and proj_clip must be finite", "negative cell_clip");
    info = valid(RNNCK_CELL_LSTM);
    info.cell_clip = INFINITY;
    expect_refused(&info, "cell_clip and proj_clip must be finite", "infinite cell_clip");
    info = valid(RNNCK_CELL_GRU);
    info.cell_clip = 1;
    expect_refused(&info, "apply to LSTM only", "cell_clip on GRU");
    info = valid(RNNCK_CELL_LSTM);
    info.proj_clip = 1;
    expect_refused(&info, "needs proj_size > 0", "proj_clip without a projection");
    info.proj_size = 1;
    cr_expect_eq(rnnck_module_info_validate(&info), RNNCK_OK, "%s", rnnck_errmsg());
    info = valid(RNNCK_CELL_LSTM);
    info.bias = 2;
    expect_refused(&info, "0 or 1", "bias = 2");
    info = valid(RNNCK_CELL_LSTM);
    info.dtype = RNNCK_I32;
    expect_refused(&info, "not a float type", "int32 parameters");
    info = valid(RNNCK_CELL_LSTM);
    info.cell = RNNCK_CELL_INVALID;
    expect_refused(&info, "invalid cell", "invalid cell");
    cr_expect_eq(rnnck_module_info_validate(NULL), RNNCK_E_USAGE);
    /* The unused slot of an RNN may hold anything. */
    info = valid(RNNCK_CELL_RNN_TANH);
    info.act[0][2].kind = RNNCK_ACT_COUNT_;
    cr_expect_eq(rnnck_module_info_validate(&info), RNNCK_OK, "%s", rnnck_errmsg());
}

Test(module, is_pytorch_only_for_pytorch_semantics) {
    rnnck_module_info info = valid(RNNCK_CELL_LSTM);
    cr_expect(rnnck_module_info_is_pytorch(&info));
    info.peepholes = 1;
    cr_expect(!rnnck_module_info_is_pytorch(&info));
    info = valid(RNNCK_CELL_LSTM);
    info.act[1][0] = (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    cr_expect(!rnnck_module_info_is_pytorch(&info), "hard_sigmoid gates");
    info = valid(RNNCK_CELL_GRU);
    info.linear_before_reset = 0;
    cr_expect(!rnnck_module_info_is_pytorch(&info), "reset before the product");
    info = valid(RNNCK_CELL_GRU);
    info.act[0][0].alpha = 3; /* sigmoid has no parameters: alpha is irrelevant */
    cr_expect(rnnck_module_info_is_pytorch(&info));
    info = valid(RNNCK_CELL_LSTM);
    info.clip = 50;
    cr_expect(!rnnck_module_info_is_pytorch(&info));
    info = valid(RNNCK_CELL_LSTM);
    info.cell_clip = 3;
    cr_expect(!rnnck_module_info_is_pytorch(&info), "TF cell_clip");
}

Test(module, cell_names_round_trip) {
    const char *names[] = {"LSTM", "GRU", "RNN_TANH", "RNN_RELU"};
    for (int c = 0; c < 4; c++) {
        cr_expect_str_eq(rnnck_cell_name(all_cells[c]), names[c]);
        cr_expect_eq(rnnck_cell_from_name(names[c]), all_cells[c]);
        cr_expect_eq(rnnck_cell_from_name(rnnck_cell_name(all_cells[c])), all_cells[c]);
    }
    cr_expect_eq(rnnck_cell_from_name("lstm"), RNNCK_CELL_INVALID, "schema spelling is upper case");
    cr_expect_eq(rnnck_cell_from_name("RNN"), RNNCK_CELL_INVALID);
    cr_expect_eq(rnnck_cell_from_name(""), RNNCK_CELL_INVALID);
    cr_expect_eq(rnnck_cell_from_name(NULL), RNNCK_CELL_INVALID);
    cr_expect_str_eq(rnnck_cell_name(RNNCK_CELL_INVALID), "invalid");
    cr_expect_str_eq(rnnck_cell_name((rnnck_cell)42), "invalid");
}

Test(module, activation_names_round_trip) {
    const char *onnx[] = {"Sigmoid", "Tanh",       "Relu", "HardSigmoid", "Affine",  "LeakyRelu",
                          "ThresholdedRelu", "ScaledTanh", "Elu",  "Softsign",    "Softplus"};
    cr_assert_eq(sizeof onnx / sizeof onnx[0], RNNCK_ACT_COUNT_);
    for (int k = 0; k < RNNCK_ACT_COUNT_; k++) {
        cr_expect_str_eq(rnnck_act_name((rnnck_act_kind)k), onnx[k]);
        cr_expect_eq(rnnck_act_from_name(onnx[k]), (rnnck_act_kind)k);
    }
    cr_expect_eq(rnnck_act_from_name("sigmoid"), RNNCK_ACT_COUNT_);
    cr_expect_eq(rnnck_act_from_name(NULL), RNNCK_ACT_COUNT_);
    cr_expect_str_eq(rnnck_act_name(RNNCK_ACT_COUNT_), "invalid");
    cr_expect_str_eq(rnnck_act_name((rnnck_act_kind)-1), "invalid");
}

Test(module, gate_counts_orders_and_indices) {
    cr_expect_eq(rnnck_cell_gates(RNNCK_CELL_LSTM), 4);
    cr_expect_eq(rnnck_cell_gates(RNNCK_CELL_GRU), 3);
    cr_expect_eq(rnnck_cell_gates(RNNCK_CELL_RNN_TANH), 1);
    cr_expect_eq(rnnck_cell_gates(RNNCK_CELL_RNN_RELU), 1);
    cr_expect_eq(rnnck_cell_gates(RNNCK_CELL_INVALID), 0);
    cr_expect_str_eq(rnnck_cell_gate_order(RNNCK_CELL_LSTM), "ifgo");
    cr_expect_str_eq(rnnck_cell_gate_order(RNNCK_CELL_GRU), "rzn");
    cr_expect_str_eq(rnnck_cell_gate_order(RNNCK_CELL_RNN_TANH), "h");
    cr_expect_str_eq(rnnck_cell_gate_order(RNNCK_CELL_RNN_RELU), "h");
    cr_expect_str_eq(rnnck_cell_gate_order(RNNCK_CELL_INVALID), "");
    for (size_t c = 0; c < 4; c++) {
        const char *order = rnnck_cell_gate_order(all_cells[c]);
        cr_expect_eq((int)strlen(order), rnnck_cell_gates(all_cells[c]));
        for (int k = 0; order[k]; k++) cr_expect_eq(rnnck_cell_gate_index(all_cells[c], order[k]), k);
        cr_expect_eq(rnnck_cell_gate_index(all_cells[c], 'x'), -1);
        cr_expect_eq(rnnck_cell_gate_index(all_cells[c], '\0'), -1, "NUL is not a gate");
    }
    cr_expect_eq(rnnck_cell_gate_index(RNNCK_CELL_LSTM, 'f'), 1);
    cr_expect_eq(rnnck_cell_gate_index(RNNCK_CELL_LSTM, 'g'), 2);
    cr_expect_eq(rnnck_cell_gate_index(RNNCK_CELL_GRU, 'z'), 1);
    cr_expect_eq(rnnck_cell_gate_index(RNNCK_CELL_GRU, 'f'), -1, "GRU has no forget gate");
    cr_expect_eq(rnnck_cell_gate_index(RNNCK_CELL_LSTM, 'I'), -1, "letters are lower case");
}

Test(module, parameter_names_and_buffer_bounds) {
    char buf[32];
    cr_assert_eq(rnnck_param_name(RNNCK_PARAM_WEIGHT_IH, 1, 1, buf, sizeof buf), RNNCK_OK);
    cr_expect_str_eq(buf, "weight_ih_l1_reverse");
    cr_assert_eq(rnnck_param_name(RNNCK_PARAM_BIAS_HH, 12, 0, buf, sizeof buf), RNNCK_OK);
    cr_expect_str_eq(buf, "bias_hh_l12");
    cr_assert_eq(rnnck_param_name(RNNCK_PARAM_WEIGHT_HR, 0, 0, buf, sizeof buf), RNNCK_OK);
    cr_expect_str_eq(buf, "weight_hr_l0");
    cr_assert_eq(rnnck_param_name(RNNCK_PARAM_PEEPHOLE, 2, 1, buf, sizeof buf), RNNCK_OK);
    cr_expect_str_eq(buf, "peephole_l2_reverse");
    /* "weight_ih_l0" needs 13 bytes with its NUL. */
    cr_expect_eq(rnnck_param_name(RNNCK_PARAM_WEIGHT_IH, 0, 0, buf, 12), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_param_name(RNNCK_PARAM_WEIGHT_IH, 0, 0, buf, 13), RNNCK_OK);
    cr_expect_eq(rnnck_param_name(RNNCK_PARAM_COUNT_, 0, 0, buf, sizeof buf), RNNCK_E_USAGE);
    cr_expect_eq(rnnck_param_name(RNNCK_PARAM_WEIGHT_IH, -1, 0, buf, sizeof buf), RNNCK_E_USAGE);
}

Test(module, parameter_shapes_follow_torch_rnnbase) {
    int64_t s[2];
    rnnck_module_info info = valid(RNNCK_CELL_LSTM);
    info.num_layers = 2;
    info.bidirectional = 1;
    info.proj_size = 3;
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_IH, 0, s), 2);
    cr_expect(s[0] == 32 && s[1] == 10);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_IH, 1, s), 2);
    cr_expect(s[0] == 32 && s[1] == 6, "layer 1 input is D*P: %lld", (long long)s[1]);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_HH, 1, s), 2);
    cr_expect(s[0] == 32 && s[1] == 3);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_HR, 0, s), 2);
    cr_expect(s[0] == 3 && s[1] == 8);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_BIAS_IH, 1, s), 1);
    cr_expect_eq(s[0], 32);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_PEEPHOLE, 0, s), 0, "no peepholes asked for");
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_IH, 2, s), 0, "no layer 2");
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_IH, -1, s), 0);
    info.peepholes = 1;
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_PEEPHOLE, 1, s), 1);
    cr_expect_eq(s[0], 24);
    info = valid(RNNCK_CELL_GRU);
    info.bias = 0;
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_BIAS_HH, 0, s), 0);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_HR, 0, s), 0);
    cr_expect_eq(rnnck_param_shape(&info, RNNCK_PARAM_WEIGHT_HH, 0, s), 2);
    cr_expect(s[0] == 24 && s[1] == 8);
}
