#define _GNU_SOURCE /* dladdr, pipe2, posix_spawn_file_actions_addclosefrom_np */
/* Runs untrusted HDF5 work in a separate helper executable, rnnck-h5-reader.
 *
 * Why: libhdf5 1.10.8 (Debian 12) still crashes, or tries to allocate absurd
 * amounts, on some malformed files (docs/SCHEMA.md, "Hostile files"); those
 * faults happen inside libhdf5's metadata decoders, before any check of ours
 * can run. A helper process that dies takes the fault with it, and the
 * caller gets RNNCK_E_FORMAT instead of a crash.
 *
 * Why a helper started with posix_spawn rather than a fork()ed child: a fork
 * copies the host's threads' locks (libhdf5's global lock, a non-fork-safe
 * allocator's) in whatever state they are, and the child can hang on them;
 * atfork handlers of the host run; and the child runs the host's code. The
 * helper is a fresh program (exec), started by posix_spawn (glibc: clone
 * with CLONE_VM|CLONE_VFORK, no atfork handlers), with default signal
 * dispositions, an empty signal mask, only fds 0-3 open (0 and 2 on
 * /dev/null, 1 the reply pipe, 3 the file), and limits on address space and
 * CPU time that it sets on itself before touching the file (h5_helper.c).
 *
 * Which file: the caller opens the input once and hands that descriptor to
 * every helper it starts (fd 3), and reads contiguous data from it itself.
 * The helper reopens it as /proc/self/fd/3, which on Linux is the same
 * inode whatever the path names by then, so a file renamed over the path
 * between the caller's checks, the walk and later reads is never read.
 *
 * Where: found from this library's own location (dladdr), never from PATH:
 * the installed libexec directory relative to the library or to the program
 * it is linked into, the same directory (build tree), then the configured
 * install directory (for programs that link librnnck.a statically).
 *
 * The protocol (helper -> library, on the pipe): an 8-byte magic, then
 * records {u8 kind, i32 status, u64 length, length bytes}: 'L' a report
 * line, 'S' the final status and its message, then for reads 'D' the data.
 * Every field is checked: lengths bounded, kinds known, the data exactly the
 * size asked for, nothing after the end. Anything else is RNNCK_E_FORMAT.
 * A session (job `serve`, at the end of this file) keeps one helper for many
 * reads of one file: requests go to its fd 0, replies come back per read. */
#include "h5/h5_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RNNCK_HELPER_FROM_LIBDIR
#define RNNCK_HELPER_FROM_LIBDIR "../libexec/rnnck"
#endif
#ifndef RNNCK_HELPER_FROM_BINDIR
#define RNNCK_HELPER_FROM_BINDIR "../libexec/rnnck"
#endif
#ifndef RNNCK_HELPER_INSTALLED_DIR
#define RNNCK_HELPER_INSTALLED_DIR "/usr/local/libexec/rnnck"
#endif

extern char **environ;

/* ---- finding the helper ---- */

static char helper_path[PATH_MAX];
static bool helper_found;
static pthread_once_t helper_once = PTHREAD_ONCE_INIT;

static bool try_helper(const char *dir, const char *rel) {
    char cand[PATH_MAX];
    int n = rel ? snprintf(cand, sizeof cand, "%s/%s/%s", dir, rel, RNNCK__H5_HELPER_NAME)
                : snprintf(cand, sizeof cand, "%s/%s", dir, RNNCK__H5_HELPER_NAME);
    if (n < 0 || (size_t)n >= sizeof cand || access(cand, X_OK) != 0) return false;
    memcpy(helper_path, cand, (size_t)n + 1);
    return true;
}

