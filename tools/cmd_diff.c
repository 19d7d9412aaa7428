/* rnnck diff: tensor-by-tensor differences after mapping, per gate block
 * and direction. */
#include "cli.h"

#include <math.h>
#include <string.h>

static const char *const help =
    "usage: rnnck diff A B [--atol X] [--all] [--json] [--from FMT] [--key K] [--set MODULE.ATTR=VALUE ...] [--drop-optimizer]\n\n"
    "Maps both checkpoints into the schema and compares them tensor by tensor: recurrent modules\n"
    "pair by name, else by order and shape; other tensors by name. For every parameter that\n"
    "differs by more than --atol (default 0): the max abs difference, per gate block and\n"
    "direction, and whether B's gate blocks are A's in another order. --all lists equal tensors\n"
    "too. Exit 0 when nothing differs, 1 otherwise.\n";

static void print_row_text(FILE *f, const rnnck_diff_row *r) {
    const char *name = r->name_a ? r->name_a : r->name_b;
    if (r->problem) {
        fprintf(f, "%-32s %s\n", name, r->problem);
        return;
    }
    fprintf(f, "%-32s max|A-B| %-10.3g", name, r->max_abs);
    if (r->gates) {
        fputs(" gates", f);
        for (int k = 0; k < r->gates; k++) fprintf(f, " %c:%.3g", r->gate_letters[k], r->gate_max_abs[k]);
    }
    if (r->b_blocks_hold[0]) {
        fputs("  (B's gate blocks hold ", f);
        for (int k = 0; r->b_blocks_hold[k]; k++) fprintf(f, "%s%c", k ? "," : "", r->b_blocks_hold[k]);
        fputs(")", f);
    }
    fputc('\n', f);
}

static void print_json(FILE *f, const rnnck_diff *d, double atol) {
    fprintf(f, "{\"differences\": %zu, \"atol\": ", rnnck_diff_differences(d));
    json_number(f, atol);
    fputs(", \"tensors\": [", f);
    for (size_t i = 0; i < rnnck_diff_row_count(d); i++) {
        const rnnck_diff_row *r = rnnck_diff_row_at(d, i);
        fputs(i ? ", {\"a\": " : "{\"a\": ", f);
        if (r->name_a) json_string(f, r->name_a);
        else fputs("null", f);
        fputs(", \"b\": ", f);
        if (r->name_b) json_string(f, r->name_b);
        else fputs("null", f);
        fputs(", \"problem\": ", f);
        if (r->problem) json_string(f, r->problem);
        else fputs("null", f);
        fputs(", \"max_abs\": ", f);
        json_number(f, r->max_abs);
        fprintf(f, ", \"layer\": %lld, \"direction\": \"%s\", \"gates\": {", (long long)r->layer,
                r->layer < 0 ? "none" : r->reverse ? "reverse" : "forward");
        for (int k = 0; k < r->gates; k++) {
            fprintf(f, "%s\"%c\": ", k ? ", " : "", r->gate_letters[k]);
            json_number(f, r->gate_max_abs[k]);
        }
        fputs("}, \"b_blocks_hold\": ", f);
        json_string(f, r->b_blocks_hold);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

int cmd_diff(int argc, char **argv) {
    const char *cmd = "diff";
    bool json = false, all = false;
    const char *atol_s = NULL;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--json", OPT_FLAG, &json},     {"--all", OPT_FLAG, &all},
        {"--atol", OPT_STRING, &atol_s},  {"--from", OPT_STRING, &oa.from}, {"--key", OPT_STRING, &oa.key},
        {"--set", OPT_LIST, &oa.sets}, {"--drop-optimizer", OPT_FLAG, &oa.drop_optimizer},
    };
    const char *pos[2];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 2, 2, "need two checkpoints A and B", &npos, &rc))
        return rc;
    double atol = 0;
    if (atol_s && (!cli_parse_double(cmd, "--atol", atol_s, &atol) || atol < 0)) {
        if (atol < 0) cli_error(cmd, "--atol must be >= 0");
        return EXIT_USAGE;
    }
    rnnck_model *a = NULL, *b = NULL;
    rnnck_diff *d = NULL;
    rc = cli_open_model(cmd, pos[0], &oa, &a);
    if (!rc) rc = cli_open_model(cmd, pos[1], &oa, &b);
    if (!rc) {
        rnnck_status st = rnnck_diff_models(a, b, atol, &d);
        if (st) rc = cli_fail(cmd, st);
    }
    if (!rc) {
        if (json) print_json(stdout, d, atol);
        else {
            for (size_t i = 0; i < rnnck_diff_row_count(d); i++) {
                const rnnck_diff_row *r = rnnck_diff_row_at(d, i);
                if (all || r->problem || r->max_abs > atol) print_row_text(stdout, r);
            }
            printf("result: %zu of %zu tensors differ (atol %g)\n", rnnck_diff_differences(d), rnnck_diff_row_count(d),
                   atol);
        }
        rc = rnnck_diff_differences(d) ? EXIT_PROBLEM : EXIT_OK;
    }
    rnnck_diff_free(d);
    rnnck_model_free(a);
    rnnck_model_free(b);
    return rc;
}
