#define _GNU_SOURCE /* pipe2 */
/* Runs the walk of an untrusted HDF5 file in a forked child process first.
 *
 * Why: libhdf5 1.10.8 (Debian 12) still crashes, or tries to allocate absurd
 * amounts, on some malformed files (docs/SCHEMA.md, "Hostile files"); those
 * faults happen inside libhdf5's metadata decoders, before any check of ours
 * can run. A child that dies takes the fault with it, and the caller gets
 * RNNCK_E_FORMAT instead of a crash. The child reports back through a pipe:
 * report lines ('L') and one final status with its message ('S'). It leaves
 * with _exit, so it never runs the parent's atexit handlers (libhdf5's would
 * flush files the parent has open). */
#include "h5/h5_internal.h"

#include <fcntl.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REPLY ((size_t)256 << 20) /* bytes accepted from the child */

static bool write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool send_record(int fd, char kind, int32_t status, const char *text) {
    uint32_t len = (uint32_t)strlen(text);
    return write_all(fd, &kind, 1) && write_all(fd, &status, sizeof status) && write_all(fd, &len, sizeof len) &&
           write_all(fd, text, len);
}

static void run_child(int fd, const char *path, const rnnck_limits *lim, unsigned flags, rnnck__h5_job job,
                      bool want_report) {
    rnnck_report *report = want_report ? calloc(1, sizeof *report) : NULL;
    rnnck_status st = (want_report && !report) ? rnnck__oom() : job(path, lim, flags, report);
    bool ok = true;
    for (size_t i = 0; report && i < report->count && ok; i++)
        ok = send_record(fd, 'L', 0, report->items[i]);
    if (ok) send_record(fd, 'S', st, rnnck_errmsg());
    close(fd);
    _exit(0);
}

/* Reads the child's whole reply (until it closes the pipe). */
static char *read_reply(int fd, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *p = cap < MAX_REPLY ? realloc(buf, cap * 2) : NULL;
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
    }
    *len = n;
    return buf;
}

/* Replays the child's records; false if the reply is incomplete. */
static bool replay(const char *buf, size_t len, rnnck_report *report, rnnck_status *status) {
    size_t pos = 0;
    while (pos + 9 <= len) {
        char kind = buf[pos];
        int32_t st;
        uint32_t n;
        memcpy(&st, buf + pos + 1, sizeof st);
        memcpy(&n, buf + pos + 5, sizeof n);
        pos += 9;
        if (n > len - pos) return false;
        char *text = malloc((size_t)n + 1);
        if (!text) return false;
        memcpy(text, buf + pos, n);
        text[n] = '\0';
        pos += n;
        bool ok = true;
        if (kind == 'L' && report) {
            ok = rnnck__report_add(report, text) == RNNCK_OK;
        } else if (kind == 'S') {
            *status = st ? rnnck__err((rnnck_status)st, "%s", text) : RNNCK_OK;
            free(text);
            return pos == len;
        }
        free(text);
        if (!ok) return false;
    }
    return false;
}

rnnck_status rnnck__h5_isolated(const char *path, const rnnck_limits *lim, unsigned flags, rnnck__h5_job job,
                                rnnck_report *report) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return job(path, lim, flags, report); /* no isolation possible: run here */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return job(path, lim, flags, report);
    }
    if (pid == 0) {
        rnnck__h5_lock_reset_in_child();
        close(fds[0]);
        run_child(fds[1], path, lim, flags, job, report != NULL);
    }
    close(fds[1]);
    size_t len = 0;
    char *reply = read_reply(fds[0], &len);
    close(fds[0]);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    rnnck_status st = RNNCK_E_FORMAT;
    bool complete = reply && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && replay(reply, len, report, &st);
    free(reply);
    if (complete) return st;
    if (report) /* drop any partial lines: the caller gets no report */
        while (report->count)
            free(report->items[--report->count]);
    if (WIFSIGNALED(wstatus))
        return rnnck__err(RNNCK_E_FORMAT, "%s: libhdf5 crashed while reading this file (signal %d): malformed HDF5",
                          path, WTERMSIG(wstatus));
    return rnnck__err(RNNCK_E_FORMAT, "%s: reading this file failed in the isolated reader (exit status %d)", path,
                      WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}

/* ---- isolated data reads ----
 * Child: 'S' record (status, message), then on success exactly nbytes of
 * data. Parent: reads the record, then the data straight into dst. */

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

static void read_child(int fd, rnnck__h5_reader read_fn, void *ctx, size_t nbytes) {
    void *buf = malloc(nbytes);
    rnnck_status st = buf ? read_fn(ctx, buf, nbytes) : rnnck__oom();
    if (send_record(fd, 'S', st, rnnck_errmsg()) && st == RNNCK_OK) write_all(fd, buf, nbytes);
    close(fd);
    _exit(0);
}

rnnck_status rnnck__h5_isolated_read(const char *path, const char *object, rnnck__h5_reader read_fn, void *ctx,
                                     void *dst, size_t nbytes) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return read_fn(ctx, dst, nbytes);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return read_fn(ctx, dst, nbytes);
    }
    if (pid == 0) {
        rnnck__h5_lock_reset_in_child();
        close(fds[0]);
        read_child(fds[1], read_fn, ctx, nbytes);
    }
    close(fds[1]);
    char kind = 0;
    int32_t status = RNNCK_E_FORMAT;
    uint32_t len = 0;
    char msg[1024] = "";
    bool got = read_exact(fds[0], &kind, 1) && kind == 'S' && read_exact(fds[0], &status, sizeof status) &&
               read_exact(fds[0], &len, sizeof len) && len < sizeof msg && read_exact(fds[0], msg, len);
    if (got && status == RNNCK_OK) got = read_exact(fds[0], dst, nbytes);
    close(fds[0]); /* a child still writing gets EPIPE/SIGPIPE and ends */
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    if (got) return status ? rnnck__err((rnnck_status)status, "%s", msg) : RNNCK_OK;
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) != SIGPIPE)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: libhdf5 crashed while reading the data (signal %d): malformed HDF5",
                          path, object, WTERMSIG(wstatus));
    return rnnck__err(RNNCK_E_FORMAT, "%s: %s: the data could not be read in the isolated reader", path, object);
}