static void find_helper(void) {
    Dl_info info;
    char self[PATH_MAX] = "";
    /* The object this function lives in: librnnck.so, or the program that
     * linked librnnck.a. realpath: a symlinked library is found at home. */
    /* For the main program, dladdr gives argv[0]-like names (empty, relative,
     * or what a test runner set): its file is /proc/self/exe. The main
     * program is the object holding the program headers (AT_PHDR). */
    Dl_info main_info;
    bool have = dladdr((void *)find_helper, &info) && info.dli_fname;
    bool in_main = have && dladdr((void *)getauxval(AT_PHDR), &main_info) && main_info.dli_fbase == info.dli_fbase;
    const char *obj = have && !in_main ? info.dli_fname : "/proc/self/exe";
    if (realpath(obj, self)) {
        char *slash = strrchr(self, '/');
        if (slash) *slash = '\0';
        helper_found = try_helper(self, RNNCK_HELPER_FROM_LIBDIR) || try_helper(self, RNNCK_HELPER_FROM_BINDIR) ||
                       try_helper(self, NULL);
    }
    if (!helper_found) helper_found = try_helper(RNNCK_HELPER_INSTALLED_DIR, NULL);
}

const char *rnnck__h5_helper_path(void) {
    pthread_once(&helper_once, find_helper);
    return helper_found ? helper_path : NULL;
}

/* ---- starting it ---- */

typedef struct helper {
    pid_t pid;
    int fd; /* read end of the reply pipe */
} helper;

static atomic_ullong helper_starts;

rnnck__h5_spawn_hook_fn rnnck__h5_spawn_hook;

unsigned long long rnnck__h5_helper_starts(void) { return atomic_load(&helper_starts); }

/* Starts the helper with fd 1 on reply_fd, fd 0 on request_fd (-1:
 * /dev/null) and fd 3 on input_fd, the file it is to read (the helper
 * reopens it as /proc/self/fd/3: h5_file.c). The caller closes its copies
 * of the first two and keeps input_fd. */
