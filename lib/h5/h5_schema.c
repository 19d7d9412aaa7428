/* rnnck_load and the default safety limits; the walk is in h5_scan.c. */
#include "h5/h5_internal.h"

void rnnck_limits_init(rnnck_limits *limits) {
    if (!limits) return;
    limits->max_tensors = 100000;
    limits->max_tensor_bytes = (int64_t)16 << 30;
    limits->max_dim = (int64_t)1 << 31;
}

/* The metadata walk alone, for a child process to survive or die on. */
static rnnck_status preflight(const char *path, const rnnck_limits *limits, unsigned flags, rnnck_report *report) {
    (void)flags;
    (void)report;
    rnnck_model *m = NULL;
    rnnck_status st = rnnck__h5_scan(path, limits, NULL, &m);
    rnnck_model_free(m);
    return st;
}

rnnck_status rnnck_load(const char *path, const rnnck_limits *limits, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_load: NULL argument");
    /* Walk once in a child: a file that crashes libhdf5 is refused there. A
     * refusal comes back with its message; only a clean walk is repeated
     * here to build the model. */
    rnnck__h5_lock();
    rnnck_status st = rnnck__h5_isolated(path, limits, 0, preflight, NULL);
    if (!st) st = rnnck__h5_scan(path, limits, NULL, out);
    rnnck__h5_unlock();
    return st;
}
