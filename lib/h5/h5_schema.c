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

rnnck_status rnnck__load(const char *path, const rnnck_limits *limits, bool trusted, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_load: NULL argument");
    if (limits && (limits->max_tensors < 1 || limits->max_tensor_bytes < 0 || limits->max_dim < 1))
        return rnnck__err(RNNCK_E_USAGE, "rnnck_load: limits must be positive");
    /* Untrusted: walk once in the helper, where a file that crashes libhdf5
     * is refused. A refusal comes back with its message; only a clean walk
     * is repeated here to build the model. The helper runs outside the lock:
     * it shares nothing with this process. */
    rnnck_status st = trusted ? RNNCK_OK : rnnck__h5_isolated(path, limits, 0, RNNCK__H5_JOB_WALK, NULL);
    if (st) return st;
    rnnck__h5_lock();
    st = rnnck__h5_scan_ex(path, limits, NULL, trusted, out);
    rnnck__h5_unlock();
    return st;
}

rnnck_status rnnck_load(const char *path, const rnnck_limits *limits, rnnck_model **out) {
    return rnnck__load(path, limits, false, out);
}
