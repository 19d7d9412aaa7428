/* TensorFlow cells (formats/tf/tf_cells.c, tf_names.c): variables with TF's
 * exact names and shapes, built in C, become modules whose parameters are
 * the documented transform of the variables bit for bit, and whose forward
 * pass matches NumPy goldens written from TF's equations
 * (fixtures/tf/make_tf_goldens.py) and TensorFlow.js's tf.basicLSTMCell
 * (fixtures/tf/make_tfjs_goldens.js); the real checkpoints of
 * fixtures/tf/real convert and match their goldens; bad input is refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/state_dict.h"
#include "helpers/testutil.h"
#include "rnnck.h"
#include "tf/tf_bundle.h"
#include "tf/tf_cells.h"
#include "forward/rec_gemm.h"

#define ATOL 2e-5
#define RTOL 2e-4

/* ------------------------------------------------------------ helpers */

static rnnck_tensor *rand_tensor(int ndim, const int64_t *shape, unsigned seed) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, ndim, shape, &t), RNNCK_OK);
    float *p = rnnck_tensor_data(t);
    unsigned s = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < rnnck_tensor_numel(t); i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)((s >> 8) % 20001) / 10000.0f - 1.0f;
    }
    return t;
}

/* Adds a random variable of shape (d0) or (d0, d1) under `name`. */
static rnnck_tensor *add_var(rnnck__sd *sd, const char *name, int64_t d0, int64_t d1) {
    static unsigned seed = 1;
    int64_t shape[2] = {d0, d1};
    rnnck_tensor *t = rand_tensor(d1 < 0 ? 1 : 2, shape, seed++);
    cr_assert_eq(rnnck__sd_add_tensor(sd, name, t), RNNCK_OK);
    rnnck_tensor_free(t);
    return sd->items[sd->n - 1].t;
}

/* An LSTM cell's kernel (in + H, 4H) and bias (4H) under scope. */
static rnnck_tensor *add_lstm(rnnck__sd *sd, const char *scope, int64_t in, int64_t H) {
    char k[300], b[300];
    snprintf(k, sizeof k, "%s/kernel", scope);
    snprintf(b, sizeof b, "%s/bias", scope);
    rnnck_tensor *t = add_var(sd, k, in + H, 4 * H);
    add_var(sd, b, 4 * H, -1);
    return t;
}

static rnnck_status build(rnnck__sd *sd, const char *const *sets, unsigned flags, rnnck_model **m) {
    rnnck_open_opts o = {0};
    o.sets = sets;
    o.flags = flags;
    return rnnck__tf_cells_build(sd, "test.ckpt", &o, m);
}

/* The variables a test builds (a fresh list per test). */
static rnnck__sd vars;
static void vars_init(void) { rnnck__sd_init_for(&vars, NULL, "t"); }
static void vars_fini(void) { rnnck__sd_free(&vars); }

/* Building vars with one override (or none) is refused with `status`, and
 * the message holds `words`. */
static void expect_refused(const char *set, rnnck_status status, const char *words) {
    const char *sets[] = {set, NULL};
    rnnck_model *m = NULL;
    cr_assert_eq(build(&vars, set ? sets : NULL, 0, &m), status, "%s", rnnck_errmsg());
    cr_assert(strstr(rnnck_errmsg(), words), "%s", rnnck_errmsg());
    cr_assert_null(m);
}

static size_t module_named(const rnnck_model *m, const char *name) {
    size_t k;
    cr_assert_eq(rnnck_model_find_module(m, name, &k), RNNCK_OK, "no module %s: %s", name, rnnck_errmsg());
    return k;
}

static const float *param_data(rnnck_model *m, size_t mod, rnnck_param kind, int64_t layer, int rev) {
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_param(m, mod, kind, layer, rev, &t), RNNCK_OK, "%s", rnnck_errmsg());
    return rnnck_tensor_cdata(t);
}

static int bits_eq(float a, float b) { return !memcmp(&a, &b, sizeof a); }

/* PyTorch row r (gate block r / H in PyTorch's order `to`) of a weight is
 * column (pos of that gate in `from`) * H + r % H of the TF kernel, read at
 * kernel row row0 + c. Checks every element bit for bit. */
static void expect_kernel_transform(const float *w, const rnnck_tensor *k, int64_t row0, int64_t ncols_w,
                                    int64_t H, const char *from, const char *to) {
    int64_t C = rnnck_tensor_dim(k, 1);
    const float *kd = rnnck_tensor_cdata(k);
    int G = (int)strlen(to);
    for (int64_t r = 0; r < G * H; r++) {
        int64_t g = r / H, u = r % H;
        int64_t fg = strchr(from, to[g]) - from;
        for (int64_t c = 0; c < ncols_w; c++)
            cr_assert(bits_eq(w[r * ncols_w + c], kd[(row0 + c) * C + fg * H + u]), "element (%lld, %lld) differs",
                      (long long)r, (long long)c);
    }
}

static void expect_vector_transform(const float *b, const rnnck_tensor *v, int64_t H, const char *from,
                                    const char *to) {
    const float *vd = rnnck_tensor_cdata(v);
    int G = (int)strlen(to);
    for (int64_t r = 0; r < G * H; r++) {
        int64_t fg = strchr(from, to[r / H]) - from;
        cr_assert(bits_eq(b[r], vd[fg * H + r % H]), "element %lld differs", (long long)r);
    }
}

static void expect_zero(const float *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) cr_assert_eq(p[i], 0.0f, "element %lld is not zero", (long long)i);
}


/* --------------------------------------------------------- the maths */

Test(tf_cells, basic_lstm_cell_kernel_is_split_transposed_and_reordered_bit_exact, .init = vars_init, .fini = vars_fini) {
    int64_t I = 3, H = 4;
    rnnck_tensor *k = add_var(&vars, "rnn/basic_lstm_cell/kernel", I + H, 4 * H);
    rnnck_tensor *b = add_var(&vars, "rnn/basic_lstm_cell/bias", 4 * H, -1);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod = module_named(m, "rnn.basic_lstm_cell");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    cr_assert_eq(info->cell, RNNCK_CELL_LSTM);
    cr_assert_eq(info->input_size, I);
    cr_assert_eq(info->hidden_size, H);
    cr_assert_eq(info->forget_bias, 1.0, "BasicLSTMCell's default forget_bias is 1.0");
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, 0, 0), k, 0, I, H, "igfo", "ifgo");
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_HH, 0, 0), k, I, H, H, "igfo", "ifgo");
    expect_vector_transform(param_data(m, mod, RNNCK_PARAM_BIAS_IH, 0, 0), b, H, "igfo", "ifgo");
    expect_zero(param_data(m, mod, RNNCK_PARAM_BIAS_HH, 0, 0), 4 * H);
    cr_assert_eq(rnnck__export_check(m, "t"), RNNCK_OK, "a BasicLSTMCell is expressible in PyTorch: %s",
                 rnnck_errmsg());
    rnnck_model_free(m);
}

Test(tf_cells, tf012_names_make_one_multi_layer_module_named_after_the_wrapper, .init = vars_init, .fini = vars_fini) {
    int64_t I = 5, H = 3;
    rnnck_tensor *k1 = NULL;
    for (int l = 0; l < 2; l++) {
        char n[200];
        snprintf(n, sizeof n, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Matrix", l);
        rnnck_tensor *k = add_var(&vars, n, (l ? H : I) + H, 4 * H);
        if (l) k1 = k;
        snprintf(n, sizeof n, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Bias", l);
        add_var(&vars, n, 4 * H, -1);
    }
    add_var(&vars, "rnnlm/softmax_w", H, 7);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(m), 1);
    size_t mod = module_named(m, "rnnlm.MultiRNNCell");
    cr_assert_eq(rnnck_model_module(m, mod)->num_layers, 2);
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, 1, 0), k1, 0, H, H, "igfo", "ifgo");
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "rnnlm.softmax_w", &t), RNNCK_OK, "other variables stay plain tensors");
    rnnck_model_free(m);
}

Test(tf_cells, lstm_cell_peepholes_and_projection_map_to_schema_tensors, .init = vars_init, .fini = vars_fini) {
    int64_t I = 5, H = 6, P = 4;
    rnnck_tensor *k = add_var(&vars, "rnn/lstm_cell/kernel", I + P, 4 * H);
    add_var(&vars, "rnn/lstm_cell/bias", 4 * H, -1);
    rnnck_tensor *wi = add_var(&vars, "rnn/lstm_cell/w_i_diag", H, -1);
    rnnck_tensor *wf = add_var(&vars, "rnn/lstm_cell/w_f_diag", H, -1);
    rnnck_tensor *wo = add_var(&vars, "rnn/lstm_cell/w_o_diag", H, -1);
    rnnck_tensor *pk = add_var(&vars, "rnn/lstm_cell/projection/kernel", H, P);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod = module_named(m, "rnn.lstm_cell");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    cr_assert(info->peepholes);
    cr_assert_eq(info->proj_size, P);
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_HH, 0, 0), k, I, P, H, "igfo", "ifgo");
    const float *peep = param_data(m, mod, RNNCK_PARAM_PEEPHOLE, 0, 0);
    const rnnck_tensor *d[3] = {wi, wf, wo};
    for (int g = 0; g < 3; g++)
        for (int64_t u = 0; u < H; u++) cr_assert(bits_eq(peep[g * H + u], ((const float *)rnnck_tensor_cdata(d[g]))[u]));
    const float *hr = param_data(m, mod, RNNCK_PARAM_WEIGHT_HR, 0, 0), *pd = rnnck_tensor_cdata(pk);
    for (int64_t r = 0; r < P; r++)
        for (int64_t c = 0; c < H; c++) cr_assert(bits_eq(hr[r * H + c], pd[c * P + r]), "weight_hr is the transpose");
    cr_assert_eq(rnnck__export_check(m, "t"), RNNCK_E_INEXACT, "PyTorch has no peepholes");
    rnnck_model_free(m);
}

