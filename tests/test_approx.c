/* Approximation into torch.nn maths (lib/core/approx.c) and the convert
 * command's --allow-approx: cell maths is replaced, structure is refused,
 * every kept tensor is the source's, and the printed error is validate's. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/testutil.h"
#include "rnnck.h"

static void fill(rnnck_model *m, uint32_t seed) {
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        float *d = rnnck_tensor_data(t);
        for (int64_t k = 0; k < rnnck_tensor_numel(t); k++)
            d[k] = (float)((seed = seed * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    }
}

static rnnck_model *one_module(const rnnck_module_info *info) {
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, info), RNNCK_OK, "%s", rnnck_errmsg());
    fill(m, 5);
    return m;
}

static rnnck_module_info lstm_info(void) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.name = "enc.rnn";
    info.input_size = 3;
    info.hidden_size = 4;
    info.num_layers = 2;
    info.bidirectional = 1;
    return info;
}

Test(approx, peephole_clip_hard_sigmoid_lstm_becomes_torch_maths_sharing_every_kept_tensor) {
    rnnck_module_info info = lstm_info();
    info.peepholes = 1;
    info.clip = 3;
    info.cell_clip = 2; /* TF's, dropped like ONNX's clip */
    info.forget_bias = 1;
    for (int d = 0; d < 2; d++) info.act[d][0] = (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    rnnck_model *m = one_module(&info), *a;
    cr_assert_eq(rnnck_model_approximate_torch(m, &a), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck_module_info *ai = rnnck_model_module(a, 0);
    cr_expect_eq(ai->forget_bias, 1.0, "the run-time forget_bias is kept (exporters fold it exactly)");
    rnnck_module_info plain = *ai;
    plain.forget_bias = 0;
    cr_expect(rnnck_module_info_is_pytorch(&plain), "approximation is not torch.nn maths");
    cr_expect_str_eq(ai->name, "enc.rnn");
    /* 2 layers x 2 directions x 4 parameters; the 4 peephole tensors are gone. */
    cr_expect_eq(rnnck_model_tensor_count(m), 20);
    cr_expect_eq(rnnck_model_tensor_count(a), 16);
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *t = rnnck_model_tensor(a, i), *src;
        cr_assert_eq(rnnck_model_find(m, rnnck_tensor_name(t), &src), RNNCK_OK, "%s", rnnck_tensor_name(t));
        cr_expect_null(strstr(rnnck_tensor_name(t), "peephole"));
        cr_expect_eq(rnnck_tensor_cdata(t), rnnck_tensor_cdata(src), "%s is a copy, not a view",
                     rnnck_tensor_name(t));
    }
    /* The source keeps its own maths. */
    cr_expect_eq(rnnck_model_module(m, 0)->peepholes, 1);
    cr_expect_eq(rnnck_model_module(m, 0)->cell_clip, 2.0);
    cr_expect_eq(ai->cell_clip, 0.0);
    cr_expect_eq(rnnck_model_module(m, 0)->act[1][0].kind, RNNCK_ACT_HARD_SIGMOID);
    rnnck_model_free(m); /* views outlive the model they came from */
    cr_expect_eq(rnnck_model_tensor_count(a), 16);
    rnnck_model_free(a);
}

Test(approx, structure_torch_lacks_is_refused_naming_the_module) {
    rnnck_module_info info = lstm_info();
    info.merge_mode = RNNCK_MERGE_SUM;
    info.num_layers = 1;
    rnnck_model *m = one_module(&info), *a = (rnnck_model *)&info;
    cr_expect_eq(rnnck_model_approximate_torch(m, &a), RNNCK_E_INEXACT);
    cr_expect(strstr(rnnck_errmsg(), "enc.rnn") && strstr(rnnck_errmsg(), "merge mode"), "%s", rnnck_errmsg());
    cr_expect_null(a);
    rnnck_model_free(m);

    rnnck_module_info_init(&info, RNNCK_CELL_GRU);
    info.input_size = 2;
    info.hidden_size = 3;
    info.reverse = 1;
    m = one_module(&info);
    cr_expect_eq(rnnck_model_approximate_torch(m, &a), RNNCK_E_INEXACT);
    cr_expect(strstr(rnnck_errmsg(), "(bare)") && strstr(rnnck_errmsg(), "backward"), "%s", rnnck_errmsg());
    rnnck_model_free(m);
    cr_expect_eq(rnnck_model_approximate_torch(NULL, &a), RNNCK_E_USAGE);
}

Test(cli_allow_approx, keras_hard_sigmoid_gru_is_refused_then_written_with_its_measured_error, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *in = fixture_path("keras/k21_gru_hard_sigmoid.h5"), *out = path_join(test_dir, "gru.pt");
    tool_result r = run_tool("convert", in, out, NULL);
    cr_expect_eq(r.exit_code, 3, "without --allow-approx: %s", r.err);
    cr_expect(strstr(r.err, "linear_before_reset=0"), "%s", r.err);
    tool_result_free(&r);

    r = run_tool("convert", in, out, "--allow-approx", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.err, "approximated module gru_1: gate activation HardSigmoid(0.2, 0.5) -> Sigmoid; "
                            "GRU reset-before -> reset-after; outputs differ by up to "),
              "%s", r.err);
    double printed = -1;
    const char *at = strstr(r.err, "differ by up to ");
    cr_assert(at && sscanf(at, "differ by up to %lf abs", &printed) == 1, "%s", r.err);
    tool_result_free(&r);

    /* Same names, dtypes and bytes as the Keras model: only the maths moved. */
    require_same_tensors(in, out);
    /* The printed error is what validate measures between IN and OUT. */
    rnnck_model *a, *b;
    cr_assert_eq(rnnck_open(in, NULL, &a), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_open(out, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_validate_opts vo;
    rnnck_validate_opts_init(&vo);
    vo.diagnose = 0;
    rnnck_validation *v;
    cr_assert_eq(rnnck_validate(a, b, &vo, &v), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_not(rnnck_validation_passed(v));
    double worst = 0;
    for (size_t i = 0; i < rnnck_validation_row_count(v); i++)
        if (rnnck_validation_row_at(v, i)->err.max_abs > worst) worst = rnnck_validation_row_at(v, i)->err.max_abs;
    cr_expect_gt(worst, 1e-3);
    cr_expect_leq(printed > worst ? printed - worst : worst - printed, 1e-3 * worst, "printed %g, validate %g",
                  printed, worst);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    rnnck_model_free(b);
    free(in);
    free(out);
}

Test(cli_allow_approx, exact_conversions_are_unchanged_and_structure_stays_refused, .init = test_dir_setup,
     .fini = test_dir_teardown) {
    char *in = fixture_path("pytorch/lstm_bare.pt"), *out = path_join(test_dir, "same.pt");
    tool_result r = run_tool("convert", in, out, "--allow-approx", NULL);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_null(strstr(r.err, "approximated"), "an exact conversion printed: %s", r.err);
    tool_result_free(&r);
    require_same_tensors(in, out);
    free(in);

    in = fixture_path("keras/v11/bilstm_merge_sum.h5");
    char *out2 = path_join(test_dir, "sum.pt");
    r = run_tool("convert", in, out2, "--allow-approx", NULL);
    cr_expect_eq(r.exit_code, 3, "%s", r.err);
    cr_expect(strstr(r.err, "merge mode") && strstr(r.err, "no torch.nn module approximates it"), "%s", r.err);
    cr_expect_neq(access(out2, F_OK), 0, "a refused conversion left %s", out2);
    tool_result_free(&r);
    free(in);
    free(out);
    free(out2);
}
