/* rnnck convert: between formats, exactly or not at all. */
#include "cli.h"

#include <string.h>

static const char *const help =
    "usage: rnnck convert IN OUT [--from FMT] [--to FMT] [--key K] [--set MODULE.ATTR=VALUE ...]\n\n"
    "Reads IN (format detected by content unless --from), writes OUT (format from --to, else from\n"
    "OUT's extension: .h5 -> rnnck, .pt/.pth -> pytorch, .npz -> npz). Gate permutations,\n"
    "transposes and bias folds are exact; when the target cannot express the source's maths\n"
    "(peepholes, hard_sigmoid, GRU reset-before, clipping ... into PyTorch) the conversion is\n"
    "refused with exit 3 and a line naming the module and the feature. OUT is written to a\n"
    "temporary file and renamed, so a failure never leaves a partial OUT; IN is never modified\n"
    "(OUT naming the same file as IN is refused, exit 2). IN '-' reads standard input; OUT '-'\n"
    "writes standard output (needs --to); a device, FIFO or socket as OUT is written directly when\n"
    "the format streams (npz, pytorch), else refused with exit 4 (docs/CLI.md, \"Paths\").\n";

int cmd_convert(int argc, char **argv) {
    const char *cmd = "convert";
    const char *to = NULL;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--from", OPT_STRING, &oa.from}, {"--to", OPT_STRING, &to},
        {"--key", OPT_STRING, &oa.key},   {"--set", OPT_LIST, &oa.sets},
    };
    const char *pos[2];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 2, 2, "need IN and OUT", &npos, &rc))
        return rc;
    /* Before anything is read: never overwrite the input, through any link. */
    if ((rc = cli_distinct_output(cmd, pos[1], pos, 1))) return rc;
    bool to_stdout = strcmp(pos[1], "-") == 0;
    if (to_stdout && !to) {
        cli_error(cmd, "OUT '-' (standard output) needs --to FMT");
        return EXIT_USAGE;
    }
    rnnck_model *m;
    rc = cli_open_model(cmd, pos[0], &oa, &m);
    if (rc) return rc;
    rnnck_status st = rnnck_write(m, pos[1], to);
    if (st) {
        rc = cli_fail(cmd, st);
    } else {
        /* With OUT '-' standard output carries the checkpoint: report on stderr. */
        fprintf(to_stdout ? stderr : stdout, "wrote %s: %zu recurrent module%s, %zu tensors\n",
                to_stdout ? "<stdout>" : pos[1], rnnck_model_module_count(m),
               rnnck_model_module_count(m) == 1 ? "" : "s", rnnck_model_tensor_count(m));
    }
    rnnck_model_free(m);
    return rc;
}
