/* rnnck init: a fresh checkpoint laid out exactly as torch.nn.LSTM/GRU/RNN. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const help =
    "usage: rnnck init OUT --cell lstm|gru|rnn_tanh|rnn_relu --input-size N --hidden-size N\n"
    "                  [--num-layers N] [--bidirectional] [--proj-size N] [--no-bias] [--batch-first]\n"
    "                  [--init default|orthogonal] [--forget-bias V] [--seed S]\n"
    "                  [--dtype float32|float64|float16|bfloat16] [--name PREFIX] [--to FMT]\n\n"
    "Writes parameters with exactly PyTorch's names, shapes and order.\n"
    "  --init default      U(-1/sqrt(H), 1/sqrt(H)) on every parameter (torch's reset_parameters)\n"
    "  --init orthogonal   each gate block of each weight orthogonal, biases zero\n"
    "  --forget-bias V     set the forget block of bias_ih and bias_hh to V (LSTM only)\n"
    "  --seed S            same seed, same file (byte for byte); without it a random seed is used\n"
    "  --name PREFIX       store the module under a dotted prefix (e.g. encoder.rnn)\n"
    "The output format follows OUT's extension (.h5 -> rnnck) unless --to says otherwise.\n";

static rnnck_cell parse_cell(const char *s) {
    if (strcmp(s, "lstm") == 0) return RNNCK_CELL_LSTM;
    if (strcmp(s, "gru") == 0) return RNNCK_CELL_GRU;
    if (strcmp(s, "rnn_tanh") == 0 || strcmp(s, "rnn") == 0) return RNNCK_CELL_RNN_TANH;
    if (strcmp(s, "rnn_relu") == 0) return RNNCK_CELL_RNN_RELU;
    return RNNCK_CELL_INVALID;
}

static uint64_t fresh_seed(void) {
    uint64_t s = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&s, sizeof s, 1, f) != 1) s ^= (uint64_t)clock();
        fclose(f);
    }
    return s;
}

int cmd_init(int argc, char **argv) {
    const char *cmd = "init";
    bool bidir = false, no_bias = false, batch_first = false;
    const char *cell_s = NULL, *in_s = NULL, *hid_s = NULL, *layers_s = NULL, *proj_s = NULL, *init_s = NULL,
               *fb_s = NULL, *seed_s = NULL, *dtype_s = NULL, *name_s = NULL, *to_s = NULL;
    const cli_opt opts[] = {
        {"--cell", OPT_STRING, &cell_s},
        {"--input-size", OPT_STRING, &in_s},       {"--hidden-size", OPT_STRING, &hid_s},
        {"--num-layers", OPT_STRING, &layers_s},   {"--bidirectional", OPT_FLAG, &bidir},
        {"--proj-size", OPT_STRING, &proj_s},      {"--no-bias", OPT_FLAG, &no_bias},
        {"--batch-first", OPT_FLAG, &batch_first}, {"--init", OPT_STRING, &init_s},
        {"--forget-bias", OPT_STRING, &fb_s},      {"--seed", OPT_STRING, &seed_s},
        {"--dtype", OPT_STRING, &dtype_s},         {"--name", OPT_STRING, &name_s},
        {"--to", OPT_STRING, &to_s},
    };
    const char *pos[1];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 1, 1, "missing OUT", &npos, &rc))
        return rc;
    if (!cell_s || !in_s || !hid_s) {
        cli_error(cmd, "--cell, --input-size and --hidden-size are required (see rnnck init --help)");
        return EXIT_USAGE;
    }
    rnnck_module_info info;
    rnnck_cell cell = parse_cell(cell_s);
    if (!cell) {
        cli_error(cmd, "--cell: '%s' is not one of lstm, gru, rnn_tanh, rnn_relu", cell_s);
        return EXIT_USAGE;
    }
    rnnck_module_info_init(&info, cell);
    int64_t max = (int64_t)1 << 31;
    if (!cli_parse_i64(cmd, "--input-size", in_s, 1, max, &info.input_size) ||
        !cli_parse_i64(cmd, "--hidden-size", hid_s, 1, max, &info.hidden_size) ||
        (layers_s && !cli_parse_i64(cmd, "--num-layers", layers_s, 1, 1024, &info.num_layers)) ||
        (proj_s && !cli_parse_i64(cmd, "--proj-size", proj_s, 0, max, &info.proj_size)))
        return EXIT_USAGE;
    info.bidirectional = bidir;
    info.bias = !no_bias;
    info.batch_first = batch_first;
    info.name = name_s ? name_s : "";
    if (dtype_s) {
        info.dtype = rnnck_dtype_from_name(dtype_s);
        if (!rnnck_dtype_is_float(info.dtype)) {
            cli_error(cmd, "--dtype: '%s' is not one of float32, float64, float16, bfloat16", dtype_s);
            return EXIT_USAGE;
        }
    }
    rnnck_init_method method = RNNCK_INIT_DEFAULT;
    if (init_s) {
        if (strcmp(init_s, "orthogonal") == 0) method = RNNCK_INIT_ORTHOGONAL;
        else if (strcmp(init_s, "default") != 0) {
            cli_error(cmd, "--init: '%s' is not one of default, orthogonal", init_s);
            return EXIT_USAGE;
        }
    }
    double fb = 0;
    if (fb_s) {
        if (!cli_parse_double(cmd, "--forget-bias", fb_s, &fb)) return EXIT_USAGE;
        if (cell != RNNCK_CELL_LSTM) {
            cli_error(cmd, "--forget-bias applies to LSTM only (the cell is %s)", rnnck_cell_name(cell));
            return EXIT_USAGE;
        }
        if (no_bias) {
            cli_error(cmd, "--forget-bias needs biases (drop --no-bias)");
            return EXIT_USAGE;
        }
    }
    uint64_t seed;
    if (seed_s) {
        if (!cli_parse_u64(cmd, "--seed", seed_s, &seed)) return EXIT_USAGE;
    } else {
        seed = fresh_seed();
    }
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_model_new(&m);
    if (!st) st = rnnck_model_add_module(m, &info);
    if (!st) st = rnnck_model_init_module(m, 0, method, seed, fb_s != NULL, fb);
    if (st) {
        rc = cli_fail(cmd, st);
        rnnck_model_free(m);
        return rc;
    }
    st = rnnck_write(m, pos[0], to_s);
    if (st) {
        rc = cli_fail(cmd, st);
        rnnck_model_free(m);
        return rc;
    }
    /* With OUT '-' standard output carries the checkpoint: report on stderr. */
    bool to_stdout = strcmp(pos[0], "-") == 0;
    fprintf(to_stdout ? stderr : stdout, "wrote %s: %s input_size=%lld hidden_size=%lld num_layers=%lld%s%s, %zu tensors, init %s, seed %llu\n",
           to_stdout ? "<stdout>" : pos[0], rnnck_cell_name(cell), (long long)info.input_size, (long long)info.hidden_size,
           (long long)info.num_layers, info.bidirectional ? " bidirectional" : "", info.bias ? "" : " no-bias",
           rnnck_model_tensor_count(m), method == RNNCK_INIT_ORTHOGONAL ? "orthogonal" : "default",
           (unsigned long long)seed);
    rnnck_model_free(m);
    return EXIT_OK;
}