Test(tf_cells, gru_cell_is_reset_before_and_refused_by_pytorch_export, .init = vars_init, .fini = vars_fini) {
    int64_t I = 4, H = 5;
    rnnck_tensor *gk = add_var(&vars, "rnn/gru_cell/gates/kernel", I + H, 2 * H);
    rnnck_tensor *gb = add_var(&vars, "rnn/gru_cell/gates/bias", 2 * H, -1);
    rnnck_tensor *ck = add_var(&vars, "rnn/gru_cell/candidate/kernel", I + H, H);
    rnnck_tensor *cb = add_var(&vars, "rnn/gru_cell/candidate/bias", H, -1);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod = module_named(m, "rnn.gru_cell");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    cr_assert_eq(info->cell, RNNCK_CELL_GRU);
    cr_assert_eq(info->linear_before_reset, 0);
    const float *w = param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, 0, 0);
    const float *gkd = rnnck_tensor_cdata(gk), *ckd = rnnck_tensor_cdata(ck);
    for (int64_t r = 0; r < 3 * H; r++)
        for (int64_t c = 0; c < I; c++) {
            float want = r < 2 * H ? gkd[c * 2 * H + r] : ckd[c * H + (r - 2 * H)]; /* r, u(=z), candidate */
            cr_assert(bits_eq(w[r * I + c], want));
        }
    const float *b = param_data(m, mod, RNNCK_PARAM_BIAS_IH, 0, 0);
    for (int64_t r = 0; r < 3 * H; r++)
        cr_assert(bits_eq(b[r], r < 2 * H ? ((const float *)rnnck_tensor_cdata(gb))[r]
                                          : ((const float *)rnnck_tensor_cdata(cb))[r - 2 * H]));
    cr_assert_eq(rnnck__export_check(m, "t"), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "linear_before_reset"), "%s", rnnck_errmsg());
    rnnck_model_free(m);
}

Test(tf_cells, lstm_block_fused_cell_scopes_read_as_lstm_cell, .init = vars_init, .fini = vars_fini) {
    rnnck_tensor *k = add_lstm(&vars, "enc/lstm_fused_cell", 3, 4);
    add_lstm(&vars, "dec/LSTMBlockFusedCell", 4, 4);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod = module_named(m, "enc.lstm_fused_cell");
    cr_assert_eq(rnnck_model_module(m, mod)->forget_bias, 1.0);
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_HH, 0, 0), k, 3, 4, 4, "igfo", "ifgo");
    cr_assert_eq(rnnck_model_module(m, module_named(m, "dec.LSTMBlockFusedCell"))->input_size, 4);
    rnnck_model_free(m);
}

Test(tf_cells, cudnn_compatible_cells_have_no_forget_bias_and_gru_is_pytorch, .init = vars_init, .fini = vars_fini) {
    int64_t I = 3, H = 4;
    add_var(&vars, "a/cudnn_compatible_lstm_cell/kernel", I + H, 4 * H);
    add_var(&vars, "a/cudnn_compatible_lstm_cell/bias", 4 * H, -1);
    add_var(&vars, "b/cudnn_compatible_gru_cell/gates/kernel", I + H, 2 * H);
    add_var(&vars, "b/cudnn_compatible_gru_cell/gates/bias", 2 * H, -1);
    add_var(&vars, "b/cudnn_compatible_gru_cell/candidate/input_projection/kernel", I, H);
    add_var(&vars, "b/cudnn_compatible_gru_cell/candidate/input_projection/bias", H, -1);
    add_var(&vars, "b/cudnn_compatible_gru_cell/candidate/hidden_projection/kernel", H, H);
    rnnck_tensor *hb = add_var(&vars, "b/cudnn_compatible_gru_cell/candidate/hidden_projection/bias", H, -1);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module(m, module_named(m, "a.cudnn_compatible_lstm_cell"))->forget_bias, 0.0);
    size_t g = module_named(m, "b.cudnn_compatible_gru_cell");
    cr_assert_eq(rnnck_model_module(m, g)->linear_before_reset, 1);
    const float *bhh = param_data(m, g, RNNCK_PARAM_BIAS_HH, 0, 0);
    expect_zero(bhh, 2 * H);
    for (int64_t u = 0; u < H; u++) cr_assert(bits_eq(bhh[2 * H + u], ((const float *)rnnck_tensor_cdata(hb))[u]));
    cr_assert_eq(rnnck__export_check(m, "t"), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
}

Test(tf_cells, forget_bias_set_overrides_the_default, .init = vars_init, .fini = vars_fini) {
    add_lstm(&vars, "enc/lstm_cell", 3, 4);
    rnnck_model *m;
    const char *sets[] = {"enc.lstm_cell.forget_bias=0.25", NULL};
    cr_assert_eq(build(&vars, sets, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module(m, 0)->forget_bias, 0.25);
    rnnck_model_free(m);
    expect_refused("enc.lstm_cell.forget_bias=abc", RNNCK_E_USAGE, "forget_bias must be a finite number");
    expect_refused("dec.forget_bias=1", RNNCK_E_USAGE, "no recurrent module named 'dec'");
}

Test(tf_cells, cell_clip_and_proj_clip_set_are_kept_on_lstm_cells, .init = vars_init, .fini = vars_fini) {
    add_lstm(&vars, "enc/lstm_cell", 3, 4);
    add_var(&vars, "enc/lstm_cell/projection/kernel", 4, 2);
    rnnck_model *m;
    const char *sets[] = {"enc.lstm_cell.cell_clip=3", "enc.lstm_cell.proj_clip=0.25", NULL};
    cr_assert_eq(build(&vars, sets, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    cr_assert_eq(info->cell_clip, 3.0);
    cr_assert_eq(info->proj_clip, 0.25);
    cr_assert_eq(info->clip, 0.0, "TF's cell_clip is not ONNX's gate clip");
    cr_assert_not(rnnck_module_info_is_pytorch(info));
    rnnck_model_free(m);
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert(rnnck_model_module(m, 0)->cell_clip == 0 && rnnck_model_module(m, 0)->proj_clip == 0,
              "not stored in the checkpoint: no clip unless --set says so");
    rnnck_model_free(m);
    static const char *const bad[] = {"enc.lstm_cell.cell_clip=0", "enc.lstm_cell.cell_clip=-1",
                                      "enc.lstm_cell.cell_clip=abc", "enc.lstm_cell.proj_clip=inf",
                                      "enc.lstm_cell.proj_clip=nan", "enc.lstm_cell.cell_clip="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_refused(bad[i], RNNCK_E_USAGE, "must be a finite number > 0");
}

Test(tf_cells, proj_clip_without_num_proj_and_clips_on_cells_without_them_are_refused, .init = vars_init,
     .fini = vars_fini) {
    add_lstm(&vars, "enc/lstm_cell", 3, 4);
    add_lstm(&vars, "dec/basic_lstm_cell", 3, 4);
    add_var(&vars, "gru/gru_cell/gates/kernel", 3 + 4, 8);
    add_var(&vars, "gru/gru_cell/gates/bias", 8, -1);
    add_var(&vars, "gru/gru_cell/candidate/kernel", 3 + 4, 4);
    add_var(&vars, "gru/gru_cell/candidate/bias", 4, -1);
    /* TF applies proj_clip only inside its num_proj branch: without a
     * projection it would be ignored, so a --set of it is a mistake. */
    expect_refused("enc.lstm_cell.proj_clip=1", RNNCK_E_USAGE, "has no projection");
    expect_refused("dec.basic_lstm_cell.cell_clip=1", RNNCK_E_USAGE,
                   "is not a TF LSTMCell, LSTMBlockCell or LSTMBlockFusedCell");
    expect_refused("gru.gru_cell.cell_clip=1", RNNCK_E_USAGE, "is not a TF LSTMCell");
}

/* ------------------------------------------------------------ structure */

Test(tf_cells, bidirectional_around_two_multi_rnn_cells_makes_two_modules_bw_reverse_only, .init = vars_init, .fini = vars_fini) {
    int64_t I = 3, H = 4;
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 2; l++) {
            char n[200];
            snprintf(n, sizeof n, "bidirectional_rnn/%s/multi_rnn_cell/cell_%d/lstm_cell", d ? "bw" : "fw", l);
            add_lstm(&vars, n, l ? H : I, H);
        }
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(m), 2);
    const rnnck_module_info *fw = rnnck_model_module(m, module_named(m, "bidirectional_rnn.fw.multi_rnn_cell"));
    const rnnck_module_info *bw = rnnck_model_module(m, module_named(m, "bidirectional_rnn.bw.multi_rnn_cell"));
    cr_assert_eq(fw->reverse, 0);
    cr_assert_eq(bw->reverse, 1);
    cr_assert_eq(bw->num_layers, 2);
    cr_assert_eq(bw->bidirectional, 0);
    cr_assert_eq(rnnck_model_note_count(m), 0);
    rnnck_model_free(m);
}

Test(tf_cells, stack_bidirectional_rnn_is_one_module_whose_upper_layers_take_2h, .init = vars_init, .fini = vars_fini) {
    int64_t I = 3, H = 4;
    for (int l = 0; l < 3; l++)
        for (int d = 0; d < 2; d++) {
            char n[200];
            snprintf(n, sizeof n, "s/stack_bidirectional_rnn/cell_%d/bidirectional_rnn/%s/basic_lstm_cell", l,
                     d ? "bw" : "fw");
            add_lstm(&vars, n, l ? 2 * H : I, H);
        }
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck_module_info *info = rnnck_model_module(m, module_named(m, "s.stack_bidirectional_rnn"));
    cr_assert_eq(info->num_layers, 3);
    cr_assert_eq(info->bidirectional, 1);
    rnnck_model_free(m);
}

Test(tf_cells, bidirectional_scope_with_fw_variables_only_shares_them_and_says_so, .init = vars_init, .fini = vars_fini) {
    rnnck_tensor *k = add_lstm(&vars, "b/bidirectional_rnn/fw/basic_lstm_cell", 3, 4);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod = module_named(m, "b.bidirectional_rnn");
    cr_assert_eq(rnnck_model_module(m, mod)->bidirectional, 1);
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, 0, 1), k, 0, 3, 4, "igfo", "ifgo");
    cr_assert_eq(rnnck_model_note_count(m), 1);
    cr_assert(strstr(rnnck_model_note(m, 0), "b.bidirectional_rnn"), "%s", rnnck_model_note(m, 0));
    cr_assert(strstr(rnnck_model_note(m, 0), "only fw variables"), "%s", rnnck_model_note(m, 0));
    rnnck_model_free(m);
}

