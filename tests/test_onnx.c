/* ONNX import: single nodes built from the ONNX reference helpers' goldens
 * (fixtures/forward/onnx) import bit-exactly into PyTorch layout and run to
 * those goldens; real torch.onnx.export models (stacks, both directions,
 * unfolded Slice/Concat weights) become the module torch saved, bit for bit,
 * and run to torch's outputs; layout, float16, external data and subgraphs;
 * malformed models are refused with one line naming the node and field.
 * ONNX export: round trips, Keras go_backwards and merge modes (Split + the
 * merge op), the opt-in sequence_lens input, refusals. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward_case.h"
#include "helpers/testutil.h"
#include "onnx.pb-c.h"
#include "rnnck.h"

static rnnck_model *open_onnx(const char *rel) {
    char *path = fixture_path(rel);
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, NULL, &m);
    cr_assert_eq(st, RNNCK_OK, "%s: %s", path, rnnck_errmsg());
    free(path);
    return m;
}

/* Every tensor of `want` exists in `got` under its name (after `prefix`
 * mapping) with the same dtype, shape and bytes. */
static void same_tensors(rnnck_model *want, const char *want_prefix, rnnck_model *got, const char *got_prefix) {
    size_t n = rnnck_model_tensor_count(want);
    cr_assert(n > 0);
    for (size_t i = 0; i < n; i++) {
        rnnck_tensor *a = rnnck_model_tensor(want, i), *b;
        const char *name = rnnck_tensor_name(a) + strlen(want_prefix);
        char full[512];
        snprintf(full, sizeof full, "%s%s", got_prefix, name);
        cr_assert_eq(rnnck_model_find(got, full, &b), RNNCK_OK, "%s: %s", full, rnnck_errmsg());
        cr_assert_eq(rnnck_tensor_dtype(a), rnnck_tensor_dtype(b), "%s dtype", full);
        cr_assert_eq(rnnck_tensor_numel(a), rnnck_tensor_numel(b), "%s numel", full);
        cr_assert_eq(rnnck_tensor_ndim(a), rnnck_tensor_ndim(b), "%s ndim", full);
        cr_assert_eq(memcmp(rnnck_tensor_cdata(a), rnnck_tensor_cdata(b), rnnck_tensor_nbytes(a)), 0,
                     "%s: bytes differ", full);
    }
}

Test(onnx_import, single_nodes_map_to_pytorch_layout_bit_exactly_and_run_to_the_onnx_reference_goldens) {
    char names[64][128];
    int n = fc_list("onnx", names, 64); /* fixtures/onnx/nodes has one model per case */
    cr_assert(n >= 18, "only %d node cases", n);
    for (int i = 0; i < n; i++) {
        fcase c;
        fc_open(&c, "onnx", names[i]);
        char rel[256];
        snprintf(rel, sizeof rel, "onnx/nodes/%s.onnx", names[i]);
        rnnck_model *m = open_onnx(rel);
        cr_assert_eq(rnnck_model_module_count(m), 1);
        const rnnck_module_info *info = rnnck_model_module(m, 0);
        char want_name[160];
        snprintf(want_name, sizeof want_name, "cell_%s", names[i]);
        cr_assert_str_eq(info->name, want_name);
        cr_assert_eq(info->cell, c.info.cell, "%s: cell", names[i]);
        cr_assert_eq(info->linear_before_reset, c.info.linear_before_reset, "%s: lbr", names[i]);
        cr_assert_eq(info->peepholes, c.info.peepholes, "%s: peepholes", names[i]);
        cr_assert_eq(info->clip, (double)(float)c.info.clip, "%s: clip", names[i]);
        cr_assert_eq(info->reverse, c.info.reverse, "%s: direction=\"reverse\" (schema 1.1)", names[i]);
        cr_assert_eq(info->output_reversed, 0, "%s: ONNX's Y keeps time positions", names[i]);
        /* The parameters are the case's PyTorch-layout arrays, bit for bit. */
        char prefix[170];
        snprintf(prefix, sizeof prefix, "%s.", want_name);
        same_tensors(c.model, "rnn.", m, prefix);
        rnnck_forward_opts opts = {0, RNNCK_F64};
        rnnck_tensor *y = NULL, *hn = NULL, *cn = NULL;
        cr_assert_eq(rnnck_forward(m, 0, c.input, c.h0, c.c0, NULL, &opts, &y, &hn, &cn), RNNCK_OK, "%s: %s",
                     names[i], rnnck_errmsg());
        ferr e = {0};
        /* ONNX stores alpha, beta and clip as float32: 1e-7 absorbs that
         * rounding; a wrong gate or activation is off by far more. */
        fc_compare("output", names[i], y, c.exp_out, 1e-7, 1e-6, &e);
        fc_compare("h_n", names[i], hn, c.exp_hn, 1e-7, 1e-6, &e);
        if (c.exp_cn) fc_compare("c_n", names[i], cn, c.exp_cn, 1e-7, 1e-6, &e);
        rnnck_tensor_free(y);
        rnnck_tensor_free(hn);
        rnnck_tensor_free(cn);
        rnnck_model_free(m);
        fc_close(&c);
    }
}

/* Module 0 of m on the input.npy of golden folder `dir` (zero initial
 * states) gives its expected_output, expected_h_n and, when there,
 * expected_c_n within 1e-5 abs + 1e-4 rel. */
