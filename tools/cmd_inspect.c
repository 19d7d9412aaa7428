/* rnnck inspect: modules with their attributes, every tensor with statistics. */
#include "describe.h"

#include <stdlib.h>

static const char *const help =
    "usage: rnnck inspect FILE [--json] [--from FMT] [--key K] [--set MODULE.ATTR=VALUE ...] [--drop-optimizer]\n\n"
    "Prints each recurrent module with its attributes, then every tensor with dtype, shape,\n"
    "min, max, mean, std (population) and the count of NaN/Inf values. Tensors are read one at\n"
    "a time, so memory stays bounded by the largest tensor. --json prints one JSON document\n"
    "whose layout is documented in docs/CLI.md and kept stable.\n";

typedef struct tensor_stats {
    double min, max, mean, std;
    int64_t nonfinite;
} tensor_stats;

/* Statistics without keeping the tensor's data in the model. */
static rnnck_status stats_of(rnnck_model *m, rnnck_tensor *t, tensor_stats *s) {
    if (rnnck_tensor_data(t))
        return rnnck_tensor_stats(t, &s->min, &s->max, &s->mean, &s->std, &s->nonfinite);
    int64_t shape[RNNCK_MAX_DIMS];
    int nd = rnnck_tensor_ndim(t);
    for (int i = 0; i < nd; i++) shape[i] = rnnck_tensor_dim(t, i);
    rnnck_tensor *tmp;
    rnnck_status st = rnnck_tensor_new(RNNCK_F64, nd, shape, &tmp);
    if (st) return st;
    st = rnnck_model_read(m, rnnck_tensor_name(t), RNNCK_F64, rnnck_tensor_data(tmp), rnnck_tensor_nbytes(tmp));
    if (!st) st = rnnck_tensor_stats(tmp, &s->min, &s->max, &s->mean, &s->std, &s->nonfinite);
    rnnck_tensor_free(tmp);
    return st;
}

static void print_shape(FILE *f, const rnnck_tensor *t, int json) {
    fputs(json ? "[" : "(", f);
    for (int i = 0; i < rnnck_tensor_ndim(t); i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)rnnck_tensor_dim(t, i));
    fputs(json ? "]" : (rnnck_tensor_ndim(t) == 1 ? ",)" : ")"), f);
}

int cmd_inspect(int argc, char **argv) {
    const char *cmd = "inspect";
    bool json = false;
    cli_open_args oa = {0};
    const cli_opt opts[] = {
        {"--json", OPT_FLAG, &json},     {"--from", OPT_STRING, &oa.from},
        {"--key", OPT_STRING, &oa.key},   {"--set", OPT_LIST, &oa.sets}, {"--drop-optimizer", OPT_FLAG, &oa.drop_optimizer},
    };
    const char *pos[1];
    int npos;
    int rc;
    if (cli_start(cmd, argc, argv, opts, sizeof opts / sizeof *opts, help, pos, 1, 1, "missing FILE", &npos, &rc))
        return rc;
    const char *path; /* a spooled copy for "-" and FIFOs */
    if ((rc = cli_input(cmd, pos[0], &path))) return rc;
    const char *format = oa.from;
    if (!format) {
        rnnck_status st = rnnck_detect_format(path, &format);
        if (st) return cli_fail(cmd, st);
    }
    oa.from = format;
    rnnck_model *m;
    rc = cli_open_model(cmd, path, &oa, &m);
    if (rc) return rc;

    size_t nt = rnnck_model_tensor_count(m), nm = rnnck_model_module_count(m);
    tensor_stats *stats = calloc(nt ? nt : 1, sizeof *stats);
    long *owner = module_of_tensors(m);
    if (!stats || !owner) {
        cli_error(cmd, "out of memory");
        rc = EXIT_INPUT;
        goto done;
    }
    /* Read everything before printing: a read error must not leave half a document. */
    for (size_t i = 0; i < nt; i++) {
        rnnck_status st = stats_of(m, rnnck_model_tensor(m, i), &stats[i]);
        if (st) {
            rc = cli_fail(cmd, st);
            goto done;
        }
    }
    if (json) {
        printf("{\"file\": ");
        json_string(stdout, pos[0]);
        printf(", \"format\": ");
        json_string(stdout, format);
        printf(", \"modules\": [");
        for (size_t k = 0; k < nm; k++) {
            printf(k ? ", " : "");
            print_module_json(stdout, rnnck_model_module(m, k));
        }
        printf("], \"notes\": [");
        for (size_t k = 0; k < rnnck_model_note_count(m); k++) {
            printf(k ? ", " : "");
            json_string(stdout, rnnck_model_note(m, k));
        }
        printf("], \"tensors\": [");
        for (size_t i = 0; i < nt; i++) {
            rnnck_tensor *t = rnnck_model_tensor(m, i);
            printf("%s{\"name\": ", i ? ", " : "");
            json_string(stdout, rnnck_tensor_name(t));
            printf(", \"module\": ");
            if (owner[i] >= 0) json_string(stdout, rnnck_model_module(m, (size_t)owner[i])->name);
            else printf("null");
            printf(", \"dtype\": \"%s\", \"shape\": ", rnnck_dtype_name(rnnck_tensor_dtype(t)));
            print_shape(stdout, t, 1);
            printf(", \"min\": ");
            json_number(stdout, stats[i].min);
            printf(", \"max\": ");
            json_number(stdout, stats[i].max);
            printf(", \"mean\": ");
            json_number(stdout, stats[i].mean);
            printf(", \"std\": ");
            json_number(stdout, stats[i].std);
            printf(", \"nonfinite\": %lld}", (long long)stats[i].nonfinite);
        }
        printf("]}\n");
    } else {
        printf("%s: format %s, %zu recurrent module%s, %zu tensor%s\n", pos[0], format, nm, nm == 1 ? "" : "s", nt,
               nt == 1 ? "" : "s");
        for (size_t k = 0; k < nm; k++) print_module_text(stdout, rnnck_model_module(m, k));
        for (size_t k = 0; k < rnnck_model_note_count(m); k++) printf("note: %s\n", rnnck_model_note(m, k));
        printf("%-36s %-8s %-14s %12s %12s %12s %12s %s\n", "tensor", "dtype", "shape", "min", "max", "mean", "std",
               "nonfinite");
        for (size_t i = 0; i < nt; i++) {
            rnnck_tensor *t = rnnck_model_tensor(m, i);
            char shape[64];
            FILE *sf = fmemopen(shape, sizeof shape, "w");
            if (sf) {
                print_shape(sf, t, 0);
                fclose(sf);
            } else {
                shape[0] = '\0';
            }
            printf("%-36s %-8s %-14s %12.6g %12.6g %12.6g %12.6g %lld\n", rnnck_tensor_name(t),
                   rnnck_dtype_name(rnnck_tensor_dtype(t)), shape, stats[i].min, stats[i].max, stats[i].mean,
                   stats[i].std, (long long)stats[i].nonfinite);
        }
    }
done:
    free(stats);
    free(owner);
    rnnck_model_free(m);
    return rc;
}