Test(tf_cells, a_multi_rnn_cell_with_a_missing_layer_is_refused, .init = vars_init, .fini = vars_fini) {
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_0/lstm_cell", 3, 4);
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_2/lstm_cell", 4, 4);
    expect_refused(NULL, RNNCK_E_FORMAT, "no cell");
}

Test(tf_cells, a_high_layer_number_alone_is_refused_before_any_table_is_sized, .init = vars_init,
     .fini = vars_fini) {
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_1023/lstm_cell", 3, 4);
    expect_refused(NULL, RNNCK_E_FORMAT, "names layer 1023 but has 1 cells");
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_1024/lstm_cell", 3, 4);
    expect_refused(NULL, RNNCK_E_FORMAT, "layer 1024 (at most 1024)");
}

Test(tf_cells, a_multi_rnn_cell_of_unlike_cells_becomes_one_module_per_layer_and_says_so, .init = vars_init,
     .fini = vars_fini) {
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_0/lstm_cell", 3, 4);
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_1/lstm_cell", 4, 6);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(m), 2);
    cr_assert_eq(rnnck_model_module(m, module_named(m, "rnn.multi_rnn_cell.cell_1"))->hidden_size, 6);
    cr_assert_eq(rnnck_model_note_count(m), 1);
    cr_assert(strstr(rnnck_model_note(m, 0), "rnn.multi_rnn_cell.<layer>"), "%s", rnnck_model_note(m, 0));
    rnnck_model_free(m);
    expect_refused("rnn.multi_rnn_cell.forget_bias=0", RNNCK_E_USAGE, "name one of them");
}

Test(tf_cells, a_bidirectional_scope_with_bw_variables_only_is_refused, .init = vars_init, .fini = vars_fini) {
    add_lstm(&vars, "b/bidirectional_rnn/bw/basic_lstm_cell", 3, 4);
    expect_refused(NULL, RNNCK_E_FORMAT, "no forward cell for layer 0");
}

Test(tf_cells, a_kernel_of_the_wrong_shape_is_refused_naming_the_variable, .init = vars_init, .fini = vars_fini) {
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_0/lstm_cell", 3, 4);
    add_lstm(&vars, "rnn/multi_rnn_cell/cell_1/lstm_cell", 5, 4); /* layer 1 takes H=4: rows 8, not 9 */
    expect_refused(NULL, RNNCK_E_FORMAT, "rnn/multi_rnn_cell/cell_1/lstm_cell/kernel has shape (9, 16)");
    cr_assert(strstr(rnnck_errmsg(), "(8, 16)"), "%s", rnnck_errmsg());
}

Test(tf_cells, optimizer_slots_stay_plain_tensors_or_are_dropped, .init = vars_init, .fini = vars_fini) {
    add_lstm(&vars, "rnn/lstm_cell", 3, 4);
    add_var(&vars, "rnn/lstm_cell/kernel/Adam", 7, 16);
    add_var(&vars, "rnn/lstm_cell/kernel/Adam_1", 7, 16);
    add_var(&vars, "rnn/lstm_cell/bias/Momentum", 16, -1);
    add_var(&vars, "beta1_power", 1, -1);
    add_var(&vars, "global_step", 1, -1);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(m), 1);
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "optimizer.rnn.lstm_cell.kernel.Adam_1", &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_find(m, "optimizer.beta1_power", &t), RNNCK_OK);
    size_t kept = rnnck_model_tensor_count(m);
    rnnck_model_free(m);
    cr_assert_eq(build(&vars, NULL, RNNCK_OPEN_DROP_OPTIMIZER, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(m), kept - 4);
    cr_assert_eq(rnnck_model_find(m, "optimizer.beta1_power", &t), RNNCK_E_NOTFOUND);
    cr_assert_eq(rnnck_model_find(m, "global_step", &t), RNNCK_OK, "a step counter is not optimizer state");
    rnnck_model_free(m);
}

/* ------------------------------------------------------- opaque cuDNN */

static void add_cudnn_pair(rnnck__sd *sd, int64_t I, int64_t H, bool with_canonical) {
    int64_t n = 2 * (4 * H * I + 4 * H * H + 8 * H);
    add_var(sd, "m/cudnn_lstm/opaque_kernel", n, -1);
    if (!with_canonical) return;
    for (int d = 0; d < 2; d++) {
        char k[200];
        snprintf(k, sizeof k, "m/cudnn_lstm/stack_bidirectional_rnn/cell_0/bidirectional_rnn/%s/"
                 "cudnn_compatible_lstm_cell", d ? "bw" : "fw");
        add_lstm(sd, k, I, H);
    }
}

Test(tf_cells, opaque_cudnn_buffer_takes_its_sizes_from_the_canonical_copy, .init = vars_init, .fini = vars_fini) {
    int64_t I = 3, H = 5;
    add_cudnn_pair(&vars, I, H, true);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t mod = module_named(m, "m.cudnn_lstm.opaque_kernel");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    cr_assert_eq(info->hidden_size, H);
    cr_assert_eq(info->input_size, I);
    cr_assert_eq(info->bidirectional, 1);
    cr_assert_eq(info->forget_bias, 0.0);
    /* canonical layout: fw W (4H, I), fw R (4H, H), bw W, bw R, then biases */
    const float *buf = rnnck_tensor_cdata(vars.items[0].t);
    const float *w_bw = param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, 0, 1);
    for (int64_t i = 0; i < 4 * H * I; i++) cr_assert(bits_eq(w_bw[i], buf[4 * H * I + 4 * H * H + i]));
    const float *bhh_bw = param_data(m, mod, RNNCK_PARAM_BIAS_HH, 0, 1);
    int64_t wtotal = 2 * (4 * H * I + 4 * H * H);
    for (int64_t i = 0; i < 4 * H; i++) cr_assert(bits_eq(bhh_bw[i], buf[wtotal + 8 * H + 4 * H + i]));
    cr_assert_eq(rnnck__export_check(m, "t"), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
}

