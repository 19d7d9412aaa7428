/* rnnck_load and the default safety limits; the walk is in h5_scan.c. */
#include "h5/h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rnnck_limits_init(rnnck_limits *limits) {
    if (!limits) return;
    limits->max_tensors = 100000;
    limits->max_tensor_bytes = (int64_t)16 << 30;
    limits->max_dim = (int64_t)1 << 31;
}

/* ---- a helper walk made during detection (h5_internal.h) ---- */

typedef struct walked_note {
    rnnck_report *lines; /* NULL: nothing noted */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} walked_note;

static _Thread_local walked_note walked_last;

static bool same_ts(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

static bool same_note(const walked_note *n, const struct stat *s) {
    return n->dev == s->st_dev && n->ino == s->st_ino && n->size == s->st_size && same_ts(n->mtime, s->st_mtim) &&
           same_ts(n->ctime, s->st_ctim);
}

bool rnnck__h5_same_file(const struct stat *a, const struct stat *b) {
    walked_note n = {NULL, a->st_dev, a->st_ino, a->st_size, a->st_mtim, a->st_ctim};
    return same_note(&n, b);
}

void rnnck__h5_walked_forget(void) {
    rnnck_report_free(walked_last.lines);
    walked_last.lines = NULL;
}

void rnnck__h5_walked_note(const char *path, const struct stat *before, rnnck_report *lines) {
    struct stat now;
    rnnck__h5_walked_forget();
    if (stat(path, &now) != 0 || !S_ISREG(now.st_mode) || !rnnck__h5_same_file(before, &now)) {
        rnnck_report_free(lines); /* changed while the helper walked it */
        return;
    }
    walked_note n = {lines, before->st_dev, before->st_ino, before->st_size, before->st_mtim, before->st_ctim};
    walked_last = n;
}

rnnck_report *rnnck__h5_walked(const struct stat *sb, const rnnck_limits *limits) {
    walked_note n = walked_last;
    walked_last.lines = NULL; /* once */
    bool usable = n.lines != NULL && same_note(&n, sb);
    if (usable && limits) {
        rnnck_limits d;
        rnnck_limits_init(&d);
        usable = limits->max_tensors == d.max_tensors && limits->max_tensor_bytes == d.max_tensor_bytes &&
                 limits->max_dim == d.max_dim;
    }
    if (usable) return n.lines;
    rnnck_report_free(n.lines);
    return NULL;
}

/* Untrusted: libhdf5 never opens the file in this process. The file is
 * opened here once: the helper walks this descriptor (its fd 3), the data
 * is later read from it (contiguous data here, the rest by helper sessions
 * handed the same descriptor), and the model is rebuilt from the helper's
 * description (h5_remote.c). A file renamed over the path meanwhile is
 * never read. The walk counts only if the file was not changed in place
 * while it ran: same size, mtime and ctime before and after. */
static rnnck_status load_untrusted(const char *path, const rnnck_limits *limits, rnnck_model **out) {
    int fd;
    struct stat before, fnow;
    rnnck_status st = rnnck__open_regular_input(path, &fd, &before);
    if (st) return st;
    rnnck_report *lines = rnnck__h5_walked(&before, limits);
    if (!lines) {
        if (!(lines = calloc(1, sizeof *lines))) st = rnnck__oom();
        /* The helper runs outside the lock: it shares nothing with this process. */
        if (!st) st = rnnck__h5_isolated(path, fd, &before, limits, 0, RNNCK__H5_JOB_WALK, lines);
        if (!st && (fstat(fd, &fnow) != 0 || !rnnck__h5_same_file(&before, &fnow)))
            st = rnnck__err(RNNCK_E_IO, "%s: the file changed while it was being read; open it again", path);
    }
    if (st) {
        close(fd);
        rnnck_report_free(lines);
        return st;
    }
    st = rnnck__h5_rebuild(path, limits, fd, (int64_t)before.st_size, lines, out);
    rnnck_report_free(lines);
    return st;
}

rnnck_status rnnck__load(const char *path, const rnnck_limits *limits, bool trusted, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_load: NULL argument");
    if (limits && (limits->max_tensors < 1 || limits->max_tensor_bytes < 0 || limits->max_dim < 1))
        return rnnck__err(RNNCK_E_USAGE, "rnnck_load: limits must be positive");
    if (!trusted) return load_untrusted(path, limits, out);
    rnnck__h5_lock();
    rnnck_status st = rnnck__h5_scan_ex(path, limits, NULL, true, out);
    rnnck__h5_unlock();
    return st;
}

rnnck_status rnnck_load(const char *path, const rnnck_limits *limits, rnnck_model **out) {
    return rnnck__load(path, limits, false, out);
}
