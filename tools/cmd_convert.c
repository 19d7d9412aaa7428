/* rnnck convert: between formats, exactly or not at all. */
#include "cli.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const help =
    "usage: rnnck convert IN OUT [--from FMT] [--to FMT] [--key K] [--set MODULE.ATTR=VALUE ...] [--drop-optimizer]\n"
    "                             [--compress[=LEVEL]] [--onnx-sequence-lens] [--fsync] [--quiet] [--allow-approx]\n\n"
    "Reads IN (format detected by content unless --from), writes OUT (format from --to, else from\n"
    "OUT's extension: .h5 -> rnnck, .pt/.pth -> pytorch, .npz -> npz, .onnx -> onnx,\n"
    ".safetensors -> safetensors; Keras files need --to keras, since .h5 is rnnck's). Gate permutations,\n"
    "transposes and bias folds are exact; when the target cannot express the source's maths\n"
    "(peepholes, hard_sigmoid, GRU reset-before, clipping ... into PyTorch) the conversion is\n"
    "refused with exit 3 and a line naming the module and the feature. OUT is written to a\n"
    "temporary file and renamed, so a failure never leaves a partial OUT; IN is never modified\n"
    "(OUT naming the same file as IN is refused, exit 2). IN '-' reads standard input; OUT '-'\n"
    "writes standard output (needs --to); a device, FIFO or socket as OUT is written directly when\n"
    "the format streams (npz, pytorch, safetensors), else refused with exit 4 (docs/CLI.md, \"Paths\").\n"
    "--compress[=LEVEL] (rnnck output only): chunked datasets, shuffle + deflate at zlib LEVEL\n"
    "1-9 (default 6); the bytes saved are reported on stderr.\n"
    "--onnx-sequence-lens (onnx output only): the graph gets an int32 input sequence_lens (B,),\n"
    "fed to every recurrent node, so each batch row runs for its own length; ONNX Runtime then\n"
    "needs it fed. A conversion running over 2 s shows its progress on stderr when stderr is a\n"
    "terminal; --quiet shows neither.\n"
    "--fsync: OUT is on disk, not only in the page cache, when rnnck exits (the temporary file and\n"
    "then its directory are synced). Without it, as with torch.save and cp, nothing is synced.\n"
    "--allow-approx: when the target refuses the cell maths (activations, GRU reset-before, clip,\n"
    "peepholes), write torch.nn's nearest maths instead, measure the output error on validate's\n"
    "battery and print it on stderr. Structure (a lone backward direction, merge modes other than\n"
    "concat, input_forget) is still refused.\n"
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

/* "gate activation HardSigmoid(0.2, 0.5) -> Sigmoid; ..." : what an
 * approximation changed in one module. */
static void describe_change(const rnnck_module_info *from, const rnnck_module_info *to, char *buf, size_t size) {
    static const char *const slot_names[RNNCK_ACT_SLOTS] = {"gate activation", "candidate activation",
                                                            "output activation"};
    size_t used = 0;
    buf[0] = '\0';
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (used < size) used += (size_t)snprintf(buf + used, size - used, "%s", used ? "; " : ""); \
        if (used < size) used += (size_t)snprintf(buf + used, size - used, __VA_ARGS__);            \
    } while (0)
    for (int d = 0; d < (from->bidirectional ? 2 : 1); d++)
        for (int k = 0; k < RNNCK_ACT_SLOTS; k++) {
            rnnck_activation a = from->act[d][k], b = to->act[d][k];
            if (a.kind == b.kind && a.alpha == b.alpha && a.beta == b.beta) continue;
            if (d == 1 && !memcmp(&from->act[0][k], &a, sizeof a)) continue; /* said for direction 0 */
            ADD("%s %s(%g, %g) -> %s", slot_names[k], rnnck_act_name(a.kind), a.alpha, a.beta, rnnck_act_name(b.kind));
        }
    if (from->linear_before_reset != to->linear_before_reset) ADD("GRU reset-before -> reset-after");
    if (from->clip != to->clip) ADD("clip %g dropped", from->clip);
    if (from->cell_clip != to->cell_clip) ADD("cell_clip %g dropped", from->cell_clip);
    if (from->proj_clip != to->proj_clip) ADD("proj_clip %g dropped", from->proj_clip);
    if (from->peepholes != to->peepholes) ADD("peepholes dropped");
#undef ADD
}