Test(tf_cells, opaque_cudnn_buffer_without_sizes_asks_for_them_and_checks_the_count, .init = vars_init, .fini = vars_fini) {
    add_cudnn_pair(&vars, 3, 5, false);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_E_USAGE);
    cr_assert(strstr(rnnck_errmsg(), "--set m.cudnn_lstm.opaque_kernel.hidden_size="), "%s", rnnck_errmsg());
    const char *wrong[] = {"m.cudnn_lstm.opaque_kernel.hidden_size=5", "m.cudnn_lstm.opaque_kernel.input_size=3", NULL};
    cr_assert_eq(build(&vars, wrong, 0, &m), RNNCK_E_FORMAT);
    /* unidirectional 3/5: 4*5*3 + 4*5*5 + 40 = 200; the buffer holds 400 */
    cr_assert(strstr(rnnck_errmsg(), "has 200 parameters, the buffer has 400"), "%s", rnnck_errmsg());
    const char *right[] = {"m.cudnn_lstm.opaque_kernel.hidden_size=5", "m.cudnn_lstm.opaque_kernel.input_size=3", "m.cudnn_lstm.opaque_kernel.bidirectional=true",
                           NULL};
    cr_assert_eq(build(&vars, right, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module(m, 0)->bidirectional, 1);
    rnnck_model_free(m);
}

/* -------------------------------------------------- TF2 object graph */

Test(tf_cells, tf2_object_checkpoint_keras_layers_read_with_tf2_defaults, .init = vars_init, .fini = vars_fini) {
    int64_t I = 3, H = 4;
    rnnck_tensor *k = add_var(&vars, "layer_with_weights-0/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE", I, 4 * H);
    add_var(&vars, "layer_with_weights-0/cell/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE", H, 4 * H);
    add_var(&vars, "layer_with_weights-0/cell/bias/.ATTRIBUTES/VARIABLE_VALUE", 4 * H, -1);
    for (int d = 0; d < 2; d++) {
        char n[200];
        const char *dir = d ? "backward_layer" : "forward_layer";
        snprintf(n, sizeof n, "layer_with_weights-1/%s/cell/kernel/.ATTRIBUTES/VARIABLE_VALUE", dir);
        add_var(&vars, n, 2 * H, 3 * H);
        snprintf(n, sizeof n, "layer_with_weights-1/%s/cell/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE", dir);
        add_var(&vars, n, H, 3 * H);
        snprintf(n, sizeof n, "layer_with_weights-1/%s/cell/bias/.ATTRIBUTES/VARIABLE_VALUE", dir);
        add_var(&vars, n, 2, 3 * H);
    }
    add_var(&vars, "layer_with_weights-2/kernel/.ATTRIBUTES/VARIABLE_VALUE", 2 * H, 2);
    add_var(&vars, "layer_with_weights-0/cell/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE", I, 4 * H);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    size_t l0 = module_named(m, "layer_with_weights-0"), l1 = module_named(m, "layer_with_weights-1");
    const rnnck_module_info *a = rnnck_model_module(m, l0), *b = rnnck_model_module(m, l1);
    cr_assert_eq(a->cell, RNNCK_CELL_LSTM);
    cr_assert_eq(a->act[0][0].kind, RNNCK_ACT_SIGMOID, "TF 2's recurrent_activation is sigmoid");
    expect_kernel_transform(param_data(m, l0, RNNCK_PARAM_WEIGHT_IH, 0, 0), k, 0, I, H, "ifgo", "ifgo");
    cr_assert_eq(b->cell, RNNCK_CELL_GRU);
    cr_assert_eq(b->bidirectional, 1);
    cr_assert_eq(b->linear_before_reset, 1, "a (2, 3H) bias is reset_after=True");
    cr_assert_eq(b->input_size, 2 * H);
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "layer_with_weights-2.kernel", &t), RNNCK_OK);
    rnnck_model_free(m);
    const char *sets[] = {"layer_with_weights-0.recurrent_activation=hard_sigmoid", NULL};
    cr_assert_eq(build(&vars, sets, RNNCK_OPEN_DROP_OPTIMIZER, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module(m, 0)->act[0][0].kind, RNNCK_ACT_HARD_SIGMOID);
    cr_assert_eq(rnnck_model_find(m, "optimizer.layer_with_weights-0.cell.kernel.OPTIMIZER_SLOT.optimizer.m", &t),
                 RNNCK_E_NOTFOUND);
    rnnck_model_free(m);
}

Test(tf_cells, tf_keras_layers_in_tf1_graphs_are_told_apart_from_lstm_cell_by_recurrent_kernel, .init = vars_init,
     .fini = vars_fini) {
    add_var(&vars, "lstm/lstm_cell/kernel", 3, 16);
    add_var(&vars, "lstm/lstm_cell/recurrent_kernel", 4, 16);
    add_var(&vars, "lstm/lstm_cell/bias", 16, -1);
    add_var(&vars, "gru/kernel", 3, 12);
    add_var(&vars, "gru/recurrent_kernel", 4, 12);
    add_var(&vars, "dense/kernel", 4, 2); /* no recurrent_kernel: a plain Dense */
    add_var(&vars, "dense/bias", 2, -1);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    const rnnck_module_info *l = rnnck_model_module(m, module_named(m, "lstm"));
    cr_assert_eq(l->cell, RNNCK_CELL_LSTM);
    cr_assert_eq(l->input_size, 3);
    cr_assert_eq(l->forget_bias, 0.0, "Keras has no run-time forget_bias");
    cr_assert_eq(l->act[0][0].kind, RNNCK_ACT_HARD_SIGMOID, "tf.keras 1.x's default recurrent_activation");
    cr_assert_eq(l->act[0][0].alpha, 0.2);
    const rnnck_module_info *g = rnnck_model_module(m, module_named(m, "gru"));
    cr_assert_eq(g->cell, RNNCK_CELL_GRU);
    cr_assert_eq(g->bias, 0);
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "dense.kernel", &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_module_count(m), 2);
    rnnck_model_free(m);
}

Test(tf_cells, variables_inside_module_groups_move_beside_the_outermost_module, .init = vars_init,
     .fini = vars_fini) {
    add_lstm(&vars, "a/lstm_cell", 3, 4);
    add_lstm(&vars, "a/lstm_cell/b/lstm_cell", 3, 4); /* a module inside another's group */
    add_var(&vars, "a/lstm_cell/x", 2, -1);
    add_var(&vars, "a/lstm_cell/b/lstm_cell/y", 2, -1);
    add_var(&vars, "a/lstm_cell/b/z", 2, -1);
    rnnck_model *m;
    cr_assert_eq(build(&vars, NULL, 0, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "a.lstm_cell_vars.x", &t), RNNCK_OK);
    cr_assert_eq(rnnck_model_find(m, "a.lstm_cell_vars.b.lstm_cell.y", &t), RNNCK_OK, "the outermost module decides");
    cr_assert_eq(rnnck_model_find(m, "a.lstm_cell_vars.b.z", &t), RNNCK_OK);
    rnnck_model_free(m);
}

/* -------------------------------------------------- forward goldens */

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    cr_assert_lt(n, cap, "cases.txt field too long: %s", src);
    memcpy(dst, src, n + 1);
}

/* Elements of got outside the tolerance of want; the first is logged as an
 * error when log_misses (not when a test expects misses: Criterion fails a
 * run that logged an error). */
static int compare(const rnnck_tensor *got, const rnnck_tensor *want, const char *what, double *worst, bool log_misses) {
    cr_assert_eq(rnnck_tensor_numel(got), rnnck_tensor_numel(want), "%s: output size", what);
    int64_t n = rnnck_tensor_numel(want);
    float *g = malloc((size_t)n * sizeof *g), *w = malloc((size_t)n * sizeof *w);
    cr_assert_eq(rnnck_tensor_copy_out(got, RNNCK_F32, g, (size_t)n * sizeof *g), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_copy_out(want, RNNCK_F32, w, (size_t)n * sizeof *w), RNNCK_OK);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)g[i] - w[i]);
        if (e > *worst) *worst = e;
        if (!(e <= ATOL + RTOL * fabs(w[i]))) {
            if (!bad && log_misses) cr_log_error("%s: element %lld: %.9g vs golden %.9g", what, (long long)i, g[i], w[i]);
            bad++;
        }
    }
    free(g);
    free(w);
    return bad;
}

