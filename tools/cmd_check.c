/* rnnck check: a checkpoint against the schema; one line per problem. */
#include "cli.h"

#include <string.h>

static const char *const help =
    "usage: rnnck check FILE [--allow-nonfinite] [--from FMT] [--key K] [--set MODULE.ATTR=VALUE ...] [--drop-optimizer]\n\n"
    "Checks an rnnck HDF5 file against schema v1 (docs/SCHEMA.md): every parameter the module\n"
    "attributes imply is present with the right shape and dtype, nothing unknown inside a\n"
    "recurrent module's group, attribute types and values valid, no NaN/Inf unless\n"
    "--allow-nonfinite. Files of other formats are read (which validates their structure) and\n"
    "their tensors checked for NaN/Inf.\n"
    "Exit 0 when clean; 1 with one line per problem on stdout; 3 if FILE is not HDF5, not an\n"
    "rnnck file, or not readable.\n";

/* path is what the library reads (a spooled copy for "-" and FIFOs), shown
 * what the user named it. */
static int check_rnnck(const char *cmd, const char *path, const char *shown, unsigned flags) {
    rnnck_report *r;
    rnnck_status st = rnnck_check_file(path, flags, &r);
    if (st) return cli_fail(cmd, st);
    size_t n = rnnck_report_count(r);
    char buf[2048];
    for (size_t i = 0; i < n; i++) printf("%s\n", cli_input_display(rnnck_report_item(r, i), buf, sizeof buf));
    if (!n) printf("%s: ok\n", shown);
    rnnck_report_free(r);
    return n ? EXIT_PROBLEM : EXIT_OK;
}

/* Other formats: the reader has validated names, shapes and dtypes; what is
 * left is the data itself. */
static int check_other(const char *cmd, const char *path, const char *shown, cli_open_args *oa,
                       bool allow_nonfinite) {
    rnnck_model *m;
    int rc = cli_open_model(cmd, path, oa, &m);
    if (rc) return rc;
    size_t problems = 0;
    for (size_t i = 0; i < rnnck_model_tensor_count(m) && !allow_nonfinite; i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        rnnck_status st = rnnck_model_load_tensor(m, t);
        int64_t bad = 0;
        if (!st) st = rnnck_tensor_stats(t, NULL, NULL, NULL, NULL, &bad);
        if (st) {
            rnnck_model_free(m);
            return cli_fail(cmd, st);
        }
        if (bad) {
            printf("%s: %s: %lld NaN/Inf value%s\n", shown, rnnck_tensor_name(t), (long long)bad, bad == 1 ? "" : "s");
            problems++;
        }
    }
    if (!problems) printf("%s: ok\n", shown);
    rnnck_model_free(m);
    return problems ? EXIT_PROBLEM : EXIT_OK;
}

int cmd_check(int argc, char **argv) {
    const char *cmd = "check";
    bool allow_nonfinite = false;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--allow-nonfinite", OPT_FLAG, &allow_nonfinite},
        {"--from", OPT_STRING, &oa.from}, {"--key", OPT_STRING, &oa.key},
        {"--set", OPT_LIST, &oa.sets}, {"--drop-optimizer", OPT_FLAG, &oa.drop_optimizer},
    };
    const char *pos[1];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 1, 1, "missing FILE", &npos, &rc))
        return rc;
    const char *path;
    if ((rc = cli_input(cmd, pos[0], &path))) return rc;
    const char *format = oa.from;
    if (!format) {
        rnnck_status st = rnnck_detect_format(path, &format);
        if (st) return cli_fail(cmd, st);
    }
    if (strcmp(format, "rnnck") == 0)
        return check_rnnck(cmd, path, pos[0], allow_nonfinite ? RNNCK_CHECK_ALLOW_NONFINITE : 0);
    oa.from = format;
    return check_other(cmd, path, pos[0], &oa, allow_nonfinite);
}
