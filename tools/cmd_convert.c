/* rnnck convert: between formats, exactly or not at all. */
#include "cli.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const help =
    "usage: rnnck convert IN OUT [--from FMT] [--to FMT] [--key K] [--set MODULE.ATTR=VALUE ...] [--drop-optimizer]\n"
    "                             [--compress[=LEVEL]] [--quiet]\n\n"
    "Reads IN (format detected by content unless --from), writes OUT (format from --to, else from\n"
    "OUT's extension: .h5 -> rnnck, .pt/.pth -> pytorch, .npz -> npz, .onnx -> onnx; Keras files\n"
    "need --to keras, since .h5 is rnnck's). Gate permutations,\n"
    "transposes and bias folds are exact; when the target cannot express the source's maths\n"
    "(peepholes, hard_sigmoid, GRU reset-before, clipping ... into PyTorch) the conversion is\n"
    "refused with exit 3 and a line naming the module and the feature. OUT is written to a\n"
    "temporary file and renamed, so a failure never leaves a partial OUT; IN is never modified\n"
    "(OUT naming the same file as IN is refused, exit 2). IN '-' reads standard input; OUT '-'\n"
    "writes standard output (needs --to); a device, FIFO or socket as OUT is written directly when\n"
    "the format streams (npz, pytorch), else refused with exit 4 (docs/CLI.md, \"Paths\").\n"
    "--compress[=LEVEL] (rnnck output only): chunked datasets, shuffle + deflate at zlib LEVEL\n"
    "1-9 (default 6); the bytes saved are reported on stderr. A conversion running over 2 s shows\n"
    "its progress on stderr when stderr is a terminal; --quiet shows neither.\n"
    "--drop-optimizer (TensorFlow input): leaves optimizer state (Adam/Momentum/RMSProp slots,\n"
    "beta powers, TF2 optimizer objects) out of OUT instead of keeping it as plain tensors.\n";

/* Progress on a terminal: bytes done, rate, ETA; shown once the write has
 * run for PROGRESS_AFTER seconds, redrawn at most every PROGRESS_EVERY. */
#define PROGRESS_AFTER 2.0
#define PROGRESS_EVERY 0.25

typedef struct progress {
    double start, last;
    bool shown;
} progress;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total) {
    progress *p = ctx;
    double t = now_seconds(), elapsed = t - p->start;
    if (elapsed < PROGRESS_AFTER || (p->shown && t - p->last < PROGRESS_EVERY)) return;
    double mib = 1024.0 * 1024.0, rate = (double)done / elapsed;
    double eta = rate > 0 && total > done ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\r\033[Krnnck convert: %.1f of %.1f MiB (%.0f%%), %.1f MiB/s, ETA %.0f s",
            (double)done / mib, (double)total / mib, total ? 100.0 * (double)done / (double)total : 100.0,
            rate / mib, eta);
    fflush(stderr);
    p->shown = true;
    p->last = t;
}

/* --compress or --compress=LEVEL: 1-9, 6 when bare. */
static bool parse_level(const char *cmd, const char *arg, int *level) {
    if (!arg) {
        *level = 0;
        return true;
    }
    int64_t v = 6;
    if (*arg && !cli_parse_i64(cmd, "--compress", arg, 1, 9, &v)) return false;
    *level = (int)v;
    return true;
}

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert";
    const char *to = NULL, *compress = NULL;
    bool quiet = false;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--from", OPT_STRING, &oa.from}, {"--to", OPT_STRING, &to},
        {"--key", OPT_STRING, &oa.key},   {"--set", OPT_LIST, &oa.sets}, {"--drop-optimizer", OPT_FLAG, &oa.drop_optimizer},
        {"--compress", OPT_OPTIONAL, &compress}, {"--quiet", OPT_FLAG, &quiet},
    };
    const char *pos[2];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 2, 2, "need IN and OUT", &npos, &rc))
        return rc;
    /* Before anything is read: never overwrite the input, through any link. */
    int level;
    if (!parse_level(cmd, compress, &level)) return EXIT_USAGE;
    if ((rc = cli_distinct_output(cmd, pos[1], pos, 1))) return rc;
    bool to_stdout = strcmp(pos[1], "-") == 0;
    if (to_stdout && !to) {
        cli_error(cmd, "OUT '-' (standard output) needs --to FMT");
        return EXIT_USAGE;
    }
    rnnck_model *m;
    rc = cli_open_model(cmd, pos[0], &oa, &m);
    if (rc) return rc;
    progress prog = {now_seconds(), 0, false};
    rnnck_write_opts wo = {.format = to, .compress = level};
    if (!quiet && isatty(STDERR_FILENO)) {
        wo.progress = progress_cb;
        wo.progress_ctx = &prog;
    }
    rnnck_write_stats stats;
    rnnck_status st = rnnck_write_ex(m, pos[1], &wo, &stats);
    if (prog.shown) fputs("\r\033[K", stderr);
    if (st) { /* --compress with a target that has no compression is E_USAGE: exit 2 */
        rc = cli_fail(cmd, st);
    } else {
        /* With OUT '-' standard output carries the checkpoint: report on stderr. */
        fprintf(to_stdout ? stderr : stdout, "wrote %s: %zu recurrent module%s, %zu tensors\n",
                to_stdout ? "<stdout>" : pos[1], rnnck_model_module_count(m),
               rnnck_model_module_count(m) == 1 ? "" : "s", rnnck_model_tensor_count(m));
        if (level && !quiet) {
            uint64_t in = stats.tensor_bytes, out = stats.stored_bytes;
            fprintf(stderr, "rnnck convert: compressed %llu bytes of tensor data to %llu: saved %lld bytes (%.1f%%)\n",
                    (unsigned long long)in, (unsigned long long)out, (long long)in - (long long)out,
                    in ? 100.0 * ((double)in - (double)out) / (double)in : 0.0);
        }
    }
    rnnck_model_free(m);
    return rc;
}