static rnnck_tensor *load_fixture(const char *rel) {
    char full[400];
    snprintf(full, sizeof full, "tf/%s", rel);
    char *path = fixture_path(full);
    rnnck_tensor *t = NULL;
    cr_assert_eq(rnnck_npy_load(path, &t), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
    return t;
}

/* Runs module `module` of m on input (time-major, as the goldens are);
 * "A+B" runs A, then B on A's output. */
static void check_forward(rnnck_model *m, const char *module, rnnck_tensor *x, rnnck_tensor *want, const char *what,
                          double *worst) {
    char chain[200];
    copy_str(chain, sizeof chain, module);
    rnnck_tensor *in = x, *y = NULL;
    for (char *name = strtok(chain, "+"); name; name = strtok(NULL, "+")) {
        size_t mod = module_named(m, name);
        const rnnck_module_info *info = rnnck_model_module(m, mod);
        cr_assert_eq(info->batch_first, 0, "%s: goldens are time-major", what);
        rnnck_tensor *hn = NULL, *cn = NULL;
        cr_assert_eq(rnnck_forward(m, mod, in, NULL, NULL, NULL, NULL, &y, &hn, &cn), RNNCK_OK, "%s: %s", what,
                     rnnck_errmsg());
        rnnck_tensor_free(hn);
        rnnck_tensor_free(cn);
        if (in != x) rnnck_tensor_free(in);
        in = y;
    }
    cr_assert_eq(compare(y, want, what, worst, true), 0, "%s: output differs from the golden", what);
    rnnck_tensor_free(y);
}

typedef struct tcase {
    char name[128], module[200], real[200], input[300], output[300];
    char vars[40][2][300];
    char sets[6][200];
    int nvars, nsets;
} tcase;

static int read_cases(tcase *cs, int max) {
    char *path = fixture_path("tf/cases.txt");
    FILE *fp = fopen(path, "r");
    cr_assert(fp, "cannot open %s", path);
    free(path);
    char line[1024];
    int n = 0;
    tcase *c = NULL;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || !line[0]) continue;
        if (!strncmp(line, "case ", 5)) {
            cr_assert_lt(n, max);
            c = &cs[n++];
            memset(c, 0, sizeof *c);
            copy_str(c->name, sizeof c->name, line + 5);
        } else if (c && !strncmp(line, "var ", 4)) {
            cr_assert_lt(c->nvars, 40);
            cr_assert_eq(sscanf(line + 4, "%299s %299s", c->vars[c->nvars][0], c->vars[c->nvars][1]), 2);
            c->nvars++;
        } else if (c && !strncmp(line, "set ", 4)) {
            copy_str(c->sets[c->nsets++], sizeof c->sets[0], line + 4);
        } else if (c && !strncmp(line, "real ", 5)) {
            copy_str(c->real, sizeof c->real, line + 5);
        } else if (c && !strncmp(line, "module ", 7)) {
            copy_str(c->module, sizeof c->module, line + 7);
        } else if (c && !strncmp(line, "input ", 6)) {
            copy_str(c->input, sizeof c->input, line + 6);
        } else if (c && !strncmp(line, "output ", 7)) {
            copy_str(c->output, sizeof c->output, line + 7);
        }
    }
    fclose(fp);
    return n;
}

/* ---------------------------------------------------- real checkpoints */

/* A bundle under fixtures/tf, through rnnck_open (format detected). */
static rnnck_model *open_bundle(const char *rel, unsigned flags, const char *const *sets) {
    char full[300];
    snprintf(full, sizeof full, "tf/%s", rel);
    char *path = fixture_path(full);
    rnnck_open_opts o = {0};
    o.flags = flags;
    o.sets = sets;
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(path, &o, &m), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
    return m;
}

static rnnck_model *open_real(const char *rel, unsigned flags) {
    char full[300];
    snprintf(full, sizeof full, "real/%s", rel);
    return open_bundle(full, flags, NULL);
}

/* The model of a synthetic case: its variables built in C, its --set. */
static rnnck_model *synth_model(const tcase *c) {
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, NULL, c->name);
    for (int v = 0; v < c->nvars; v++) {
        rnnck_tensor *t = load_fixture(c->vars[v][1]);
        cr_assert_eq(rnnck__sd_add_tensor(&sd, c->vars[v][0], t), RNNCK_OK);
        rnnck_tensor_free(t);
    }
    const char *sets[7] = {NULL};
    for (int s = 0; s < c->nsets; s++) sets[s] = c->sets[s];
    rnnck_model *m;
    cr_assert_eq(build(&sd, sets, 0, &m), RNNCK_OK, "%s: %s", c->name, rnnck_errmsg());
    rnnck__sd_free(&sd);
    return m;
}

/* Every case of cases.txt of one kind (real checkpoints or synthetic). */
static void run_goldens(bool real, int at_least, const char *what) {
    static tcase cs[64];
    int n = read_cases(cs, 64), done = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        tcase *c = &cs[i];
        if (!c->real[0] != !real) continue;
        const char *sets[7] = {NULL};
        for (int s = 0; s < c->nsets; s++) sets[s] = c->sets[s];
        rnnck_model *m = real ? open_bundle(c->real, 0, sets) : synth_model(c);
        rnnck_tensor *x = load_fixture(c->input), *want = load_fixture(c->output);
        check_forward(m, c->module, x, want, c->name, &worst);
        rnnck_tensor_free(x);
        rnnck_tensor_free(want);
        rnnck_model_free(m);
        done++;
    }
    cr_assert_geq(done, at_least, "cases.txt lists the %s", what);
    cr_log_info("%s: %d module goldens, max |error| %.3g", what, done, worst);
}

Test(tf_cells, synthetic_cells_match_numpy_and_tfjs_goldens_from_tf_equations) {
    run_goldens(false, 20, "synthetic TF cells");
}

Test(tf_cells, bundles_real_and_written_match_their_tf_semantics_goldens) {
    run_goldens(true, 7, "bundles: real TF checkpoints (NumPy and TF.js goldens), a TF2 object checkpoint, a shared bidirectional scope");
}

/* The raw variables of a bundle, as the container reader gives them. */
static void raw_vars(const char *rel, rnnck__sd *sd) {
    char full[300];
    snprintf(full, sizeof full, "tf/%s", rel);
    char *path = fixture_path(full);
    rnnck__sd_init_for(sd, NULL, path);
    cr_assert_eq(rnnck__tf_bundle_read(path, NULL, sd, NULL), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
}

static const rnnck_tensor *raw(const rnnck__sd *sd, const char *name) {
    for (size_t i = 0; i < sd->n; i++)
        if (!strcmp(sd->items[i].name, name)) return sd->items[i].t;
    cr_assert_fail("bundle has no variable %s", name);
    return NULL;
}

Test(tf_cells, real_charrnn_tensors_are_the_bundle_bytes_after_the_documented_transform) {
    rnnck__sd sd;
    raw_vars("real/charrnn_calebfoss/model.ckpt-46499", &sd);
    rnnck_model *m = open_real("charrnn_calebfoss/model.ckpt-46499", 0);
    size_t mod = module_named(m, "rnnlm.MultiRNNCell");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    cr_assert_eq(info->num_layers, 2);
    cr_assert_eq(info->input_size, 128);
    cr_assert_eq(info->hidden_size, 128);
    cr_assert_eq(info->forget_bias, 1.0);
    for (int l = 0; l < 2; l++) {
        char k[200], b[200];
        snprintf(k, sizeof k, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Matrix", l);
        snprintf(b, sizeof b, "rnnlm/MultiRNNCell/Cell%d/BasicLSTMCell/Linear/Bias", l);
        expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, l, 0), raw(&sd, k), 0, 128, 128, "igfo", "ifgo");
        expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_HH, l, 0), raw(&sd, k), 128, 128, 128, "igfo",
                                "ifgo");
        expect_vector_transform(param_data(m, mod, RNNCK_PARAM_BIAS_IH, l, 0), raw(&sd, b), 128, "igfo", "ifgo");
        expect_zero(param_data(m, mod, RNNCK_PARAM_BIAS_HH, l, 0), 4 * 128);
    }
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "rnnlm.embedding", &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_find(m, "optimizer.rnnlm.embedding.Adam", &t), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    m = open_real("charrnn_calebfoss/model.ckpt-46499", RNNCK_OPEN_DROP_OPTIMIZER);
    cr_assert_eq(rnnck_model_find(m, "rnnlm.embedding", &t), RNNCK_OK, "%s", rnnck_errmsg());
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++)
        cr_assert_not(strstr(rnnck_tensor_name(rnnck_model_tensor(m, i)), "Adam"), "%s kept",
                      rnnck_tensor_name(rnnck_model_tensor(m, i)));
    rnnck_model_free(m);
    rnnck__sd_free(&sd);
}

Test(tf_cells, real_tidigits_gru_stack_is_three_reset_before_layers_with_exact_tensors) {
    rnnck__sd sd;
    raw_vars("real/tidigits/model.ckpt", &sd);
    rnnck_model *m = open_real("tidigits/model.ckpt", 0);
    size_t mod = module_named(m, "rnn.multi_rnn_cell");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    cr_assert_eq(info->cell, RNNCK_CELL_GRU);
    cr_assert_eq(info->num_layers, 3);
    cr_assert_eq(info->input_size, 39);
    cr_assert_eq(info->hidden_size, 120);
    cr_assert_eq(info->linear_before_reset, 0);
    for (int l = 0; l < 3; l++) {
        char n[200];
        int64_t I = l ? 120 : 39, H = 120;
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/gates/weights", l);
        const float *gk = rnnck_tensor_cdata(raw(&sd, n));
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/candidate/weights", l);
        const float *ck = rnnck_tensor_cdata(raw(&sd, n));
        const float *whh = param_data(m, mod, RNNCK_PARAM_WEIGHT_HH, l, 0);
        for (int64_t r = 0; r < 3 * H; r++)
            for (int64_t c = 0; c < H; c++)
                cr_assert(bits_eq(whh[r * H + c], r < 2 * H ? gk[(I + c) * 2 * H + r] : ck[(I + c) * H + r - 2 * H]));
        snprintf(n, sizeof n, "rnn/multi_rnn_cell/cell_%d/gru_cell/gates/biases", l);
        const float *gb = rnnck_tensor_cdata(raw(&sd, n));
        const float *bih = param_data(m, mod, RNNCK_PARAM_BIAS_IH, l, 0);
        for (int64_t r = 0; r < 2 * H; r++) cr_assert(bits_eq(bih[r], gb[r]));
    }
    rnnck_model_free(m);
    rnnck__sd_free(&sd);
}