/* --allow-approx after the target refused m's maths: writes torch.nn's
 * nearest maths and prints, per changed module, the worst output error
 * validate's battery measures between the two. */
static rnnck_status write_approximation(const char *cmd, rnnck_model *m, const char *out_path,
                                        const rnnck_write_opts *wo, rnnck_write_stats *stats, int threads) {
    rnnck_model *a = NULL;
    rnnck_validation *v = NULL;
    rnnck_status st = rnnck_model_approximate_torch(m, &a);
    rnnck_validate_opts vo;
    rnnck_validate_opts_init(&vo);
    vo.diagnose = 0;
    vo.threads = threads;
    if (!st) st = rnnck_validate(m, a, &vo, &v);
    for (size_t i = 0; !st && i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *from = rnnck_model_module(m, i), *to = rnnck_model_module(a, i);
        char what[512];
        describe_change(from, to, what, sizeof what);
        if (!what[0]) continue;
        size_t pair = SIZE_MAX; /* modules pair by name: the approximation keeps every name */
        for (size_t p = 0; p < rnnck_validation_pair_count(v); p++) {
            const char *name = rnnck_validation_pair_at(v, p)->module_a;
            if (name && !strcmp(name, from->name)) pair = p;
        }
        double worst_abs = 0, worst_rel = 0;
        int64_t count = 0;
        for (size_t r = 0; r < rnnck_validation_row_count(v); r++) {
            const rnnck_validation_row *row = rnnck_validation_row_at(v, r);
            if (row->pair != pair) continue;
            if (row->err.max_abs > worst_abs) worst_abs = row->err.max_abs;
            if (row->err.max_rel > worst_rel) worst_rel = row->err.max_rel;
            count += row->err.count;
        }
        fprintf(stderr,
                "rnnck %s: approximated module %s: %s; outputs differ by up to %.3g abs, %.3g rel (%lld values of "
                "validate's battery)\n",
                cmd, *from->name ? from->name : "(bare)", what, worst_abs, worst_rel, (long long)count);
    }
    if (!st) st = rnnck_write_ex(a, out_path, wo, stats);
    rnnck_validation_free(v);
    rnnck_model_free(a);
    return st;
}

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert";
    const char *to = NULL, *compress = NULL;
    bool quiet = false, allow_approx = false, seq_lens = false, durable = false;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--from", OPT_STRING, &oa.from}, {"--to", OPT_STRING, &to},
        {"--key", OPT_STRING, &oa.key},   {"--set", OPT_LIST, &oa.sets}, {"--drop-optimizer", OPT_FLAG, &oa.drop_optimizer},
        {"--compress", OPT_OPTIONAL, &compress}, {"--quiet", OPT_FLAG, &quiet},
        {"--allow-approx", OPT_FLAG, &allow_approx}, {"--onnx-sequence-lens", OPT_FLAG, &seq_lens},
        {"--fsync", OPT_FLAG, &durable},
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
    /* OpenBLAS's idle pool would spin beside the copy (cli.h); only
     * --allow-approx's validation computes, with this many threads. */
    int threads = cli_blas_single();
    rnnck_model *m;
    rc = cli_open_model(cmd, pos[0], &oa, &m);
    if (rc) return rc;
    progress prog = {now_seconds(), 0, false};
    rnnck_write_opts wo = {.format = to,
                           .compress = level,
                           .flags = (seq_lens ? RNNCK_WRITE_ONNX_SEQUENCE_LENS : 0) | (durable ? RNNCK_WRITE_FSYNC : 0)};
    if (!quiet && isatty(STDERR_FILENO)) {
        wo.progress = progress_cb;
        wo.progress_ctx = &prog;
    }
    rnnck_write_stats stats;
    rnnck_status st = rnnck_write_ex(m, pos[1], &wo, &stats);
    if (st == RNNCK_E_INEXACT && allow_approx) {
        if (prog.shown) fputs("\r\033[K", stderr);
        fprintf(stderr, "rnnck %s: %s\nrnnck %s: --allow-approx: writing torch.nn's nearest maths instead\n", cmd,
                rnnck_errmsg(), cmd);
        st = write_approximation(cmd, m, pos[1], &wo, &stats, threads);
    }
    if (prog.shown) fputs("\r\033[K", stderr);
    if (st) { /* --compress or --onnx-sequence-lens with a target lacking it is E_USAGE: exit 2 */
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