static void runs_to_goldens(rnnck_model *m, const char *dir, const char *label) {
    fcase c = {0};
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    snprintf(c.name, sizeof c.name, "%s", label);
    c.input = fc_load_opt(&c, "input");
    c.exp_out = fc_load_opt(&c, "expected_output");
    c.exp_hn = fc_load_opt(&c, "expected_h_n");
    c.exp_cn = fc_load_opt(&c, "expected_c_n");
    cr_assert(c.input && c.exp_out && c.exp_hn, "%s: golden files missing in %s", label, dir);
    rnnck_tensor *y = NULL, *hn = NULL, *cn = NULL;
    cr_assert_eq(rnnck_forward(m, 0, c.input, NULL, NULL, NULL, NULL, &y, &hn, &cn), RNNCK_OK, "%s", rnnck_errmsg());
    ferr e = {0};
    fc_compare("output", c.name, y, c.exp_out, 1e-5, 1e-4, &e);
    fc_compare("h_n", c.name, hn, c.exp_hn, 1e-5, 1e-4, &e);
    if (c.exp_cn) fc_compare("c_n", c.name, cn, c.exp_cn, 1e-5, 1e-4, &e);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    fc_close(&c);
}

/* A torch.onnx.export model: the module torch saved, bit for bit, running
 * to torch's outputs. */
static void torch_case(const char *name) {
    char rel[256], *dir;
    snprintf(rel, sizeof rel, "onnx/torch/%s", name);
    dir = fixture_path(rel);
    snprintf(rel, sizeof rel, "onnx/torch/%s/model.onnx", name);
    rnnck_model *m = open_onnx(rel);
    cr_assert_eq(rnnck_model_module_count(m), 1, "%s", name);
    cr_assert_str_eq(rnnck_model_module(m, 0)->name, "rnn", "%s: named after the exporter's scope", name);
    /* torch.save's state_dict holds the same tensors, bit for bit. */
    char *pt = path_join(dir, "model.pt");
    rnnck_model *want = NULL;
    cr_assert_eq(rnnck_open(pt, NULL, &want), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(want), RNNCK_OK, "%s", rnnck_errmsg()); /* .pt tensors load lazily */
    cr_assert_eq(rnnck_model_tensor_count(want), rnnck_model_tensor_count(m), "%s: tensor count", name);
    same_tensors(want, "", m, "");
    cr_assert_eq(rnnck_model_module(want, 0)->num_layers, rnnck_model_module(m, 0)->num_layers);
    char label[300];
    snprintf(label, sizeof label, "torch/%s", name);
    runs_to_goldens(m, dir, label);
    rnnck_model_free(want);
    rnnck_model_free(m);
    free(pt);
    free(dir);
}

Test(onnx_import, torch_onnx_export_stacks_become_the_module_torch_saved_and_run_to_torchs_outputs) {
    const char *cases[] = {"lstm", "lstm_2layer_bidirectional", "gru_2layer", "gru_bidirectional_unfolded",
                           "rnn_tanh_2layer_bidirectional", "rnn_relu"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) torch_case(cases[i]);
}

Test(onnx_import, validate_passes_between_the_torch_checkpoint_and_its_onnx_export) {
    const char *cases[] = {"lstm_2layer_bidirectional", "gru_bidirectional_unfolded", "rnn_tanh_2layer_bidirectional"};
    for (size_t i = 0; i < 3; i++) {
        char a[256], b[256];
        snprintf(a, sizeof a, "onnx/torch/%s/model.pt", cases[i]);
        snprintf(b, sizeof b, "onnx/torch/%s/model.onnx", cases[i]);
        char *pa = fixture_path(a), *pb = fixture_path(b);
        tool_result r = run_tool("validate", pa, pb, NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s%s", cases[i], r.out, r.err);
        cr_assert(strstr(r.out, "result: ok"), "%s", r.out);
        tool_result_free(&r);
        free(pa);
        free(pb);
    }
}

Test(onnx_import, layout_float16_external_data_and_constant_nodes_give_the_same_weights) {
    rnnck_model *base = open_onnx("onnx/nodes/lstm_peepholes.onnx");
    rnnck_model *ext = open_onnx("onnx/misc/external.onnx");
    same_tensors(base, "", ext, "");
    rnnck_model *lay = open_onnx("onnx/misc/layout1.onnx");
    same_tensors(base, "", lay, "");
    cr_assert_eq(rnnck_model_module(lay, 0)->batch_first, 1);
    cr_assert_eq(rnnck_model_module(base, 0)->batch_first, 0);
    rnnck_model *half = open_onnx("onnx/misc/float16.onnx");
    cr_assert_eq(rnnck_model_module(half, 0)->dtype, RNNCK_F16);
    for (size_t i = 0; i < rnnck_model_tensor_count(base); i++) {
        rnnck_tensor *a = rnnck_model_tensor(base, i), *b;
        cr_assert_eq(rnnck_model_find(half, rnnck_tensor_name(a), &b), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_dtype(b), RNNCK_F16);
        rnnck_tensor *rounded;
        cr_assert_eq(rnnck_tensor_clone(a, RNNCK_F16, &rounded), RNNCK_OK);
        cr_assert_eq(memcmp(rnnck_tensor_cdata(rounded), rnnck_tensor_cdata(b), rnnck_tensor_nbytes(b)), 0, "%s",
                     rnnck_tensor_name(a));
        rnnck_tensor_free(rounded);
    }
    /* lstm_plain's weights are stored in Constant nodes (every third case). */
    rnnck_model *viaconst = open_onnx("onnx/nodes/gru_lbr0_bidirectional_clip.onnx");
    cr_assert_eq(rnnck_model_module_count(viaconst), 1);
    rnnck_model_free(viaconst);
    rnnck_model_free(base);
    rnnck_model_free(ext);
    rnnck_model_free(lay);
    rnnck_model_free(half);
}

Test(onnx_import, nodes_inside_if_branches_get_path_like_names) {
    rnnck_model *m = open_onnx("onnx/misc/if_subgraph.onnx");
    cr_assert_eq(rnnck_model_module_count(m), 2);
    size_t i;
    cr_assert_eq(rnnck_model_find_module(m, "choose.then_branch.cell_lstm_peepholes", &i), RNNCK_OK);
    cr_assert_eq(rnnck_model_find_module(m, "choose.else_branch.cell_else", &i), RNNCK_OK);
    rnnck_model_free(m);
    char *p = fixture_path("onnx/misc/if_subgraph.onnx");
    tool_result r = run_tool("forward", p, "--module", "choose.else_branch.cell_else", "--input", "/nonexistent.npy",
                             "--output", "/nonexistent/y.npy", NULL);
    cr_assert(strstr(r.err, "nonexistent.npy"), "forward --module finds the module before reading input: %s", r.err);
    tool_result_free(&r);
    free(p);
}

Test(onnx_import, a_model_without_recurrent_nodes_says_so_with_exit_3) {
    char *p = fixture_path("onnx/misc/no_recurrent.onnx");
    tool_result r = run_tool("inspect", p, NULL);
    cr_assert_eq(r.exit_code, 3);
    cr_assert(strstr(r.err, "no LSTM, GRU or RNN node"), "%s", r.err);
    cr_assert_eq(count_lines(r.err), 1);
    tool_result_free(&r);
    free(p);
}

Test(onnx_import, every_malformed_model_is_refused_with_exit_3_and_one_line_naming_the_field) {
    char *list = fixture_path("onnx/bad/cases.txt");
    FILE *f = fopen(list, "r");
    cr_assert(f, "%s", list);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *bar = strchr(line, '|');
        if (!bar) continue;
        *bar = 0;
        char rel[600];
        snprintf(rel, sizeof rel, "onnx/bad/%s", line);
        char *p = fixture_path(rel);
        tool_result r = run_tool("inspect", p, NULL);
        cr_expect_eq(r.exit_code, 3, "%s: exit %d", line, r.exit_code);
        cr_expect(strstr(r.err, bar + 1) != NULL, "%s: message '%s' lacks '%s'", line, r.err, bar + 1);
        cr_expect_eq(count_lines(r.err), 1, "%s: %s", line, r.err);
        tool_result_free(&r);
        free(p);
        n++;
    }
    fclose(f);
    free(list);
    cr_assert(n >= 30, "only %d malformed models", n);
}