static rnnck_status spawn_helper_on(const char *path, char *const *argv, int request_fd, int reply_fd, int input_fd,
                                    pid_t *pid) {
    const char *exe = rnnck__h5_helper_path();
    if (!exe)
        return rnnck__err(RNNCK_E_IO,
                          "%s: the isolated HDF5 reader %s is not installed beside the library (looked in "
                          "%s and %s relative to it, and in %s); reinstall rnnck, or open trusted files "
                          "in-process (RNNCK_OPEN_TRUSTED)",
                          path, RNNCK__H5_HELPER_NAME, RNNCK_HELPER_FROM_LIBDIR, RNNCK_HELPER_FROM_BINDIR,
                          RNNCK_HELPER_INSTALLED_DIR);
    /* The helper reopens fd 3 through /proc (h5_file.c) and refuses without
     * it; checked here too, because a helper that cannot even start without
     * /proc (a sanitized build reads /proc/self/maps first) would only say
     * that it failed. The helper shares this process's mount namespace. */
    char through[64];
    struct stat via, held;
    snprintf(through, sizeof through, "/proc/self/fd/%d", input_fd);
    if (stat(through, &via) != 0 || fstat(input_fd, &held) != 0 || via.st_dev != held.st_dev ||
        via.st_ino != held.st_ino)
        return rnnck__err(RNNCK_E_IO,
                          "%s: the isolated reader could not reopen the library's descriptor as %s (is /proc "
                          "mounted? without it, untrusted HDF5 files are refused; open trusted files in-process "
                          "with RNNCK_OPEN_TRUSTED)",
                          path, through);
    /* dup2 onto 0 and 1 comes first: an input below 3 (a host that closed
     * its standard streams) is moved out of their way first. */
    int moved = -1;
    if (input_fd < 3) {
        moved = fcntl(input_fd, F_DUPFD_CLOEXEC, 3);
        if (moved < 0)
            return rnnck__err(RNNCK_E_IO, "%s: cannot start the isolated reader: dup: %s", path, strerror(errno));
        input_fd = moved;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (request_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, request_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, reply_fd, 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, input_fd, 3); /* same fd: glibc clears its FD_CLOEXEC */
    posix_spawn_file_actions_addclosefrom_np(&fa, 4); /* the host's fds, whatever their flags */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int e = posix_spawn(pid, exe, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (moved >= 0) close(moved);
    if (e != 0) return rnnck__err(RNNCK_E_IO, "%s: cannot start the isolated reader %s: %s", path, exe, strerror(e));
    atomic_fetch_add(&helper_starts, 1);
    return RNNCK_OK;
}

/* No helper: the hook's descriptor stands for the helper's end (pid 0:
 * nothing to wait for). */
static rnnck_status hooked(const char *path, const char *job, int *fd, pid_t *pid) {
    *fd = rnnck__h5_spawn_hook(job);
    *pid = 0;
    if (*fd < 0) return rnnck__err(RNNCK_E_IO, "%s: cannot start the isolated reader (test hook)", path);
    return RNNCK_OK;
}

/* One job: a reply pipe, no requests. */
static rnnck_status spawn_helper(const char *path, char *const *argv, int input_fd, helper *h) {
    if (rnnck__h5_spawn_hook) /* the reply fuzz targets: no helper, a canned reply */
        return hooked(path, argv[1], &h->fd, &h->pid);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return rnnck__err(RNNCK_E_IO, "%s: cannot start the isolated reader: pipe: %s", path, strerror(errno));
    rnnck_status st = spawn_helper_on(path, argv, -1, fds[1], input_fd, &h->pid);
    close(fds[1]);
    if (st) {
        close(fds[0]);
        return st;
    }
    h->fd = fds[0];
    return RNNCK_OK;
}

/* Waits for the helper; its wait status, or -1 if it cannot be had (a host
 * that set SIGCHLD to SIG_IGN has children reaped for it: ECHILD). */
static int finish_helper(helper *h) {
    close(h->fd);
    int ws;
    pid_t r;
    if (h->pid <= 0) return 0; /* hooked: a clean exit */
    while ((r = waitpid(h->pid, &ws, 0)) < 0 && errno == EINTR) {
    }
    return r == h->pid ? ws : -1;
}

/* ---- the protocol ---- */

#define MAX_TEXT ((uint64_t)64 << 10) /* one report line or message */
#define MAX_LINES 1000000u

static bool read_exact(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

static bool read_record_head(int fd, char *kind, int32_t *status, uint64_t *len) {
    unsigned char head[13];
    if (!read_exact(fd, head, sizeof head)) return false;
    *kind = (char)head[0];
    memcpy(status, head + 1, 4);
    memcpy(len, head + 5, 8);
    return true;
}

static bool at_end(int fd) {
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR) {
    }
    return r == 0;
}

static bool one_line(const char *s) {
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f) return false;
    return true;
}

static bool known_status(int32_t st) { return st <= 0 && st >= RNNCK_E_SHAPE; }

/* Reads the reply: report lines, the status (and message), then nbytes of
 * data into dst when dst is not NULL and the status is OK. false if the
 * reply breaks the protocol in any way. */
static bool read_reply(int fd, rnnck_report *report, void *dst, size_t nbytes, rnnck_status *status, char *msg,
                       size_t msgsize) {
    char magic[8];
    if (!read_exact(fd, magic, sizeof magic) || memcmp(magic, RNNCK__H5_HELPER_MAGIC, 8) != 0) return false;
    size_t lines = 0;
    for (;;) {
        char kind;
        int32_t st;
        uint64_t len;
        if (!read_record_head(fd, &kind, &st, &len)) return false;
        if ((kind != 'L' && kind != 'S') || len > MAX_TEXT || len >= msgsize) return false;
        if (!read_exact(fd, msg, (size_t)len)) return false;
        msg[len] = '\0';
        if (memchr(msg, '\0', (size_t)len)) return false;
        if (kind == 'L') {
            /* The helper's lines are non-empty single lines (report_add):
             * anything else is a helper that lost control. */
            if (len == 0 || !one_line(msg)) return false;
            if (!report || st != 0 || ++lines > MAX_LINES || rnnck__report_add(report, msg) != RNNCK_OK) return false;
            continue;
        }
        if (!known_status(st)) return false;
        *status = (rnnck_status)st;
        break;
    }
    if (dst && *status == RNNCK_OK) {
        char kind;
        int32_t st;
        uint64_t len;
        if (!read_record_head(fd, &kind, &st, &len) || kind != 'D' || st != 0 || len != (uint64_t)nbytes ||
            !read_exact(fd, dst, nbytes))
            return false;
    }
    return at_end(fd);
}

static rnnck_status crashed(const char *path, const char *object, int ws) {
    const char *sep = object ? ": " : "";
    if (ws != -1 && WIFSIGNALED(ws)) {
        int sig = WTERMSIG(ws);
        if (sig == SIGXCPU || sig == SIGKILL)
            return rnnck__err(RNNCK_E_FORMAT, "%s%s%s: the isolated reader ran out of its CPU time (signal %d)", path,
                              sep, object ? object : "", sig);
        return rnnck__err(RNNCK_E_FORMAT, "%s%s%s: libhdf5 crashed while reading this file (signal %d): malformed HDF5",
                          path, sep, object ? object : "", sig);
    }
    return rnnck__err(RNNCK_E_FORMAT, "%s%s%s: reading this file failed in the isolated reader (exit status %d)", path,
                      sep, object ? object : "", ws != -1 && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
}

/* The helper's failure status with its message; a message it left empty is
 * replaced (every failure has one: found by fuzz_rnnck_h5_reply). */
static rnnck_status helper_failure(const char *path, const char *object, rnnck_status st, const char *msg) {
    if (msg[0]) return rnnck__err(st, "%s", msg);
    return rnnck__err(st, "%s%s%s: the isolated reader failed (status %d) without saying why", path,
                      object ? ": " : "", object ? object : "", (int)st);
}

/* Runs the helper with argv and collects its verdict. */
static rnnck_status run_helper(const char *path, const char *object, char *const *argv, int input_fd,
                               rnnck_report *report, void *dst, size_t nbytes) {
    helper h;
    rnnck_status st = spawn_helper(path, argv, input_fd, &h);
    if (st) return st;
    char *msg = malloc(MAX_TEXT + 1);
    rnnck_status verdict = RNNCK_E_FORMAT;
    bool ok = msg && read_reply(h.fd, report, dst, nbytes, &verdict, msg, MAX_TEXT + 1);
    int ws = finish_helper(&h);
    /* A clean reply is the verdict even if the exit status was lost (-1). */
    if (ok && (ws == -1 || (WIFEXITED(ws) && WEXITSTATUS(ws) == 0))) {
        st = verdict ? helper_failure(path, object, verdict, msg) : RNNCK_OK;
        free(msg);
        return st;
    }
    bool oom = !msg;
    free(msg);
    if (report) /* drop any partial lines: the caller gets no report */
        while (report->count)
            free(report->items[--report->count]);
    return oom ? rnnck__oom() : crashed(path, object, ws);
}

/* ---- the jobs ---- */

#define I64(buf, v) (snprintf(buf, sizeof buf, "%lld", (long long)(v)), buf)

/* Address space for the helper: room for libhdf5's metadata and the data it
 * must hold, far below what a lying size field asks for. */
static int64_t as_limit(int64_t data_bytes) {
    int64_t base = (int64_t)2 << 30;
    if (data_bytes > ((int64_t)1 << 40)) data_bytes = (int64_t)1 << 40;
    return base + 2 * data_bytes;
}

/* The caller's descriptor still holds the file it checked: same device,
 * inode and size (a descriptor cannot change files, but a file can be
 * truncated or grown in place). */
static rnnck_status check_input(const char *path, int fd, const struct stat *sb) {
    struct stat now;
    if (fd < 0 || fstat(fd, &now) != 0 || !S_ISREG(now.st_mode))
        return rnnck__err(RNNCK_E_IO, "%s: the file's descriptor is not an open regular file", path);
    if (now.st_dev != sb->st_dev || now.st_ino != sb->st_ino || now.st_size != sb->st_size)
        return rnnck__err(RNNCK_E_IO, "%s: the file changed (size %lld, was %lld) since it was opened; open it again",
                          path, (long long)now.st_size, (long long)sb->st_size);
    return RNNCK_OK;
}

rnnck_status rnnck__h5_isolated(const char *path, int fd, const struct stat *sb, const rnnck_limits *lim,
                                unsigned flags, rnnck__h5_job_kind kind, rnnck_report *report) {
    rnnck_limits l;
    if (lim)
        l = *lim;
    else
        rnnck_limits_init(&l);
    rnnck_status st = check_input(path, fd, sb);
    if (st) return st;
    int64_t file_size = (int64_t)sb->st_size;
    char as[32], cpu[32], a1[32], a2[32], a3[32], fl[32];
    /* CPU: a check reads all the data, so it gets 30 s plus time for the
     * file's size. A metadata job (walk, tree, probe) touches metadata only,
     * so a few seconds plus the same rate: libhdf5 1.10.8 can loop on a
     * corrupt 15 KB file for minutes, and this bound is what ends it
     * (docs/BUDGETS.md; a real walk takes milliseconds). */
    int64_t cpu_s = (kind == RNNCK__H5_JOB_CHECK ? 30 : 5) + file_size / ((int64_t)32 << 20);
    char *argv[] = {(char *)RNNCK__H5_HELPER_NAME,
                    kind == RNNCK__H5_JOB_CHECK   ? "check"
                    : kind == RNNCK__H5_JOB_TREE  ? "tree"
                    : kind == RNNCK__H5_JOB_PROBE ? "probe"
                                                  : "walk",
                    I64(as, as_limit(kind == RNNCK__H5_JOB_CHECK ? l.max_tensor_bytes : 0)),
                    I64(cpu, cpu_s),
                    (char *)path,
                    I64(a1, l.max_tensors),
                    I64(a2, l.max_tensor_bytes),
                    I64(a3, l.max_dim),
                    I64(fl, flags),
                    NULL};
    return run_helper(path, NULL, argv, fd, report, NULL, 0);
}

/* ---- a session: one helper, many reads ----
 * The helper (job `serve`) sends the magic, opens the file once, then
 * answers requests read from its fd 0 until their end. A request: {u8 'R',
 * i32 dtype, u64 numel, u64 length, length bytes of the dataset's path}.
 * Its reply: the 'S' record, then, when the status is OK, the 'D' record of
 * exactly numel * dtype size bytes. Both directions share one socket, which
 * this process writes with MSG_NOSIGNAL (a dead helper is an error, not a
 * SIGPIPE in the host). */

#define REQUEST_HEAD 21

struct rnnck__h5_session {
    pid_t pid;
    int fd;      /* this side of the socket; -1 once the helper is gone */
    char *path;  /* names the file in messages */
    char *msg;   /* MAX_TEXT + 1 bytes for the helper's messages */
    bool failed; /* the helper died or broke the protocol: no more reads */
};

static bool send_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Ends a helper that died or broke the protocol, and says which. Closing
 * the socket first: a helper blocked writing gets EPIPE, one reading EOF. */
static rnnck_status session_failed(rnnck__h5_session *s, const char *object) {
    s->failed = true;
    int ws = -1;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
        pid_t r = -1;
        while (s->pid > 0 && (r = waitpid(s->pid, &ws, 0)) < 0 && errno == EINTR) {
        }
        if (r != s->pid) ws = -1;
    }
    return crashed(s->path, object, ws);
}

rnnck_status rnnck__h5_session_open(const char *path, int fd, const struct stat *sb, int64_t max_bytes,
                                    int64_t total_bytes, rnnck__h5_session **out) {
    rnnck_status st = check_input(path, fd, sb);
    if (st) return st;
    int64_t file_size = (int64_t)sb->st_size;
    if (max_bytes < 0 || total_bytes < 0)
        return rnnck__err(RNNCK_E_USAGE, "%s: negative budget for the isolated reader", path);
    rnnck__h5_session *s = calloc(1, sizeof *s);
    if (!s || !(s->path = rnnck__strdup(path)) || !(s->msg = malloc(MAX_TEXT + 1))) {
        if (s) free(s->path);
        free(s);
        return rnnck__oom();
    }
    s->fd = -1;
    int sv[2];
    if (rnnck__h5_spawn_hook) {
        st = hooked(path, "serve", &s->fd, &s->pid);
    } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        st = rnnck__err(RNNCK_E_IO, "%s: cannot start the isolated reader: socketpair: %s", path, strerror(errno));
    } else {
        /* CPU: what a one-dataset read gets, plus the time to read every
         * byte the session may be asked for (total_bytes, which the caller
         * bounds by the file's datasets). AS: room for the largest one. */
        char as[32], cpu[32];
        if (total_bytes > ((int64_t)1 << 50)) total_bytes = (int64_t)1 << 50;
        int64_t cpu_s = 30 + file_size / ((int64_t)32 << 20) + total_bytes / ((int64_t)32 << 20);
        char *argv[] = {(char *)RNNCK__H5_HELPER_NAME, "serve", I64(as, as_limit(max_bytes)), I64(cpu, cpu_s),
                        (char *)path, NULL};
        st = spawn_helper_on(path, argv, sv[1], sv[1], fd, &s->pid);
        close(sv[1]);
        if (st)
            close(sv[0]);
        else
            s->fd = sv[0];
    }
    char magic[8];
    if (!st && (!read_exact(s->fd, magic, sizeof magic) || memcmp(magic, RNNCK__H5_HELPER_MAGIC, 8) != 0))
        st = session_failed(s, NULL);
    if (st) {
        rnnck__h5_session_close(s);
        return st;
    }
    *out = s;
    return RNNCK_OK;
}

