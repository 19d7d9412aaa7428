/* Inputs and outputs that are not plain files, on the command line.
 *
 * The library reads regular files only (formats seek: zip directories at the
 * end, HDF5 anywhere), and refuses anything else without blocking. So the
 * tool spools "-" (standard input) and FIFOs into a temporary file, up to
 * --max-input bytes, and hands the library that file; messages name the
 * original ("<stdin>", the FIFO's path). A FIFO that gets no writer within
 * --input-wait seconds is refused instead of waited on forever. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_INPUT ((uint64_t)4 << 30) /* 4 GiB */
#define DEFAULT_INPUT_WAIT 10.0               /* seconds */
#define MAX_SPOOLS 8

static const char *max_input_s, *input_wait_s;
const cli_opt cli_input_opts[CLI_INPUT_NOPTS] = {
    {"--max-input", OPT_STRING, &max_input_s},
    {"--input-wait", OPT_STRING, &input_wait_s},
};

static struct {
    char *tmp;
    char *name;
} spools[MAX_SPOOLS];
static int nspools;

static void remove_spools(void) {
    for (int i = 0; i < nspools; i++) {
        unlink(spools[i].tmp);
        free(spools[i].tmp);
        free(spools[i].name);
    }
    nspools = 0;
}

/* "12", "64K", "3M", "4G" (binary multiples). */
static bool parse_size(const char *cmd, const char *s, uint64_t *out) {
    char buf[64];
    size_t n = strlen(s);
    uint64_t mul = 1;
    if (n && n < sizeof buf && strchr("KkMmGg", s[n - 1])) {
        char c = (char)(s[n - 1] | 0x20);
        mul = c == 'k' ? 1024u : c == 'm' ? 1024u * 1024u : 1024u * 1024u * 1024u;
        memcpy(buf, s, n - 1);
        buf[n - 1] = '\0';
        s = buf;
    }
    uint64_t v;
    if (!cli_parse_u64(cmd, "--max-input", s, &v)) return false;
    if (v == 0 || v > UINT64_MAX / mul) {
        cli_error(cmd, "--max-input: '%s' is not a size in bytes above 0", max_input_s);
        return false;
    }
    *out = v * mul;
    return true;
}

static bool input_settings(const char *cmd, uint64_t *max_input, int *wait_ms) {
    *max_input = DEFAULT_MAX_INPUT;
    double wait = DEFAULT_INPUT_WAIT;
    if (max_input_s && !parse_size(cmd, max_input_s, max_input)) return false;
    if (input_wait_s) {
        if (!cli_parse_double(cmd, "--input-wait", input_wait_s, &wait)) return false;
        if (wait < 0 || wait > 86400) {
            cli_error(cmd, "--input-wait: '%s' is not a number of seconds in [0, 86400]", input_wait_s);
            return false;
        }
    }
    *wait_ms = (int)ceil(wait * 1000);
    return true;
}

/* Copies fd to a new temporary file, at most max bytes. */
static int spool(const char *cmd, int fd, const char *name, uint64_t max, const char **use) {
    if (nspools == MAX_SPOOLS) {
        cli_error(cmd, "%s: more than %d inputs from streams", name, MAX_SPOOLS);
        return EXIT_USAGE;
    }
    const char *dir = getenv("TMPDIR");
    char *tmp = malloc(strlen(dir && *dir ? dir : "/tmp") + 32);
    char *copy = strdup(name);
    if (!tmp || !copy) {
        free(tmp);
        free(copy);
        cli_error(cmd, "out of memory");
        return EXIT_INPUT;
    }
    sprintf(tmp, "%s/rnnck-input-XXXXXX", dir && *dir ? dir : "/tmp");
    int out = mkstemp(tmp);
    if (out < 0) {
        cli_error(cmd, "%s: cannot create a temporary file to hold the input: %s", name, strerror(errno));
        free(tmp);
        free(copy);
        return EXIT_INPUT;
    }
    if (nspools == 0) atexit(remove_spools);
    spools[nspools].tmp = tmp;
    spools[nspools].name = copy;
    nspools++;
    static char buf[1 << 16];
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            cli_error(cmd, "%s: read failed: %s", name, strerror(errno));
            close(out);
            return EXIT_INPUT;
        }
        if (r == 0) break;
        if ((uint64_t)r > max - total) {
            cli_error(cmd, "%s: input is larger than --max-input (%llu bytes)", name, (unsigned long long)max);
            close(out);
            return EXIT_INPUT;
        }
        total += (uint64_t)r;
        for (ssize_t done = 0; done < r;) {
            ssize_t w = write(out, buf + done, (size_t)(r - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                cli_error(cmd, "%s: cannot spool the input to %s: %s", name, tmp, strerror(errno));
                close(out);
                return EXIT_INPUT;
            }
            done += w;
        }
    }
    if (close(out) != 0) {
        cli_error(cmd, "%s: cannot spool the input to %s: %s", name, tmp, strerror(errno));
        return EXIT_INPUT;
    }
    *use = tmp;
    return 0;
}

int cli_input(const char *cmd, const char *path, const char **use) {
    *use = path;
    if (!path) return 0;
    uint64_t max;
    int wait_ms;
    if (!input_settings(cmd, &max, &wait_ms)) return EXIT_USAGE;
    if (strcmp(path, "-") == 0) {
        if (isatty(STDIN_FILENO)) {
            cli_error(cmd, "standard input is a terminal; pipe a checkpoint into it or name a file");
            return EXIT_INPUT;
        }
        return spool(cmd, STDIN_FILENO, "<stdin>", max, use);
    }
    /* O_NONBLOCK: opening a FIFO with no writer returns at once. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISFIFO(sb.st_mode)) {
        if (fd >= 0) close(fd);
        return 0; /* files, and what the library refuses by name (directories, devices) */
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready;
    while ((ready = poll(&p, 1, wait_ms)) < 0 && errno == EINTR) {
    }
    if (ready <= 0) {
        cli_error(cmd, "%s: FIFO got no writer within %g s (--input-wait)", path, wait_ms / 1000.0);
        close(fd);
        return EXIT_INPUT;
    }
    /* A writer is there: from now on reads wait for its data. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int rc = spool(cmd, fd, path, max, use);
    close(fd);
    return rc;
}

const char *cli_input_display(const char *msg, char *buf, size_t bufsize) {
    for (int i = 0; i < nspools; i++) {
        const char *hit = strstr(msg, spools[i].tmp);
        if (!hit) continue;
        size_t pre = (size_t)(hit - msg);
        snprintf(buf, bufsize, "%.*s%s%s", (int)pre, msg, spools[i].name, hit + strlen(spools[i].tmp));
        return buf;
    }
    return msg;
}

/* Same device and inode, through any link; "-" is the standard stream. */
static bool stat_io(const char *path, int std_fd, struct stat *sb) {
    return strcmp(path, "-") == 0 ? fstat(std_fd, sb) == 0 : stat(path, sb) == 0;
}

int cli_distinct_output(const char *cmd, const char *out, const char *const *inputs, size_t n) {
    struct stat so, si;
    if (!out || !stat_io(out, STDOUT_FILENO, &so)) return 0;
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i] || !stat_io(inputs[i], STDIN_FILENO, &si)) continue;
        if (so.st_dev == si.st_dev && so.st_ino == si.st_ino) {
            cli_error(cmd, "%s is the same file as the input %s; refusing to overwrite an input", out, inputs[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}