Test(tf_cells, real_rnn_ctc_opaque_buffer_decodes_to_its_canonical_copies_bit_for_bit) {
    rnnck_model *m = open_real("rnn_ctc/model--6", 0);
    size_t op = module_named(m, "rnn_ctc_model.outputs.cudnn_lstm.opaque_kernel");
    size_t ca = module_named(m, "rnn_ctc_model.outputs.cudnn_lstm.stack_bidirectional_rnn");
    const rnnck_module_info *a = rnnck_model_module(m, op), *b = rnnck_model_module(m, ca);
    cr_assert_eq(a->hidden_size, 160);
    cr_assert_eq(a->input_size, 28);
    cr_assert_eq(a->bidirectional, 1);
    cr_assert_eq(b->forget_bias, 0.0, "cuDNN-compatible cells have no forget_bias");
    int64_t H = 160, I = 28;
    for (int d = 0; d < 2; d++) {
        const float *wa = param_data(m, op, RNNCK_PARAM_WEIGHT_IH, 0, d), *wb = param_data(m, ca, RNNCK_PARAM_WEIGHT_IH, 0, d);
        for (int64_t i = 0; i < 4 * H * I; i++) cr_assert(bits_eq(wa[i], wb[i]), "weight_ih dir %d element %lld", d, (long long)i);
        wa = param_data(m, op, RNNCK_PARAM_WEIGHT_HH, 0, d);
        wb = param_data(m, ca, RNNCK_PARAM_WEIGHT_HH, 0, d);
        for (int64_t i = 0; i < 4 * H * H; i++) cr_assert(bits_eq(wa[i], wb[i]), "weight_hh dir %d element %lld", d, (long long)i);
        /* TF's canonical bias is b_W + b_R (CudnnOpaqueParamsSaveable): the sum in float32 */
        const float *bi = param_data(m, op, RNNCK_PARAM_BIAS_IH, 0, d), *bh = param_data(m, op, RNNCK_PARAM_BIAS_HH, 0, d);
        const float *bc = param_data(m, ca, RNNCK_PARAM_BIAS_IH, 0, d);
        for (int64_t i = 0; i < 4 * H; i++) {
            float sum = bi[i] + bh[i];
            cr_assert(bits_eq(sum, bc[i]), "bias dir %d element %lld: %.9g + %.9g vs %.9g", d, (long long)i, bi[i], bh[i],
                      bc[i]);
        }
    }
    rnnck_model_free(m);
}

Test(tf_cells, own_writer_lstm_cell_with_peepholes_and_projection_reads_bit_exact) {
    rnnck__sd sd;
    raw_vars("lstm_peephole_proj/model.ckpt", &sd);
    char *path = fixture_path("tf/lstm_peephole_proj/model.ckpt");
    rnnck_model *m;
    cr_assert_eq(rnnck_open(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    free(path);
    size_t mod = module_named(m, "rnn.lstm_cell");
    const rnnck_module_info *info = rnnck_model_module(m, mod);
    int64_t I = 5, H = 4, P = 3;
    cr_assert_eq(info->input_size, I);
    cr_assert_eq(info->hidden_size, H);
    cr_assert_eq(info->proj_size, P);
    cr_assert(info->peepholes);
    const rnnck_tensor *k = raw(&sd, "rnn/lstm_cell/kernel");
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_IH, 0, 0), k, 0, I, H, "igfo", "ifgo");
    expect_kernel_transform(param_data(m, mod, RNNCK_PARAM_WEIGHT_HH, 0, 0), k, I, P, H, "igfo", "ifgo");
    const float *peep = param_data(m, mod, RNNCK_PARAM_PEEPHOLE, 0, 0);
    static const char *const diag[3] = {"rnn/lstm_cell/w_i_diag", "rnn/lstm_cell/w_f_diag", "rnn/lstm_cell/w_o_diag"};
    for (int g = 0; g < 3; g++)
        for (int64_t u = 0; u < H; u++)
            cr_assert(bits_eq(peep[g * H + u], ((const float *)rnnck_tensor_cdata(raw(&sd, diag[g])))[u]));
    rnnck_model_free(m);
    rnnck__sd_free(&sd);
}