rnnck_status rnnck__h5_session_read(rnnck__h5_session *s, const char *object, rnnck_dtype dtype, int64_t numel,
                                    void *dst, size_t nbytes) {
    size_t es = rnnck_dtype_size(dtype), want = 0, plen = strnlen(object, MAX_TEXT + 1);
    if (!es || numel < 0 || rnnck__mul_overflow_size((size_t)numel, es, &want) || want != nbytes || plen > MAX_TEXT)
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: invalid read request (%lld elements of dtype %d into %zu bytes)",
                          s->path, object, (long long)numel, (int)dtype, nbytes);
    if (s->failed)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: the isolated reader failed on an earlier dataset of this file",
                          s->path, object);
    unsigned char head[REQUEST_HEAD];
    int32_t dt = (int32_t)dtype;
    uint64_t ne = (uint64_t)numel, pl = (uint64_t)plen;
    head[0] = 'R';
    memcpy(head + 1, &dt, 4);
    memcpy(head + 5, &ne, 8);
    memcpy(head + 13, &pl, 8);
    if (!send_all(s->fd, head, sizeof head) || !send_all(s->fd, object, plen)) return session_failed(s, object);
    char kind;
    int32_t st;
    uint64_t len;
    if (!read_record_head(s->fd, &kind, &st, &len) || kind != 'S' || !known_status(st) || len > MAX_TEXT ||
        !read_exact(s->fd, s->msg, (size_t)len))
        return session_failed(s, object);
    s->msg[len] = '\0';
    if (memchr(s->msg, '\0', (size_t)len)) return session_failed(s, object);
    if (st) return helper_failure(s->path, object, (rnnck_status)st, s->msg);
    if (!read_record_head(s->fd, &kind, &st, &len) || kind != 'D' || st != 0 || len != (uint64_t)nbytes ||
        !read_exact(s->fd, dst, nbytes))
        return session_failed(s, object);
    return RNNCK_OK;
}

bool rnnck__h5_session_failed(const rnnck__h5_session *s) { return s && s->failed; }

void rnnck__h5_session_close(rnnck__h5_session *s) {
    if (!s) return;
    if (s->fd >= 0) { /* the end of the requests: the helper exits */
        shutdown(s->fd, SHUT_WR);
        close(s->fd);
        while (s->pid > 0 && waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    free(s->msg);
    free(s->path);
    free(s);
}

rnnck_status rnnck__h5_isolated_path(const char *path, const rnnck_limits *lim, unsigned flags,
                                     rnnck__h5_job_kind kind, rnnck_report *report) {
    int fd = -1;
    struct stat sb;
    rnnck_status st = rnnck__open_regular_input(path, &fd, &sb);
    if (st) return st;
    st = rnnck__h5_isolated(path, fd, &sb, lim, flags, kind, report);
    close(fd);
    return st;
}
