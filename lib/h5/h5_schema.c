/* rnnck_load and the default safety limits; the walk is in h5_scan.c. */
#include "h5/h5_internal.h"

void rnnck_limits_init(rnnck_limits *limits) {
    if (!limits) return;
    limits->max_tensors = 100000;
    limits->max_tensor_bytes = (int64_t)16 << 30;
    limits->max_dim = (int64_t)1 << 31;
}

/* The metadata walk alone, for the helper process to survive or die on. */
rnnck_status rnnck__h5_preflight(const char *path, const rnnck_limits *limits, unsigned flags, rnnck_report *report) {
    (void)flags;
    (void)report;
    rnnck_model *m = NULL;
    rnnck_status st = rnnck__h5_scan(path, limits, NULL, &m);
    rnnck_model_free(m);
    return st;
}

/* ---- a helper walk made during detection (h5_internal.h) ---- */

typedef struct walked_note {
    bool set;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} walked_note;

static _Thread_local walked_note walked_last;

static bool same_ts(struct timespec a, struct timespec b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

static bool same_file(const walked_note *n, const struct stat *s) {
    return n->dev == s->st_dev && n->ino == s->st_ino && n->size == s->st_size && same_ts(n->mtime, s->st_mtim) &&
           same_ts(n->ctime, s->st_ctim);
}

void rnnck__h5_walked_note(const char *path, const struct stat *before) {
    struct stat now;
    walked_last.set = false;
    if (stat(path, &now) != 0 || !S_ISREG(now.st_mode)) return;
    walked_note n = {true, before->st_dev, before->st_ino, before->st_size, before->st_mtim, before->st_ctim};
    if (same_file(&n, &now)) walked_last = n; /* unchanged while the helper walked it */
}

bool rnnck__h5_walked(const char *path, const rnnck_limits *limits) {
    walked_note n = walked_last;
    walked_last.set = false; /* once */
    if (!n.set) return false;
    if (limits) {
        rnnck_limits d;
        rnnck_limits_init(&d);
        if (limits->max_tensors != d.max_tensors || limits->max_tensor_bytes != d.max_tensor_bytes ||
            limits->max_dim != d.max_dim)
            return false;
    }
    struct stat now;
    return stat(path, &now) == 0 && S_ISREG(now.st_mode) && same_file(&n, &now);
}

void rnnck__h5_walked_forget(void) { walked_last.set = false; }

rnnck_status rnnck__load(const char *path, const rnnck_limits *limits, bool trusted, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_load: NULL argument");
    if (limits && (limits->max_tensors < 1 || limits->max_tensor_bytes < 0 || limits->max_dim < 1))
        return rnnck__err(RNNCK_E_USAGE, "rnnck_load: limits must be positive");
    /* Untrusted: walk once in the helper, where a file that crashes libhdf5
     * is refused. A refusal comes back with its message; only a clean walk
     * is repeated here to build the model. The helper runs outside the lock:
     * it shares nothing with this process. When rnnck_open's detection just
     * had this unchanged file walked by its probe helper, that walk counts. */
    rnnck_status st = trusted || rnnck__h5_walked(path, limits)
                          ? RNNCK_OK
                          : rnnck__h5_isolated(path, limits, 0, RNNCK__H5_JOB_WALK, NULL);
    if (st) return st;
    rnnck__h5_lock();
    st = rnnck__h5_scan_ex(path, limits, NULL, trusted, out);
    rnnck__h5_unlock();
    return st;
}

rnnck_status rnnck_load(const char *path, const rnnck_limits *limits, rnnck_model **out) {
    return rnnck__load(path, limits, false, out);
}
