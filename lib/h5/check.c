/* rnnck_check_file: every schema problem of a file, one line each. The
 * metadata walk is shared with rnnck_load (h5_scan.c, in report mode); this
 * file adds the data checks (NaN/Inf) on the datasets the walk accepted. */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <string.h>

rnnck_status rnnck__report_add(rnnck_report *r, const char *line) {
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        char **p = realloc(r->items, cap * sizeof *p);
        if (!p) return rnnck__oom();
        r->items = p;
        r->cap = cap;
    }
    char *copy = rnnck__strdup(line);
    if (!copy) return rnnck__oom();
    /* One line, whatever the text quotes (a probe's names come raw from the
     * file), as rnnck__err does for messages. */
    for (unsigned char *c = (unsigned char *)copy; *c; c++)
        if (*c < 0x20 || *c == 0x7f) *c = '?';
    r->items[r->count++] = copy;
    return RNNCK_OK;
}

size_t rnnck_report_count(const rnnck_report *r) { return r ? r->count : 0; }

const char *rnnck_report_item(const rnnck_report *r, size_t i) { return (r && i < r->count) ? r->items[i] : NULL; }

void rnnck_report_free(rnnck_report *r) {
    if (!r) return;
    for (size_t i = 0; i < r->count; i++)
        free(r->items[i]);
    free(r->items);
    free(r);
}

/* Reads one float tensor (one at a time: memory bounded by the largest) and
 * reports NaN/Inf, or a read failure. */
static rnnck_status check_values(rnnck_model *m, rnnck_tensor *t, const char *path, rnnck_report *r) {
    rnnck_tensor *tmp;
    rnnck_status st = rnnck_tensor_new(t->dtype, t->ndim, t->shape, &tmp);
    if (st) return st;
    char *object = rnnck__asprintf("/%s", rnnck_tensor_name(t));
    if (!object) {
        rnnck_tensor_free(tmp);
        return rnnck__oom();
    }
    for (char *c = object; *c; c++)
        if (*c == '.') *c = '/';
    char line[1200];
    st = rnnck_model_read(m, rnnck_tensor_name(t), t->dtype, rnnck_tensor_data(tmp), rnnck_tensor_nbytes(tmp));
    if (st == RNNCK_E_NOMEM) {
        /* fall through: out of memory stops the check */
    } else if (st) {
        snprintf(line, sizeof line, "%s", rnnck_errmsg());
        st = rnnck__report_add(r, line);
    } else {
        int64_t nonfinite = 0;
        rnnck_tensor_stats(tmp, NULL, NULL, NULL, NULL, &nonfinite);
        if (nonfinite > 0) {
            snprintf(line, sizeof line, "%s: %s: %lld NaN/Inf value%s", path, object, (long long)nonfinite,
                     nonfinite == 1 ? "" : "s");
            st = rnnck__report_add(r, line);
        }
    }
    free(object);
    rnnck_tensor_free(tmp);
    return st;
}

/* The whole check, in the helper or (RNNCK_CHECK_TRUSTED) here. In the
 * helper, chunked data is read in a helper of its own, so that a chunk that
 * crashes libhdf5 becomes one report line instead of ending the check. */
rnnck_status rnnck__h5_check_here(const char *path, const rnnck_limits *lim, unsigned flags, rnnck_report *r) {
    rnnck_model *m = NULL;
    rnnck_status st = rnnck__h5_scan_ex(path, lim, r, (flags & RNNCK_CHECK_TRUSTED) != 0, &m);
    for (size_t i = 0; !st && !(flags & RNNCK_CHECK_ALLOW_NONFINITE) && i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        if (rnnck_dtype_is_float(t->dtype)) st = check_values(m, t, path, r);
    }
    rnnck_model_free(m);
    return st;
}

rnnck_status rnnck_check_file(const char *path, unsigned flags, rnnck_report **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_check_file: NULL argument");
    rnnck_report *r = calloc(1, sizeof *r);
    if (!r) return rnnck__oom();
    /* Data is read too (NaN/Inf), so the whole check runs in the helper,
     * unless the caller trusts the file. */
    rnnck_status st;
    if (flags & RNNCK_CHECK_TRUSTED) {
        rnnck__h5_lock();
        st = rnnck__h5_check_here(path, NULL, flags, r);
        rnnck__h5_unlock();
    } else {
        st = rnnck__h5_isolated_path(path, NULL, flags, RNNCK__H5_JOB_CHECK, r);
    }
    if (st) {
        rnnck_report_free(r);
        return st;
    }
    rnnck__err_clear();
    *out = r;
    return RNNCK_OK;
}
