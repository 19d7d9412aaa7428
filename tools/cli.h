/* Shared pieces of the rnnck command line: option parsing, exit codes,
 * messages. Capabilities live in the library; commands only parse and print. */
#ifndef RNNCK_CLI_H
#define RNNCK_CLI_H

#include "rnnck.h"

#include <stdbool.h>
#include <stdio.h>

/* Exit codes (DESIGN.md §4, contract). */
enum {
    EXIT_OK = 0,
    EXIT_PROBLEM = 1,    /* check/validate found a problem or a mismatch */
    EXIT_USAGE = 2,      /* bad usage */
    EXIT_INPUT = 3,      /* input unreadable/malformed/unsupported, inexact conversion refused */
    EXIT_OUTPUT = 4      /* output could not be written */
};

/* OPT_OPTIONAL: a value only after '=' ("--compress", "--compress=9"); the
 * target (const char **) becomes "" when the option is given bare. */
typedef enum { OPT_FLAG, OPT_STRING, OPT_LIST, OPT_OPTIONAL } opt_kind;

typedef struct cli_opt {
    const char *name; /* "--seed" */
    opt_kind kind;
    void *target;     /* bool* for FLAG, const char** for STRING, cli_list* for LIST */
} cli_opt;

#define CLI_LIST_MAX 64
typedef struct cli_list {
    const char *items[CLI_LIST_MAX + 1]; /* NULL-terminated */
    int count;
} cli_list;

/* Parses argv[first..argc) into options and positionals. Returns 0, or
 * EXIT_USAGE after printing a one-line message naming the command. */
int cli_parse(const char *cmd, int argc, char **argv, int first, const cli_opt *opts, size_t nopts,
              const char **positional, int min_pos, int max_pos, int *npos);

/* The common start of every command: prints `help` and stops on --help;
 * parses options and between min_pos and max_pos positionals, else prints
 * "rnnck CMD: <missing> (see rnnck CMD --help)". Returns true when the
 * command must stop now, with *rc its exit code. */
bool cli_start(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t nopts, const char *help,
               const char **positional, int min_pos, int max_pos, const char *missing, int *npos, int *rc);

/* Prints "rnnck CMD: " + the library's last message to stderr. */
void cli_report(const char *cmd);
/* Prints a formatted one-line error. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Exit code for a library status (E_USAGE -> 2, E_WRITE -> 4, others -> 3). */
int cli_exit_for(rnnck_status st);
/* Reports the library error and returns its exit code. */
int cli_fail(const char *cmd, rnnck_status st);

/* Parses integers and floats strictly; false (after printing) if invalid. */
bool cli_parse_i64(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max, int64_t *out);
bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);

/* Opens a checkpoint of any format with the common options. */
typedef struct cli_open_args {
    const char *from;
    const char *key;
    cli_list sets;
    bool drop_optimizer; /* --drop-optimizer: RNNCK_OPEN_DROP_OPTIMIZER */
} cli_open_args;
/* The reader's notes about the model (rnnck_model_note) go to stderr. */
int cli_open_model(const char *cmd, const char *path, const cli_open_args *a, rnnck_model **out);

/* ---- OpenBLAS (tools/cli_blas.c) ---- */
/* For commands that own the process: sets OpenBLAS to one thread and stops
 * its worker pool, whose idle workers otherwise spin (sched_yield) for about
 * 0.1 s after start-up beside the command: rnnck_forward runs every OpenBLAS
 * call at one thread anyway (blas_blocks.h), so the pool has no use. Returns
 * OpenBLAS's count before (its default: one per core, or OPENBLAS_NUM_THREADS),
 * the default for --threads. */
int cli_blas_single(void);
/* Set before main when OpenBLAS was started at one thread (tools/rnnck.c):
 * the count it would have chosen, which cli_blas_single then returns. */
extern int cli_blas_default_threads;

/* ---- inputs and outputs that are not plain files (tools/cli_input.c) ---- */
/* Options every command accepts: --max-input BYTES, --input-wait SECONDS. */
#define CLI_INPUT_NOPTS 2
extern const cli_opt cli_input_opts[CLI_INPUT_NOPTS];
/* *use = the path to give the library for input `path`: path itself, or for
 * "-" and FIFOs a temporary file holding what they delivered (removed at
 * exit). Returns 0, or an exit code after printing why. */
int cli_input(const char *cmd, const char *path, const char **use);
/* msg with a spooled file's temporary path replaced by the name the user
 * gave (buf holds the result when one was replaced). */
const char *cli_input_display(const char *msg, char *buf, size_t bufsize);
/* EXIT_USAGE (after printing) if output `out` is the same file as one of
 * the n inputs (same device and inode, through any link; "-" is standard
 * output / input). 0 otherwise. NULL entries are skipped. */
int cli_distinct_output(const char *cmd, const char *out, const char *const *inputs, size_t n);

/* JSON string output (escaped). */
void json_string(FILE *f, const char *s);
/* JSON number; NaN/Inf become null. */
void json_number(FILE *f, double v);

int cmd_inspect(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#endif
