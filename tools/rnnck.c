/* rnnck — the command line. Dispatches to one function per command. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "cli.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS starts its worker pool when it is loaded, before main, and each
 * worker maps a 128 MiB buffer at once; every command stops the pool again
 * (cli_blas_single), since rnnck runs OpenBLAS at one thread inside its own
 * blocks. Under an address-space limit too small for those buffers
 * (`ulimit -v`, `prlimit --as` below about 200 MB on 2 cores) the workers
 * retry their mmap forever and the process hangs when it exits. So, with
 * OpenBLAS linked into this program (RNNCK_STATIC_OPENBLAS), this
 * constructor runs before OpenBLAS's (a priority before the default) and
 * asks it for one thread: no pool is ever started. The count OpenBLAS would
 * have chosen is kept as the default for --threads, and the user's
 * OPENBLAS_NUM_THREADS is put back in main. With a shared OpenBLAS its
 * constructor runs first and nothing changes. */
static char *user_blas_threads; /* the user's OPENBLAS_NUM_THREADS, if set */
static int user_blas_threads_set;

static int positive_env(const char *name) {
    const char *v = getenv(name);
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 && n < 4096 ? (int)n : 0;
}

__attribute__((constructor(101))) static void blas_start_single(void) {
    /* OpenBLAS's own order: OPENBLAS_NUM_THREADS, GOTO_NUM_THREADS, OMP_NUM_THREADS, the CPUs */
    int n = positive_env("OPENBLAS_NUM_THREADS");
    if (!n) n = positive_env("GOTO_NUM_THREADS");
    if (!n) n = positive_env("OMP_NUM_THREADS");
    cpu_set_t cpus;
    if (!n) n = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
    const char *user = getenv("OPENBLAS_NUM_THREADS");
    user_blas_threads_set = user != NULL;
    user_blas_threads = user ? strdup(user) : NULL;
    if (setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0) cli_blas_default_threads = n;
}

/* What children see (the helper, nothing else here, reads it). */
static void blas_restore_env(void) {
    if (user_blas_threads_set && user_blas_threads) setenv("OPENBLAS_NUM_THREADS", user_blas_threads, 1);
    else if (!user_blas_threads_set) unsetenv("OPENBLAS_NUM_THREADS");
    free(user_blas_threads);
    user_blas_threads = NULL;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"inspect", cmd_inspect, "print modules and every parameter with statistics (--json)"},
    {"check", cmd_check, "check a checkpoint against the schema; exit 1 on problems"},
    {"init", cmd_init, "write a fresh checkpoint laid out exactly as torch.nn.LSTM/GRU/RNN"},
    {"convert", cmd_convert, "convert between formats, exactly or not at all"},
    {"forward", cmd_forward, "run the reference forward pass on a .npy input"},
    {"validate", cmd_validate, "run A and B on the same inputs, compare, and name the mistake"},
    {"diff", cmd_diff, "compare parameters tensor by tensor, per gate block and direction"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "rnnck %s — the RNN checkpoint kit: move LSTM/GRU/RNN weights between frameworks\n"
            "without silently breaking them.\n\n"
            "usage: rnnck COMMAND [ARGS...]   (rnnck COMMAND --help for details)\n\n",
            rnnck_version());
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nformats read: %s; written: %s\n"
            "paths: '-' is stdin/stdout (OUT '-' needs --to); stdin and FIFOs are spooled, up to\n"
            "       --max-input BYTES (default 4G), waiting --input-wait SECONDS (default 10) for a\n"
            "       FIFO's writer; devices, FIFOs and sockets as OUT are streamed (npz, pytorch,\n"
            "       safetensors) or refused (rnnck/HDF5 needs a seekable file); OUT the same file as IN: exit 2\n"
            "exit codes: 0 ok; 1 check/validate found a problem; 2 bad usage;\n"
            "            3 input unreadable, malformed, unsupported or conversion refused; 4 output not written\n",
            rnnck_formats_readable(), rnnck_formats_writable());
}

int main(int argc, char **argv) {
    blas_restore_env();
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rnnck %s (schema %s)\n", rnnck_version(), RNNCK_SCHEMA_STRING);
        return EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc, argv);
    fprintf(stderr, "rnnck: unknown command '%s' (see rnnck --help)\n", argv[1]);
    return EXIT_USAGE;
}
