/* rnnck forward: the reference forward pass on .npy arrays. */
#include "cli.h"

#include <string.h>

static const char *const help =
    "usage: rnnck forward CKPT --input X.npy --output Y.npy [--module NAME] [--h0 H.npy] [--c0 C.npy]\n"
    "                     [--hn HN.npy] [--cn CN.npy] [--lengths L.npy] [--threads N]\n"
    "                     [--dtype float32|float64] [--from FMT] [--key K] [--set MODULE.ATTR=VALUE ...] [--drop-optimizer]\n\n"
    "Runs one recurrent module exactly as torch.nn.LSTM/GRU/RNN would, under the module's own\n"
    "semantics. X is (T, B, I), (B, T, I) when the module is batch_first, or unbatched (T, I);\n"
    "float32 or float64. Y, HN and CN are written in PyTorch's layouts. --lengths takes a (B,)\n"
    "integer array with the meaning of pack_padded_sequence(enforce_sorted=False). --module is\n"
    "needed when CKPT holds more than one recurrent module. --dtype sets the computation type\n"
    "(default: X's). --threads N sets how many threads rnnck's own workers use (default: OpenBLAS's\n"
    "count, one per core; fewer if an address-space limit leaves no room for them); the result is\n"
    "bit-identical at any thread count.\n";

static int load_npy(const char *cmd, const char *path, rnnck_tensor **out) {
    if (!path) {
        *out = NULL;
        return 0;
    }
    int rc = cli_input(cmd, path, &path);
    if (rc) return rc;
    rnnck_status st = rnnck_npy_load(path, out);
    return st ? cli_fail(cmd, st) : 0;
}

static int pick_module(const char *cmd, const rnnck_model *m, const char *name, size_t *index) {
    size_t n = rnnck_model_module_count(m);
    if (name) {
        if (rnnck_model_find_module(m, name, index) == RNNCK_OK) return 0;
    } else if (n == 1) {
        *index = 0;
        return 0;
    }
    if (n == 0) {
        cli_error(cmd, "the checkpoint holds no recurrent module");
        return EXIT_INPUT;
    }
    fprintf(stderr, "rnnck %s: %s; choose with --module from:", cmd,
            name ? "no recurrent module of that name" : "the checkpoint holds several recurrent modules");
    for (size_t i = 0; i < n; i++) {
        const char *mn = rnnck_model_module(m, i)->name;
        fprintf(stderr, " %s", *mn ? mn : "\"\"");
    }
    fputc('\n', stderr);
    return EXIT_USAGE;
}

int cmd_forward(int argc, char **argv) {
    const char *cmd = "forward";
    const char *in_p = NULL, *out_p = NULL, *mod = NULL, *h0_p = NULL, *c0_p = NULL, *hn_p = NULL, *cn_p = NULL,
               *len_p = NULL, *threads_s = NULL, *dtype_s = NULL;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--input", OPT_STRING, &in_p},      {"--output", OPT_STRING, &out_p},
        {"--module", OPT_STRING, &mod},     {"--h0", OPT_STRING, &h0_p},         {"--c0", OPT_STRING, &c0_p},
        {"--hn", OPT_STRING, &hn_p},        {"--cn", OPT_STRING, &cn_p},         {"--lengths", OPT_STRING, &len_p},
        {"--threads", OPT_STRING, &threads_s}, {"--dtype", OPT_STRING, &dtype_s}, {"--from", OPT_STRING, &oa.from},
        {"--key", OPT_STRING, &oa.key},     {"--set", OPT_LIST, &oa.sets}, {"--drop-optimizer", OPT_FLAG, &oa.drop_optimizer},
    };
    const char *pos[1];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 1, 1, "missing CKPT", &npos, &rc))
        return rc;
    if (npos != 1 || !in_p || !out_p) {
        cli_error(cmd, "need CKPT, --input and --output (see rnnck forward --help)");
        return EXIT_USAGE;
    }
    rnnck_forward_opts fo = {0};
    /* Before any file is opened: the pool's spin would run beside the
     * helper processes and the forward pass. */
    fo.threads = cli_blas_single();
    if (threads_s) {
        int64_t t;
        if (!cli_parse_i64(cmd, "--threads", threads_s, 1, 1024, &t)) return EXIT_USAGE;
        fo.threads = (int)t;
    }
    if (dtype_s) {
        fo.compute = rnnck_dtype_from_name(dtype_s);
        if (fo.compute != RNNCK_F32 && fo.compute != RNNCK_F64) {
            cli_error(cmd, "--dtype: '%s' is not float32 or float64", dtype_s);
            return EXIT_USAGE;
        }
    }
    const char *inputs[] = {pos[0], in_p, h0_p, c0_p, len_p};
    const char *outputs[] = {out_p, hn_p, cn_p};
    for (size_t i = 0; i < 3; i++)
        if ((rc = cli_distinct_output(cmd, outputs[i], inputs, 5))) return rc;
    rnnck_model *m = NULL;
    rnnck_tensor *x = NULL, *h0 = NULL, *c0 = NULL, *len = NULL, *y = NULL, *hn = NULL, *cn = NULL;
    size_t index = 0;
    rc = cli_open_model(cmd, pos[0], &oa, &m);
    if (!rc) rc = pick_module(cmd, m, mod, &index);
    if (!rc) rc = load_npy(cmd, in_p, &x);
    if (!rc) rc = load_npy(cmd, h0_p, &h0);
    if (!rc) rc = load_npy(cmd, c0_p, &c0);
    if (!rc) rc = load_npy(cmd, len_p, &len);
    if (!rc && cn_p && rnnck_model_module(m, index)->cell != RNNCK_CELL_LSTM) {
        cli_error(cmd, "--cn: module is %s, which has no cell state", rnnck_cell_name(rnnck_model_module(m, index)->cell));
        rc = EXIT_USAGE;
    }
    if (!rc) {
        rnnck_status st = rnnck_forward(m, index, x, h0, c0, len, &fo, &y, &hn, &cn);
        if (st) rc = cli_fail(cmd, st);
    }
    rnnck_status st = RNNCK_OK;
    if (!rc) st = rnnck_npy_save(y, out_p);
    if (!rc && !st && hn_p) st = rnnck_npy_save(hn, hn_p);
    if (!rc && !st && cn_p) st = rnnck_npy_save(cn, cn_p);
    if (st) rc = cli_fail(cmd, st);
    rnnck_tensor_free(x);
    rnnck_tensor_free(h0);
    rnnck_tensor_free(c0);
    rnnck_tensor_free(len);
    rnnck_tensor_free(y);
    rnnck_tensor_free(hn);
    rnnck_tensor_free(cn);
    rnnck_model_free(m);
    return rc;
}