/* Exports `rel` and reads the export back: same module description and the
 * same tensors, bit for bit (the reader joins the exported layers again). */
static void export_roundtrip(const char *rel) {
    rnnck_model *m = open_onnx(rel);
    char *dir = tmpdir_new(), *out = path_join(dir, "export.onnx");
    cr_assert_eq(rnnck_write(m, out, "onnx"), RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
    rnnck_model *back = NULL;
    cr_assert_eq(rnnck_open(out, NULL, &back), RNNCK_OK, "%s: %s", rel, rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(back), 1);
    const rnnck_module_info *a = rnnck_model_module(m, 0), *b = rnnck_model_module(back, 0);
    cr_assert_eq(a->num_layers, b->num_layers, "%s", rel);
    cr_assert_eq(a->cell, b->cell, "%s", rel);
    cr_assert_eq(a->linear_before_reset, b->linear_before_reset, "%s", rel);
    cr_assert_eq(a->peepholes, b->peepholes, "%s", rel);
    cr_assert_eq(a->clip, b->clip, "%s", rel);
    cr_assert_eq(a->reverse, b->reverse, "%s: direction", rel);
    for (int d = 0; d < 2; d++)
        for (int s = 0; s < RNNCK_ACT_SLOTS; s++) {
            cr_assert_eq(a->act[d][s].kind, b->act[d][s].kind, "%s", rel);
            cr_assert_eq(a->act[d][s].alpha, b->act[d][s].alpha, "%s", rel);
        }
    char pa[300], pb[300];
    snprintf(pa, sizeof pa, "%s.", a->name);
    snprintf(pb, sizeof pb, "%s.", b->name);
    same_tensors(m, pa, back, pb);
    rnnck_model_free(back);
    rnnck_model_free(m);
    free(out);
    tmpdir_remove(dir);
}

Test(onnx_export, exports_read_back_as_the_same_module_bit_for_bit) {
    const char *rels[] = {"onnx/torch/lstm_2layer_bidirectional/model.onnx", "onnx/torch/gru_2layer/model.onnx",
                          "onnx/torch/rnn_relu/model.onnx", "onnx/nodes/lstm_bidirectional_acts_per_direction.onnx",
                          "onnx/nodes/gru_lbr0_bidirectional_clip.onnx", "onnx/nodes/lstm_peepholes_clip.onnx",
                          "onnx/nodes/rnn_softsign_bidirectional.onnx", "onnx/misc/layout1.onnx",
                          "onnx/misc/float16.onnx", "onnx/nodes/lstm_reverse_peepholes_clip.onnx",
                          "onnx/nodes/gru_lbr0_reverse.onnx", "onnx/nodes/rnn_reverse_softsign.onnx"};
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) export_roundtrip(rels[i]);
}

/* Schema 1.1: a reverse-only module of two layers is exported as two
 * direction="reverse" nodes, read back as one module, and runs the same. */