Test(tf_cells, tf2_object_checkpoint_bundle_keeps_dense_and_optimizer_apart) {
    rnnck_model *m = open_bundle("cells/tf2_object/model.ckpt", 0, NULL);
    cr_assert_eq(rnnck_model_module_count(m), 1);
    cr_assert_eq(rnnck_model_module(m, module_named(m, "layer_with_weights-0"))->batch_first, 1);
    rnnck_tensor *t;
    cr_assert_eq(rnnck_model_find(m, "layer_with_weights-1.kernel", &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_find(m, "optimizer.iter", &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_find(m, "save_counter", &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_find(m, "optimizer.layer_with_weights-0.cell.kernel.OPTIMIZER_SLOT.optimizer.m", &t),
                 RNNCK_OK, "%s", rnnck_errmsg());
    size_t with = rnnck_model_tensor_count(m);
    rnnck_model_free(m);
    m = open_bundle("cells/tf2_object/model.ckpt", RNNCK_OPEN_DROP_OPTIMIZER, NULL);
    cr_assert_eq(rnnck_model_tensor_count(m), with - 4, "3 slots and optimizer/iter dropped");
    rnnck_model_free(m);
}

/* ------------------------------------------------ cell_clip / proj_clip */

/* Bundles of fixtures/tf/make_tf_clip_goldens.py: LSTMCell(peepholes,
 * num_proj, cell_clip 0.75, proj_clip 0.3), LSTMCell(cell_clip 0.5), a
 * 2-layer MultiRNNCell (cell_clip 0.6) and a bidirectional_dynamic_rnn of
 * LSTMCell(peepholes, num_proj, cell_clip 0.7, proj_clip 0.25); the clips
 * are constructor arguments, so they come by --set. */
typedef struct clip_case {
    const char *name;
    const char *sets[3];
} clip_case;
static const clip_case clip_cases[] = {
    {"clip_peep_proj", {"rnn.lstm_cell.cell_clip=0.75", "rnn.lstm_cell.proj_clip=0.3", NULL}},
    {"clip_plain", {"rnn.lstm_cell.cell_clip=0.5", NULL, NULL}},
    {"clip_multi", {"rnn.multi_rnn_cell.cell_clip=0.6", NULL, NULL}},
    {"clip_bidi", {"birnn.bidirectional_rnn.cell_clip=0.7", "birnn.bidirectional_rnn.proj_clip=0.25", NULL}},
};

static rnnck_model *open_clip(const clip_case *c, bool with_sets) {
    char rel[200];
    snprintf(rel, sizeof rel, "cells/%s/model.ckpt", c->name);
    return open_bundle(rel, 0, with_sets ? c->sets : NULL);
}

static rnnck_tensor *clip_fixture(const clip_case *c, const char *what) {
    char rel[200];
    snprintf(rel, sizeof rel, "cells/%s.%s.npy", c->name, what);
    return load_fixture(rel);
}

/* Runs module 0 of m on the case's input; counts the output and c_n
 * elements outside the tolerance of the goldens `out_golden` (and c_n when
 * cn_too), the largest |error| into *worst. */
static int clip_misses(rnnck_model *m, const clip_case *c, const rnnck_forward_opts *o, const char *out_golden,
                       bool cn_too, double *worst, bool log_misses) {
    rnnck_tensor *x = clip_fixture(c, "input"), *want = clip_fixture(c, out_golden), *y = NULL, *hn = NULL,
                 *cn = NULL;
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, NULL, o, &y, &hn, &cn), RNNCK_OK, "%s: %s", c->name,
                 rnnck_errmsg());
    int bad = compare(y, want, c->name, worst, log_misses);
    if (cn_too) {
        rnnck_tensor *cn_want = clip_fixture(c, "c_n");
        bad += compare(cn, cn_want, c->name, worst, log_misses);
        rnnck_tensor_free(cn_want);
    }
    rnnck_tensor_free(x);
    rnnck_tensor_free(want);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    return bad;
}

Test(tf_cells, clipped_lstm_cells_match_numpy_goldens_in_every_forward_path) {
    double worst = 0;
    int runs = 0;
    for (size_t k = 0; k < sizeof clip_cases / sizeof *clip_cases; k++) {
        rnnck_model *m = open_clip(&clip_cases[k], true);
        for (int isa = RNNCK__ISA_NONE; isa <= rnnck__rec_cpu_isa(); isa++) {
            rnnck__rec_force_isa(isa);
            for (int dt = 0; dt < 2; dt++)
                for (int threads = 1; threads <= 2; threads++) {
                    rnnck_forward_opts o = {threads, dt ? RNNCK_F64 : RNNCK_F32};
                    cr_assert_eq(clip_misses(m, &clip_cases[k], &o, "output", true, &worst, true), 0,
                                 "%s: isa %d, %s, %d threads: output or c_n differs from the golden", clip_cases[k].name,
                                 isa, dt ? "float64" : "float32", threads);
                    runs++;
                }
        }
        rnnck__rec_force_isa(-1);
        rnnck_model_free(m);
    }
    cr_log_info("clipped TF cells: %d runs, max |error| %.3g", runs, worst);
}

Test(tf_cells, without_the_clips_the_same_cells_miss_the_clipped_goldens_by_far) {
    for (size_t k = 0; k < sizeof clip_cases / sizeof *clip_cases; k++) {
        rnnck_model *m = open_clip(&clip_cases[k], false);
        double worst = 0, worst_plain = 0;
        int bad = clip_misses(m, &clip_cases[k], NULL, "output", false, &worst, false);
        cr_assert_gt(bad, 0, "%s: the clips do not bind", clip_cases[k].name);
        cr_assert_gt(worst, 0.05, "%s: the clips change the output by only %g", clip_cases[k].name, worst);
        /* ... while the unclipped maths is right: only the clip is missing */
        cr_assert_eq(clip_misses(m, &clip_cases[k], NULL, "noclip.output", false, &worst_plain, true), 0, "%s",
                     clip_cases[k].name);
        cr_log_info("%s without its clips: %d values off, max |error| %.3g", clip_cases[k].name, bad, worst);
        rnnck_model_free(m);
    }
}

/* ------------------------------------------------------------- the CLI */

TestSuite(tf_cells_cli, .init = test_dir_setup, .fini = test_dir_teardown);

static void convert_ok(const char *rel, const char *out_name, const char *extra) {
    char full[300];
    snprintf(full, sizeof full, "tf/real/%s", rel);
    char *p = fixture_path(full), *out = path_join(test_dir, out_name);
    tool_result r = extra ? run_tool("convert", p, out, extra, NULL) : run_tool("convert", p, out, NULL);
    cr_assert_eq(r.exit_code, 0, "%s -> %s: %s", rel, out_name, r.err);
    tool_result_free(&r);
    /* the converted file runs the same maths */
    r = run_tool("validate", p, out, "--long-len", "20", NULL);
    cr_assert_eq(r.exit_code, 0, "%s vs %s: %s%s", rel, out_name, r.out, r.err);
    tool_result_free(&r);
    free(out);
    free(p);
}

Test(tf_cells_cli, real_checkpoints_convert_to_h5_and_to_pytorch_where_it_can_express_them) {
    test_deadline(600);
    convert_ok("charrnn_calebfoss/model.ckpt-46499", "charrnn.h5", NULL);
    convert_ok("charrnn_calebfoss/model.ckpt-46499", "charrnn.pt", "--drop-optimizer");
    convert_ok("tidigits/model.ckpt", "tidigits.h5", NULL);
    convert_ok("rnn_ctc/model--6", "rnn_ctc.h5", NULL);
    convert_ok("rnn_ctc/model--6", "rnn_ctc.pt", "--drop-optimizer");
    char *p = fixture_path("tf/real/tidigits/model.ckpt"), *out = path_join(test_dir, "tidigits.pt");
    tool_result r = run_tool("convert", p, out, NULL);
    cr_assert_eq(r.exit_code, 3, "a GRUCell stack is reset-before: PyTorch cannot express it: %s", r.err);
    cr_assert(strstr(r.err, "rnn.multi_rnn_cell") && strstr(r.err, "linear_before_reset=0"), "%s", r.err);
    cr_assert_neq(access(out, F_OK), 0, "no partial output");
    tool_result_free(&r);
    free(out);
    free(p);
}

Test(tf_cells_cli, a_shared_bidirectional_scope_is_said_by_inspect_and_convert) {
    char *p = fixture_path("tf/cells/shared_bidi/model.ckpt"), *out = path_join(test_dir, "shared.pt");
    tool_result r = run_tool("inspect", p, NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "note: module birnn.bidirectional_rnn: the bidirectional scope holds only fw variables"),
              "%s", r.out);
    cr_assert(strstr(r.err, "rnnck inspect: note: module birnn.bidirectional_rnn"), "%s", r.err);
    tool_result_free(&r);
    r = run_tool("inspect", p, "--json", NULL);
    cr_assert(strstr(r.out, "\"notes\": [\"module birnn.bidirectional_rnn:"), "%s", r.out);
    tool_result_free(&r);
    r = run_tool("convert", p, out, "--drop-optimizer", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "rnnck convert: note:"), "%s", r.err);
    tool_result_free(&r);
    free(out);
    free(p);
}

Test(tf_cells_cli, inspect_lists_tf_modules_and_their_cell_clip) {
    char *p = fixture_path("tf/real/rnn_ctc/model--6");
    tool_result r = run_tool("inspect", p, "--drop-optimizer", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "module rnn_ctc_model.outputs.cudnn_lstm.opaque_kernel: LSTM"), "%s", r.out);
    cr_assert(strstr(r.out, "module rnn_ctc_model.outputs.cudnn_lstm.stack_bidirectional_rnn: LSTM"), "%s", r.out);
    cr_assert_not(strstr(r.out, "Adam"), "%s", r.out);
    tool_result_free(&r);
    /* CudnnCompatibleLSTMCell has no cell_clip argument */
    r = run_tool("inspect", p, "--set", "rnn_ctc_model.outputs.cudnn_lstm.stack_bidirectional_rnn.cell_clip=3", NULL);
    cr_assert_eq(r.exit_code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "cell_clip") && strstr(r.err, "is not a TF LSTMCell"), "%s", r.err);
    tool_result_free(&r);
    free(p);
    p = fixture_path("tf/cells/clip_peep_proj/model.ckpt");
    r = run_tool("inspect", p, "--set", "rnn.lstm_cell.cell_clip=0.75", "--set", "rnn.lstm_cell.proj_clip=0.3", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "cell_clip=0.75 proj_clip=0.3"), "%s", r.out);
    tool_result_free(&r);
    r = run_tool("inspect", p, "--json", "--set", "rnn.lstm_cell.cell_clip=0.75", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"cell_clip\": 0.75, \"proj_clip\": 0"), "%s", r.out);
    tool_result_free(&r);
    free(p);
}

/* tf -> .h5 / .safetensors -> read back: the clips and the forward pass
 * stay; tf -> .pt is refused naming the clip, --allow-approx writes it and
 * reports the error; validate of the bundle against its .h5 is exact. */
Test(tf_cells_cli, clipped_cells_round_trip_through_h5_and_safetensors_and_pytorch_refuses_them) {
    test_deadline(300);
    static const char *const exts[] = {"h5", "safetensors"};
    for (size_t k = 0; k < sizeof clip_cases / sizeof *clip_cases; k++) {
        const clip_case *c = &clip_cases[k];
        rnnck_model *m = open_clip(c, true);
        for (size_t e = 0; e < 2; e++) {
            char name[100];
            snprintf(name, sizeof name, "%s.%s", c->name, exts[e]);
            char *out = path_join(test_dir, name);
            cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_OK, "%s: %s", name, rnnck_errmsg());
            rnnck_model *back = NULL;
            cr_assert_eq(rnnck_open(out, NULL, &back), RNNCK_OK, "%s: %s", name, rnnck_errmsg());
            const char *diff = module_info_difference(rnnck_model_module(m, 0), rnnck_model_module(back, 0));
            cr_assert_null(diff, "%s: %s changed in the round trip", name, diff ? diff : "");
            cr_assert_gt(rnnck_model_module(back, 0)->cell_clip, 0, "%s", name);
            double worst = 0;
            cr_assert_eq(clip_misses(back, c, NULL, "output", true, &worst, true), 0, "%s: forward pass", name);
            rnnck_model_free(back);
            free(out);
        }
        char pt[100];
        snprintf(pt, sizeof pt, "%s.pt", c->name);
        char *out = path_join(test_dir, pt);
        cr_assert_eq(rnnck_write(m, out, NULL), RNNCK_E_INEXACT, "%s", pt);
        cr_assert_neq(access(out, F_OK), 0, "no partial output");
        free(out);
        rnnck_model_free(m);
    }
    /* no peepholes or projection: the clip is what PyTorch lacks */
    char *p = fixture_path("tf/cells/clip_plain/model.ckpt"), *out = path_join(test_dir, "plain.pt"),
         *h5 = path_join(test_dir, "plain.h5");
    tool_result r = run_tool("convert", p, out, "--set", "rnn.lstm_cell.cell_clip=0.5", NULL);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    cr_assert(strstr(r.err, "rnn.lstm_cell") && strstr(r.err, "cell_clip"), "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", p, out, "--set", "rnn.lstm_cell.cell_clip=0.5", "--allow-approx", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    const char *said = strstr(r.err, "cell_clip 0.5 dropped; outputs differ by up to ");
    cr_assert(said, "%s", r.err);
    double err = atof(said + strlen("cell_clip 0.5 dropped; outputs differ by up to "));
    cr_assert_gt(err, 0, "%s", r.err);
    tool_result_free(&r);
    cr_assert_eq(access(out, F_OK), 0);
    /* Keras and ONNX have no such clip either (ONNX's clip is on gate pre-activations) */
    char *kout = path_join(test_dir, "plain.keras"), *oout = path_join(test_dir, "plain.onnx");
    r = run_tool("convert", p, kout, "--to", "keras", "--set", "rnn.lstm_cell.cell_clip=0.5", NULL);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    cr_assert(strstr(r.err, "rnn.lstm_cell") && strstr(r.err, "cell_clip"), "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", p, oout, "--set", "rnn.lstm_cell.cell_clip=0.5", "--set", "rnn.lstm_cell.forget_bias=0",
                 NULL);
    cr_assert_eq(r.exit_code, 3, "%s", r.err);
    cr_assert(strstr(r.err, "rnn.lstm_cell") && strstr(r.err, "cell_clip"), "%s", r.err);
    tool_result_free(&r);
    free(kout);
    free(oout);
    /* validate: the bundle (with its --set) against its .h5 conversion */
    r = run_tool("convert", p, h5, "--set", "rnn.lstm_cell.cell_clip=0.5", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("validate", p, h5, "--set", "rnn.lstm_cell.cell_clip=0.5", "--atol", "0", "--rtol", "0", NULL);
    cr_assert_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    tool_result_free(&r);
    /* ... and without the --set the bundle's maths differs from the file's, which validate notes */
    r = run_tool("validate", p, h5, NULL);
    cr_assert_eq(r.exit_code, 1, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "note: the two modules' own maths differ (each runs under its own): cell_clip 0 in A, "
                            "0.5 in B"), "%s", r.out);
    tool_result_free(&r);
    free(h5);
    free(out);
    free(p);
}

