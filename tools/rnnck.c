/* rnnck — the command line. Dispatches to one function per command. */
#include "cli.h"

#include <string.h>

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