Test(onnx_export, reverse_only_stack_is_written_as_reverse_nodes_and_runs_the_same) {
    rnnck_model *m;
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_GRU);
    info.name = "enc";
    info.input_size = 3;
    info.hidden_size = 4;
    info.num_layers = 2;
    info.reverse = 1;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, 5, 0, 0), RNNCK_OK);
    char *dir = tmpdir_new(), *out = path_join(dir, "r.onnx");
    cr_assert_eq(rnnck_write(m, out, "onnx"), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model *back = NULL;
    cr_assert_eq(rnnck_open(out, NULL, &back), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_module_count(back), 1, "the two reverse nodes join into one module");
    const rnnck_module_info *b = rnnck_model_module(back, 0);
    cr_assert_eq(b->reverse, 1);
    cr_assert_eq(b->num_layers, 2);
    int64_t xs[3] = {5, 2, 3};
    rnnck_tensor *x;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, xs, &x), RNNCK_OK);
    float *xd = rnnck_tensor_data(x);
    for (int i = 0; i < 30; i++) xd[i] = (float)sin(i * 0.7);
    rnnck_tensor *y1, *h1, *y2, *h2, *yf, *hf;
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, NULL, NULL, &y1, &h1, NULL), RNNCK_OK);
    cr_assert_eq(rnnck_forward(back, 0, x, NULL, NULL, NULL, NULL, &y2, &h2, NULL), RNNCK_OK);
    cr_assert_eq(memcmp(rnnck_tensor_cdata(y1), rnnck_tensor_cdata(y2), rnnck_tensor_nbytes(y1)), 0);
    cr_assert_eq(memcmp(rnnck_tensor_cdata(h1), rnnck_tensor_cdata(h2), rnnck_tensor_nbytes(h1)), 0);
    /* and it is not the forward module under another name */
    ((rnnck_module_info *)rnnck_model_module(m, 0))->reverse = 0;
    cr_assert_eq(rnnck_forward(m, 0, x, NULL, NULL, NULL, NULL, &yf, &hf, NULL), RNNCK_OK);
    cr_assert_neq(memcmp(rnnck_tensor_cdata(y1), rnnck_tensor_cdata(yf), rnnck_tensor_nbytes(y1)), 0);
    rnnck_tensor_free(x);
    rnnck_tensor_free(y1);
    rnnck_tensor_free(h1);
    rnnck_tensor_free(y2);
    rnnck_tensor_free(h2);
    rnnck_tensor_free(yf);
    rnnck_tensor_free(hf);
    rnnck_model_free(back);
    rnnck_model_free(m);
    free(out);
    tmpdir_remove(dir);
}

/* Module 0 of m (an ONNX export read back, time-major) on the TF.js golden
 * input of fixtures/forward/keras11/<kcase> gives TF.js's outputs. */
static void runs_to_tfjs_goldens(rnnck_model *m, const char *kcase) {
    char dir[1024], label[300];
    snprintf(dir, sizeof dir, "%s/forward/keras11/%s", fc_fixtures(), kcase);
    snprintf(label, sizeof label, "onnx export of keras/v11/%s", kcase);
    runs_to_goldens(m, dir, label);
}

/* Keras go_backwards (outputs in processing order) is exported exactly, as a
 * forward node over the time-reversed input; the reader knows that Slice and
 * gives the same module back, which still runs to TF.js's outputs. PyTorch
 * cannot hold an imported direction="reverse" node: exit 3 naming the
 * module. */
Test(onnx_export, keras_go_backwards_round_trips_through_onnx) {
    char *dir = tmpdir_new(), *out = path_join(dir, "x.onnx"), *pt = path_join(dir, "x.pt");
    static const char *const back[] = {"lstm_go_backwards", "gru_go_backwards", "simple_rnn_go_backwards"};
    for (int i = 0; i < 3; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "keras/v11/%s.h5", back[i]);
        char *in = fixture_path(rel);
        tool_result r = run_tool("convert", in, out, "--to", "onnx", NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", back[i], r.err);
        tool_result_free(&r);
        rnnck_model *m = NULL;
        cr_assert_eq(rnnck_open(out, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
        const rnnck_module_info *info = rnnck_model_module(m, 0);
        cr_assert_eq(info->reverse, 1, "%s", back[i]);
        cr_assert_eq(info->output_reversed, 1, "%s: the Slice before the node is read as processing order", back[i]);
        runs_to_tfjs_goldens(m, back[i]);
        rnnck_model_free(m);
        r = run_tool("validate", in, out, NULL);
        cr_expect_eq(r.exit_code, 0, "%s: keras vs its onnx export: %s %s", back[i], r.out, r.err);
        tool_result_free(&r);
        free(in);
    }
    char *in = fixture_path("onnx/nodes/lstm_reverse.onnx");
    tool_result r = run_tool("convert", in, pt, "--to", "pytorch", NULL);
    cr_expect_eq(r.exit_code, 3, "%s", r.err);
    cr_expect(strstr(r.err, "cell_lstm_reverse") && strstr(r.err, "direction"), "%s", r.err);
    tool_result_free(&r);
    free(in);
    free(out);
    free(pt);
    tmpdir_remove(dir);
}

/* The graph of an exported file, unpacked with protobuf-c. */
static Onnx__ModelProto *load_model_proto(const char *path) {
    size_t len = 0;
    unsigned char *buf = read_file(path, &len);
    cr_assert(buf, "%s", path);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    cr_assert(mp && mp->graph, "%s: not an ONNX model", path);
    return mp;
}

static const Onnx__ValueInfoProto *graph_value(Onnx__ValueInfoProto **v, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i]->name, name)) return v[i];
    return NULL;
}