/* ------------------------------------------------------ hostile names */

Test(tf_cells, random_names_and_shapes_never_crash_and_errors_say_why) {
    static const char *const parts[] = {
        "rnn", "multi_rnn_cell", "MultiRNNCell", "cell_0", "cell_1", "cell_2", "Cell0", "Cell1", "cell_00",
        "bidirectional_rnn", "BiRNN", "fw", "bw", "FW", "stack_bidirectional_rnn", "lstm_cell", "basic_lstm_cell",
        "gru_cell", "gates", "candidate", "kernel", "bias", "weights", "biases", "w_i_diag", "w_f_diag", "w_o_diag",
        "projection", "cudnn_lstm", "cudnn_gru", "opaque_kernel", "cudnn_compatible_gru_cell", "input_projection",
        "hidden_projection", "BasicLSTMCell", "Linear", "Matrix", "Bias", "GRUCell", "Gates", "Candidate",
        "LSTMCell", "W_0", "B", "W_P_0", "layer_with_weights-0", "cell", "recurrent_kernel", "forward_layer",
        "backward_layer", ".ATTRIBUTES", "VARIABLE_VALUE", "Adam", "beta1_power", "..", ".", "", "x"};
    const size_t np = sizeof parts / sizeof *parts;
    /* RNNCK_TF_NAMES_ITERS / _SEED: longer runs by hand (under valgrind) */
    const char *ei = getenv("RNNCK_TF_NAMES_ITERS"), *es = getenv("RNNCK_TF_NAMES_SEED");
    int iters = ei ? atoi(ei) : 3000;
    unsigned s = es ? (unsigned)strtoul(es, NULL, 10) : 12345;
#define RND(n) ((s = s * 1103515245u + 12345u) >> 8) % (n)
    int ok = 0, refused = 0, modules = 0;
    for (int iter = 0; iter < iters; iter++) {
        rnnck__sd sd;
        rnnck__sd_init_for(&sd, NULL, "fuzz");
        int nv = 1 + (int)RND(10);
        static const char *const bases[] = {"", "rnn", "rnn/multi_rnn_cell/cell_0", "rnn/multi_rnn_cell/cell_1",
                                            "b/bidirectional_rnn/fw", "b/bidirectional_rnn/bw",
                                            "stack_bidirectional_rnn/cell_0/bidirectional_rnn/fw",
                                            "layer_with_weights-0", "bidirectional/forward_lstm"};
        const char *base = bases[RND(sizeof bases / sizeof *bases)];
        for (int v = 0; v < nv; v++) {
            /* half the names: structure words, then a cell's own variable */
            static const char *const outer[] = {"rnn", "multi_rnn_cell", "cell_0", "cell_1", "bidirectional_rnn",
                                                "fw", "bw", "stack_bidirectional_rnn", "forward_lstm", "x"};
            /* with the shapes of I 3, H 4 (opaque: 1-layer LSTM 3/4, 2*4*4 + 8*4... = 160) */
            static const struct {
                const char *v;
                int nd;
                int64_t d0, d1;
            } cellvars[] = {
                {"lstm_cell/kernel", 2, 7, 16}, {"lstm_cell/bias", 1, 16, 0}, {"lstm_cell/w_i_diag", 1, 4, 0},
                {"lstm_cell/w_f_diag", 1, 4, 0}, {"lstm_cell/w_o_diag", 1, 4, 0},
                {"lstm_cell/projection/kernel", 2, 4, 2}, {"basic_lstm_cell/kernel", 2, 7, 16},
                {"basic_lstm_cell/bias", 1, 16, 0}, {"gru_cell/gates/kernel", 2, 7, 8}, {"gru_cell/gates/bias", 1, 8, 0},
                {"gru_cell/candidate/kernel", 2, 7, 4}, {"gru_cell/candidate/bias", 1, 4, 0},
                {"lstm_cell/recurrent_kernel", 2, 4, 16}, {"cudnn_lstm/opaque_kernel", 1, 160, 0},
                {"cell/kernel/.ATTRIBUTES/VARIABLE_VALUE", 2, 3, 16},
                {"cell/recurrent_kernel/.ATTRIBUTES/VARIABLE_VALUE", 2, 4, 16}, {"recurrent_kernel", 2, 4, 12},
                {"kernel", 2, 3, 12}, {"bias", 2, 2, 12}};
            int cv = (int)RND(sizeof cellvars / sizeof *cellvars);
            char name[400] = "";
            bool structured = RND(2);
            int nc = structured ? (int)RND(5) : 1 + (int)RND(7);
            if (structured && RND(4)) { /* mostly this case's common scope */
                strcpy(name, base);
                nc = *base ? 1 : 0;
            } else {
                for (int c = 0; c < nc; c++) {
                    if (c) strcat(name, "/");
                    strcat(name, structured ? outer[RND(sizeof outer / sizeof *outer)] : parts[RND(np)]);
                }
            }
            if (structured) {
                if (nc) strcat(name, "/");
                strcat(name, cellvars[cv].v);
            }
            /* sizes that fit together often (I 3, H 4: 7 rows, 16 = 4H, 12 = 3H, 8 = 2H) */
            static const int64_t dims[] = {0, 1, 2, 3, 4, 6, 7, 8, 12, 16};
            int64_t shape[3];
            int nd = (int)RND(4) % 3;
            for (int d = 0; d < nd; d++) shape[d] = dims[RND(10)];
            if (structured && RND(4)) { /* mostly the cell's own shape */
                nd = cellvars[cv].nd;
                shape[0] = cellvars[cv].d0;
                shape[1] = cellvars[cv].d1;
            }
            rnnck_tensor *t;
            cr_assert_eq(rnnck_tensor_new(RNNCK_F32, nd, shape, &t), RNNCK_OK);
            if (rnnck__sd_add_tensor(&sd, name, t) != RNNCK_OK) cr_assert_fail("add %s", name);
            rnnck_tensor_free(t);
        }
        const char *sets[] = {RND(4) ? NULL : "rnn.cudnn_lstm.opaque_kernel.hidden_size=2", NULL};
        rnnck_model *m = NULL;
        rnnck_status st = build(&sd, sets[0] ? sets : NULL, RND(2) ? RNNCK_OPEN_DROP_OPTIMIZER : 0, &m);
        if (st == RNNCK_OK) {
            for (size_t k = 0; k < rnnck_model_module_count(m); k++)
                cr_assert_eq(rnnck_module_info_validate(rnnck_model_module(m, k)), RNNCK_OK);
            modules += (int)rnnck_model_module_count(m);
            ok++;
        } else {
            cr_assert(rnnck_errmsg()[0], "status %d without a message", st);
            refused++;
        }
        rnnck_model_free(m);
        rnnck__sd_free(&sd);
    }
#undef RND
    cr_log_info("random TF names: %d built (%d modules), %d refused", ok, modules, refused);
    cr_assert_gt(modules, 0);
    cr_assert_gt(refused, 0);
}
