/* Option parsing and error reporting shared by every command. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "rnnck %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_report(const char *cmd) {
    char buf[2048];
    fprintf(stderr, "rnnck %s: %s\n", cmd, cli_input_display(rnnck_errmsg(), buf, sizeof buf));
}

int cli_exit_for(rnnck_status st) {
    switch (st) {
    case RNNCK_OK: return EXIT_OK;
    case RNNCK_E_USAGE: return EXIT_USAGE;
    case RNNCK_E_WRITE: return EXIT_OUTPUT;
    default: return EXIT_INPUT;
    }
}

int cli_fail(const char *cmd, rnnck_status st) {
    cli_report(cmd);
    return cli_exit_for(st);
}

static const cli_opt *find_opt(const cli_opt *opts, size_t nopts, const char *a) {
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a) : strlen(a);
    for (size_t k = 0; k < nopts; k++)
        if (strlen(opts[k].name) == len && strncmp(opts[k].name, a, len) == 0) return &opts[k];
    for (size_t k = 0; k < CLI_INPUT_NOPTS; k++)
        if (strlen(cli_input_opts[k].name) == len && strncmp(cli_input_opts[k].name, a, len) == 0)
            return &cli_input_opts[k];
    return NULL;
}

int cli_parse(const char *cmd, int argc, char **argv, int first, const cli_opt *opts, size_t nopts,
              const char **positional, int min_pos, int max_pos, int *npos) {
    int n = 0;
    bool only_positional = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (!only_positional && a[0] == '-' && a[1] != '\0') {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt *o = find_opt(opts, nopts, a);
            if (!o) {
                cli_error(cmd, "unknown option %.*s (see rnnck %s --help)", (int)len, a, cmd);
                return EXIT_USAGE;
            }
            if (o->kind == OPT_FLAG) {
                if (eq) {
                    cli_error(cmd, "option %s takes no value", o->name);
                    return EXIT_USAGE;
                }
                *(bool *)o->target = true;
                continue;
            }
            if (o->kind == OPT_OPTIONAL) {
                if (eq && !eq[1]) {
                    cli_error(cmd, "option %s= needs a value after '='", o->name);
                    return EXIT_USAGE;
                }
                *(const char **)o->target = eq ? eq + 1 : "";
                continue;
            }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) {
                cli_error(cmd, "option %s needs a value", o->name);
                return EXIT_USAGE;
            }
            if (o->kind == OPT_STRING) {
                *(const char **)o->target = val;
            } else {
                cli_list *l = o->target;
                if (l->count >= CLI_LIST_MAX) {
                    cli_error(cmd, "option %s given more than %d times", o->name, CLI_LIST_MAX);
                    return EXIT_USAGE;
                }
                l->items[l->count++] = val;
                l->items[l->count] = NULL;
            }
            continue;
        }
        if (n >= max_pos) {
            cli_error(cmd, "unexpected argument '%s' (see rnnck %s --help)", a, cmd);
            return EXIT_USAGE;
        }
        positional[n++] = a;
    }
    if (n < min_pos) {
        cli_error(cmd, "missing argument (see rnnck %s --help)", cmd);
        return EXIT_USAGE;
    }
    *npos = n;
    return 0;
}

/* Whether --help / -h stands where an option name stands: `--output -h`
 * names a file called -h, it does not ask for help. Help is found before
 * the real parse so that it wins over any other mistake on the line. */
static bool help_requested(int argc, char **argv, const cli_opt *opts, size_t nopts) {
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return true;
        if (a[0] != '-' || a[1] == '\0' || strchr(a, '=')) continue;
        const cli_opt *o = find_opt(opts, nopts, a);
        if (o && o->kind != OPT_FLAG && o->kind != OPT_OPTIONAL) i++; /* the next word is its value */
    }
    return false;
}

bool cli_start(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t nopts, const char *help,
               const char **positional, int min_pos, int max_pos, const char *missing, int *npos, int *rc) {
    if (help_requested(argc, argv, opts, nopts)) {
        fputs(help, stdout);
        *rc = EXIT_OK;
        return true;
    }
    *rc = cli_parse(cmd, argc, argv, 2, opts, nopts, positional, 0, max_pos, npos);
    if (*rc) return true;
    if (*npos < min_pos) {
        cli_error(cmd, "%s (see rnnck %s --help)", missing, cmd);
        *rc = EXIT_USAGE;
        return true;
    }
    return false;
}

bool cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        cli_error(cmd, "%s: '%s' is not an integer in [%lld, %lld]", opt, s, (long long)min, (long long)max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (s[0] == '-') {
        cli_error(cmd, "%s: '%s' is not a non-negative integer", opt, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        cli_error(cmd, "%s: '%s' is not a non-negative integer", opt, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_error(cmd, "%s: '%s' is not a finite number", opt, s);
        return false;
    }
    *out = v;
    return true;
}

int cli_open_model(const char *cmd, const char *path, const cli_open_args *a, rnnck_model **out) {
    int rc = cli_input(cmd, path, &path);
    if (rc) return rc;
    rnnck_open_opts o = {0};
    o.format = a ? a->from : NULL;
    o.key = a ? a->key : NULL;
    o.sets = (a && a->sets.count) ? a->sets.items : NULL;
    o.flags = a && a->drop_optimizer ? RNNCK_OPEN_DROP_OPTIMIZER : 0;
    rnnck_status st = rnnck_open(path, &o, out);
    if (st) return cli_fail(cmd, st);
    for (size_t i = 0; i < rnnck_model_note_count(*out); i++)
        fprintf(stderr, "rnnck %s: note: %s\n", cmd, rnnck_model_note(*out, i));
    return 0;
}

void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20) fprintf(f, "\\u%04x", *p);
            else fputc(*p, f);
        }
    }
    fputc('"', f);
}

void json_number(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}