static size_t count_ops(const Onnx__GraphProto *g, const char *op) {
    size_t k = 0;
    for (size_t i = 0; i < g->n_node; i++) k += !strcmp(g->node[i]->op_type, op);
    return k;
}

static bool is_recurrent_op(const char *op) {
    return !strcmp(op, "LSTM") || !strcmp(op, "GRU") || !strcmp(op, "RNN");
}

/* Keras Bidirectional merge modes (fixtures/keras/v11, tf.keras 2 models
 * with the weights of the TF.js goldens in fixtures/forward/keras11) are
 * exported as the bidirectional node, a Split of Y into its directions and
 * Keras's op: Add (sum), Mul (mul), Add then Div by 2 (ave), nothing (none:
 * outputs Y_forward and Y_reverse). The reader knows those ops and gives the
 * same module back, which runs to TF.js's outputs. ONNX Runtime runs them in
 * the cross-check tier, where the merged values equal Keras's maths on the
 * two directions bit for bit. */
Test(onnx_export, keras_merge_modes_are_written_as_split_and_the_merge_op_and_read_back_running_to_tfjs_outputs) {
    static const struct {
        const char *name, *op;
        rnnck_merge_mode mode;
    } cases[] = {{"bilstm_merge_sum", "Add", RNNCK_MERGE_SUM},        {"bilstm_merge_mul", "Mul", RNNCK_MERGE_MUL},
                 {"bilstm_merge_ave", "Div", RNNCK_MERGE_AVE},        {"bilstm_merge_none", NULL, RNNCK_MERGE_NONE},
                 {"bilstm_merge_concat", NULL, RNNCK_MERGE_CONCAT},   {"bigru_merge_sum", "Add", RNNCK_MERGE_SUM},
                 {"bigru_merge_mul_wide_batch", "Mul", RNNCK_MERGE_MUL}, {"birnn_merge_ave", "Div", RNNCK_MERGE_AVE}};
    char *dir = tmpdir_new(), *out = path_join(dir, "m.onnx");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "keras/v11/%s.h5", cases[i].name);
        char *in = fixture_path(rel);
        rnnck_model *src = NULL, *m = NULL;
        cr_assert_eq(rnnck_open(in, NULL, &src), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_module(src, 0)->merge_mode, cases[i].mode, "%s", cases[i].name);
        cr_assert_eq(rnnck_write(src, out, "onnx"), RNNCK_OK, "%s: %s", cases[i].name, rnnck_errmsg());
        int64_t H = rnnck_model_module(src, 0)->hidden_size;
        Onnx__ModelProto *mp = load_model_proto(out);
        const Onnx__GraphProto *g = mp->graph;
        bool split = cases[i].mode != RNNCK_MERGE_CONCAT;
        cr_expect_eq(count_ops(g, "Split"), split ? 1u : 0u, "%s: Split", cases[i].name);
        if (cases[i].op) cr_expect_eq(count_ops(g, cases[i].op), 1u, "%s: %s", cases[i].name, cases[i].op);
        cr_expect_eq(count_ops(g, "Add"), cases[i].mode == RNNCK_MERGE_SUM || cases[i].mode == RNNCK_MERGE_AVE ? 1u : 0u,
                     "%s: Add", cases[i].name);
        const char *names[2] = {cases[i].mode == RNNCK_MERGE_NONE ? "Y_forward" : "Y",
                                cases[i].mode == RNNCK_MERGE_NONE ? "Y_reverse" : NULL};
        for (int k = 0; k < 2 && names[k]; k++) {
            const Onnx__ValueInfoProto *v = graph_value(mp->graph->output, mp->graph->n_output, names[k]);
            cr_assert(v, "%s: no output %s", cases[i].name, names[k]);
            const Onnx__TensorShapeProto *sh = v->type->tensor_type->shape;
            cr_assert_eq(sh->n_dim, 3u);
            cr_expect_eq(sh->dim[2]->dim_value, cases[i].mode == RNNCK_MERGE_CONCAT ? 2 * H : H, "%s: %s width",
                         cases[i].name, names[k]);
        }
        cr_expect_eq(graph_value(mp->graph->output, mp->graph->n_output, "Y") == NULL,
                     cases[i].mode == RNNCK_MERGE_NONE, "%s: Y present unless none", cases[i].name);
        onnx__model_proto__free_unpacked(mp, NULL);
        cr_assert_eq(rnnck_open(out, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
        const rnnck_module_info *info = rnnck_model_module(m, 0);
        cr_expect_eq(info->merge_mode, cases[i].mode, "%s: read back as merge_mode %s", cases[i].name,
                     rnnck_merge_mode_name(info->merge_mode));
        runs_to_tfjs_goldens(m, cases[i].name);
        rnnck_model_free(m);
        tool_result r = run_tool("validate", in, out, NULL);
        cr_expect_eq(r.exit_code, 0, "%s: keras vs its onnx export: %s %s", cases[i].name, r.out, r.err);
        tool_result_free(&r);
        rnnck_model_free(src);
        free(in);
    }
    free(out);
    tmpdir_remove(dir);
}

static Onnx__NodeProto *node_of_op(const Onnx__GraphProto *g, const char *op) {
    for (size_t i = 0; i < g->n_node; i++)
        if (!strcmp(g->node[i]->op_type, op)) return g->node[i];
    cr_assert_fail("no %s node", op);
    return NULL;
}

static Onnx__AttributeProto *attr_of(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (!strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

/* The merge mode the ONNX reader gives the export of a Keras merge fixture
 * after `edit` changed one thing in its graph. */
static rnnck_merge_mode merge_after_edit(const char *kcase, void (*edit)(Onnx__ModelProto *)) {
    char rel[200];
    snprintf(rel, sizeof rel, "keras/v11/%s.h5", kcase);
    char *in = fixture_path(rel), *dir = tmpdir_new(), *out = path_join(dir, "m.onnx");
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_open(in, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_write(m, out, "onnx"), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    Onnx__ModelProto *mp = load_model_proto(out);
    edit(mp);
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len);
    cr_assert(buf);
    onnx__model_proto__pack(mp, buf);
    cr_assert_eq(write_file(out, buf, len), 0);
    free(buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    cr_assert_eq(rnnck_open(out, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_merge_mode mode = rnnck_model_module(m, 0)->merge_mode;
    rnnck_model_free(m);
    free(in);
    free(out);
    tmpdir_remove(dir);
    return mode;
}

static void edit_nothing(Onnx__ModelProto *mp) {
    (void)mp;
}

/* layout=1: Y is [B, T, 2, H], and a Split on axis 1 cuts time, not directions. */
static void edit_layout1(Onnx__ModelProto *mp) {
    Onnx__NodeProto *n = node_of_op(mp->graph, "LSTM");
    Onnx__AttributeProto *a = malloc(sizeof *a);
    Onnx__AttributeProto **p = realloc(n->attribute, (n->n_attribute + 1) * sizeof *p);
    cr_assert(a && p);
    onnx__attribute_proto__init(a);
    a->name = strdup("layout");
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = 1;
    p[n->n_attribute++] = a;
    n->attribute = p;
}

static void edit_split_axis2(Onnx__ModelProto *mp) {
    Onnx__AttributeProto *a = attr_of(node_of_op(mp->graph, "Split"), "axis");
    cr_assert(a);
    a->i = 2;
}

static void edit_divide_by_3(Onnx__ModelProto *mp) {
    Onnx__NodeProto *div = node_of_op(mp->graph, "Div");
    for (size_t i = 0; i < mp->graph->n_initializer; i++)
        if (!strcmp(mp->graph->initializer[i]->name, div->input[1])) {
            float three = 3.0f;
            cr_assert_eq(mp->graph->initializer[i]->raw_data.len, sizeof three);
            memcpy(mp->graph->initializer[i]->raw_data.data, &three, sizeof three);
            return;
        }
    cr_assert_fail("the divisor is not an initializer");
}

static void edit_swap_add_inputs(Onnx__ModelProto *mp) {
    Onnx__NodeProto *add = node_of_op(mp->graph, "Add");
    char *t = add->input[0];
    add->input[0] = add->input[1];
    add->input[1] = t;
}

/* The reader takes a merge only in the shape rnnck writes it; anything else
 * after the node stays outside the module (concat, or the part it knows). */
Test(onnx_import, merge_ops_are_read_only_in_the_shape_the_writer_writes) {
    cr_expect_eq(merge_after_edit("bilstm_merge_ave", edit_nothing), RNNCK_MERGE_AVE);
    cr_expect_eq(merge_after_edit("bilstm_merge_sum", edit_layout1), RNNCK_MERGE_CONCAT, "layout=1");
    cr_expect_eq(merge_after_edit("bilstm_merge_sum", edit_split_axis2), RNNCK_MERGE_CONCAT, "Split on axis 2");
    cr_expect_eq(merge_after_edit("bilstm_merge_ave", edit_divide_by_3), RNNCK_MERGE_SUM, "Div by 3: the Add alone");
    cr_expect_eq(merge_after_edit("bilstm_merge_sum", edit_swap_add_inputs), RNNCK_MERGE_NONE,
                 "y_r + y_f: not the writer's order, the Split alone");
}

/* RNNCK_WRITE_ONNX_SEQUENCE_LENS (convert --onnx-sequence-lens): an int32
 * graph input sequence_lens (B,) feeds input 4 of every node of every layer;
 * the file reads back as the same module, which runs with the same lengths
 * to torch's pack_padded_sequence goldens (fixtures/forward/torch, cases *_len). */
Test(onnx_export, sequence_lens_input_feeds_every_layer_and_the_export_runs_to_torchs_packed_goldens) {
    static const char *const cases[] = {"gru_32_s1_l2_nobias_len", "lstm_64_s2_l1_bi_nobias_len",
                                        "rnn_tanh_32_s1_l3_bi_h0_len", "gru_64_s2_l3_h0_len", "lstm_32_s1_l2_bf_len"};
    char *dir = tmpdir_new(), *out = path_join(dir, "lens.onnx");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fcase c;
        fc_open(&c, "torch", cases[i]);
        cr_assert(c.lengths, "%s: no lengths", cases[i]);
        rnnck_write_opts wo = {.format = "onnx", .flags = RNNCK_WRITE_ONNX_SEQUENCE_LENS};
        cr_assert_eq(rnnck_write_ex(c.model, out, &wo, NULL), RNNCK_OK, "%s: %s", cases[i], rnnck_errmsg());
        Onnx__ModelProto *mp = load_model_proto(out);
        const Onnx__GraphProto *g = mp->graph;
        const Onnx__ValueInfoProto *v = graph_value(g->input, g->n_input, "sequence_lens");
        cr_assert(v, "%s: no graph input sequence_lens", cases[i]);
        cr_expect_eq(v->type->tensor_type->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT32, "%s", cases[i]);
        cr_expect_eq(v->type->tensor_type->shape->n_dim, 1u, "%s: sequence_lens is (B,)", cases[i]);
        int64_t nodes = 0;
        for (size_t k = 0; k < g->n_node; k++)
            if (is_recurrent_op(g->node[k]->op_type)) {
                nodes++;
                cr_expect(g->node[k]->n_input >= 5 && !strcmp(g->node[k]->input[4], "sequence_lens"),
                          "%s: node %s does not read sequence_lens", cases[i], g->node[k]->name);
            }
        cr_expect_eq(nodes, c.info.num_layers, "%s: one node per layer", cases[i]);
        onnx__model_proto__free_unpacked(mp, NULL);
        rnnck_model *back = NULL;
        cr_assert_eq(rnnck_open(out, NULL, &back), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_module(back, 0)->num_layers, c.info.num_layers, "%s", cases[i]);
        if (!c.info.batch_first) { /* a batch_first export reads back time-major, its Transpose outside the node */
            rnnck_model_free(c.model);
            c.model = back;
            ferr e = {0};
            fc_run_and_compare(&c, RNNCK_F32, 1e-5, 1e-4, &e);
            cr_log_info("%s exported with sequence_lens, read back: max abs %.3g vs torch", cases[i], e.max_abs);
        } else
            rnnck_model_free(back);
        fc_close(&c);
    }
    /* the flag is the ONNX writer's: other formats refuse it, exit 2 on the command line */
    rnnck_model *m = open_onnx("onnx/torch/gru_2layer/model.onnx");
    char *pt = path_join(dir, "x.pt");
    rnnck_write_opts wo = {.format = "pytorch", .flags = RNNCK_WRITE_ONNX_SEQUENCE_LENS};
    cr_expect_eq(rnnck_write_ex(m, pt, &wo, NULL), RNNCK_E_USAGE);
    cr_expect(strstr(rnnck_errmsg(), "onnx"), "%s", rnnck_errmsg());
    wo.format = "onnx";
    wo.flags = 1u << 7;
    cr_expect_eq(rnnck_write_ex(m, out, &wo, NULL), RNNCK_E_USAGE, "an unknown flag");
    rnnck_model_free(m);
    char *in = fixture_path("onnx/torch/gru_2layer/model.onnx");
    tool_result r = run_tool("convert", in, pt, "--onnx-sequence-lens", NULL);
    cr_expect_eq(r.exit_code, 2, "%s", r.err);
    cr_expect_eq(access(pt, F_OK), -1, "no output after a usage error");
    tool_result_free(&r);
    free(in);
    free(pt);
    free(out);
    tmpdir_remove(dir);
}

/* A go_backwards layer with sequence_lens: each row reversed over its own
 * length (Cast to int64 + ReverseSequence, not the Slice, which would move
 * the padding first); read back as the same processing-order module, which
 * gives the source's outputs with lengths bit for bit. */
Test(onnx_export, go_backwards_with_sequence_lens_reverses_each_row_over_its_own_length) {
    static const char *const back[] = {"lstm_go_backwards", "gru_go_backwards", "simple_rnn_go_backwards"};
    char *dir = tmpdir_new(), *out = path_join(dir, "gb.onnx");
    for (int i = 0; i < 3; i++) {
        char rel[200];
        snprintf(rel, sizeof rel, "keras/v11/%s.h5", back[i]);
        char *in = fixture_path(rel);
        tool_result r = run_tool("convert", in, out, "--to", "onnx", "--onnx-sequence-lens", NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", back[i], r.err);
        tool_result_free(&r);
        Onnx__ModelProto *mp = load_model_proto(out);
        cr_expect_eq(count_ops(mp->graph, "ReverseSequence"), 1u, "%s", back[i]);
        bool lstm = strstr(back[i], "lstm") != NULL;
        cr_expect_eq(count_ops(mp->graph, "Slice"), lstm ? 2u : 1u, "%s: only the initial state slices", back[i]);
        onnx__model_proto__free_unpacked(mp, NULL);
        rnnck_model *src = NULL, *m = NULL;
        cr_assert_eq(rnnck_open(in, NULL, &src), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_open(out, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
        const rnnck_module_info *info = rnnck_model_module(m, 0);
        cr_expect(info->reverse && info->output_reversed, "%s: read back as go_backwards", back[i]);
        /* the source is batch-major, the read-back node time-major */
        int64_t T = 6, B = 4, I = rnnck_model_module(src, 0)->input_size, bs[3] = {B, T, I}, ts[3] = {T, B, I}, ls[1] = {B};
        rnnck_tensor *xb, *xt, *len;
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, bs, &xb), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, ts, &xt), RNNCK_OK);
        cr_assert_eq(rnnck_tensor_new(RNNCK_I64, 1, ls, &len), RNNCK_OK);
        float *pb = rnnck_tensor_data(xb), *pt = rnnck_tensor_data(xt);
        int64_t *pl = rnnck_tensor_data(len);
        for (int64_t b = 0; b < B; b++) {
            pl[b] = b == 0 ? T : 1 + (2 * b) % (T - 1);
            for (int64_t t = 0; t < T; t++)
                for (int64_t k = 0; k < I; k++)
                    pb[(b * T + t) * I + k] = pt[(t * B + b) * I + k] = (float)sin(0.3 * (double)(b * 31 + t * 7 + k));
        }
        rnnck_tensor *y1, *h1, *c1 = NULL, *y2, *h2, *c2 = NULL;
        cr_assert_eq(rnnck_forward(src, 0, xb, NULL, NULL, len, NULL, &y1, &h1, &c1), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_forward(m, 0, xt, NULL, NULL, len, NULL, &y2, &h2, &c2), RNNCK_OK, "%s", rnnck_errmsg());
        int64_t H = info->hidden_size;
        const float *a = rnnck_tensor_cdata(y1), *b2 = rnnck_tensor_cdata(y2);
        int differ = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                differ += memcmp(a + (b * T + t) * H, b2 + (t * B + b) * H, sizeof(float) * (size_t)H) != 0;
        cr_expect_eq(differ, 0, "%s: %d output rows differ", back[i], differ);
        cr_expect_eq(memcmp(rnnck_tensor_cdata(h1), rnnck_tensor_cdata(h2), rnnck_tensor_nbytes(h1)), 0, "%s: h_n",
                     back[i]);
        rnnck_tensor_free(xb);
        rnnck_tensor_free(xt);
        rnnck_tensor_free(len);
        rnnck_tensor_free(y1);
        rnnck_tensor_free(h1);
        rnnck_tensor_free(c1);
        rnnck_tensor_free(y2);
        rnnck_tensor_free(h2);
        rnnck_tensor_free(c2);
        rnnck_model_free(src);
        rnnck_model_free(m);
        free(in);
    }
    free(out);
    tmpdir_remove(dir);
}

Test(onnx_export, proj_size_and_forget_bias_are_refused_as_inexact) {
    rnnck_model *m;
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.input_size = 3;
    info.hidden_size = 4;
    info.proj_size = 2;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    char *dir = tmpdir_new(), *out = path_join(dir, "p.onnx");
    cr_assert_eq(rnnck_write(m, out, "onnx"), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "proj_size"), "%s", rnnck_errmsg());
    rnnck_model_free(m);
    info.proj_size = 0;
    info.forget_bias = 1.0;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_model_add_module(m, &info), RNNCK_OK);
    cr_assert_eq(rnnck_write(m, out, "onnx"), RNNCK_E_INEXACT);
    cr_assert(strstr(rnnck_errmsg(), "forget_bias"), "%s", rnnck_errmsg());
    FILE *f = fopen(out, "rb");
    cr_assert(f == NULL, "a refused export left a file");
    rnnck_model_free(m);
    free(out);
    tmpdir_remove(dir);
}

/* Goldens made by ONNX Runtime 1.30 itself (fixtures/onnx/ort): runs the
 * case's model.onnx in rnnck on its input, h0, c0 and lengths (the model's
 * sequence_lens) in float32 and float64, within the cross-check tolerance. */
static void ort_case(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "onnx/ort/%s/model.onnx", name);
    rnnck_model *m = open_onnx(rel);
    cr_assert_eq(rnnck_model_module_count(m), 1, "%s", name);
    snprintf(rel, sizeof rel, "onnx/ort/%s", name);
    char *dir = fixture_path(rel);
    fcase c = {0};
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    snprintf(c.name, sizeof c.name, "ort/%s", name);
    c.model = m;
    c.input = fc_load_opt(&c, "input");
    c.h0 = fc_load_opt(&c, "h0");
    c.c0 = fc_load_opt(&c, "c0");
    c.lengths = fc_load_opt(&c, "lengths");
    c.exp_out = fc_load_opt(&c, "expected_output");
    c.exp_hn = fc_load_opt(&c, "expected_h_n");
    c.exp_cn = fc_load_opt(&c, "expected_c_n");
    cr_assert(c.input && c.h0 && c.exp_out && c.exp_hn, "%s: files missing", name);
    ferr e = {0};
    fc_run_and_compare(&c, RNNCK_F32, 2e-5, 2e-4, &e);
    fc_run_and_compare(&c, RNNCK_F64, 2e-5, 2e-4, &e);
    cr_log_info("%s vs ONNX Runtime: max abs %.3g", c.name, e.max_abs);
    fc_close(&c);
    free(dir);
}

/* Regression: input_forget=1 couples the forget gate to the input gate,
 * f = 1 - i, as ONNX Runtime computes it; rnnck computed i = 1 - f, which the
 * ONNX Runtime cross-check tier (tests/crosscheck/ort) found 0.3 away. */
Test(onnx_import, input_forget_couples_the_forget_gate_to_the_input_gate_as_onnx_runtime_computes_it) {
    rnnck_model *m = open_onnx("onnx/ort/input_forget_peepholes_bidirectional/model.onnx");
    cr_assert(rnnck_model_module(m, 0)->input_forget && rnnck_model_module(m, 0)->peepholes);
    rnnck_model_free(m);
    ort_case("input_forget_peepholes_bidirectional");
}

/* Every model of fixtures/onnx/ort (cases.txt) against ONNX Runtime's outputs:
 * sequence_lens (a graph input, given to rnnck as --lengths: outputs past a
 * sequence's end are zero, Y_h/Y_c come from its last valid step, the reverse
 * direction starts there) on LSTM with peepholes and clip, GRU lbr=0 and RNN;
 * activations with alpha/beta, clip, GRU lbr=1. */
Test(onnx_import, models_with_sequence_lens_and_activation_parameters_run_to_onnx_runtimes_outputs) {
    char *list = fixture_path("onnx/ort/cases.txt");
    FILE *fp = fopen(list, "r");
    cr_assert(fp != NULL, "%s", list);
    char line[256];
    int n = 0, lens = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        ort_case(line);
        n++;
        lens += strstr(line, "sequence_lens") != NULL;
    }
    fclose(fp);
    free(list);
    cr_assert(n >= 7 && lens >= 3, "%d cases, %d with sequence_lens", n, lens);
}
