/* rnnck__h5_scan: opens an rnnck HDF5 file, checks its schema version and
 * walks it (h5_walk.c) into a lazily loaded model. */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <string.h>

/* rnnck_schema: "MAJOR.MINOR". Returns the problem in check mode via report;
 * *walk false when the rest of the file cannot be interpreted. */
static rnnck_status check_version(rnnck__h5_file *f, hid_t root, bool *walk) {
    char version[64];
    bool present = false;
    *walk = false;
    rnnck_status st = rnnck__h5_attr_string(f, root, "/", "rnnck_schema", version, sizeof version, &present);
    if (st) return st;
    if (!present)
        return rnnck__err(RNNCK_E_FORMAT, "%s: not an rnnck checkpoint (no rnnck_schema attribute on the root group)",
                          f->path);
    unsigned long major = 0, minor = 0;
    int used = 0;
    if (sscanf(version, "%5lu.%5lu%n", &major, &minor, &used) != 2 || version[used] != '\0' || version[0] < '0' ||
        version[0] > '9' || major < 1)
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, "/", "rnnck_schema '%s' is not a version 'MAJOR.MINOR' (1.x)",
                              version);
    if (major != RNNCK_SCHEMA_MAJOR) {
        st = rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, "/",
                            "schema %s is newer than this reader understands (%d.x); upgrade rnnck", version,
                            RNNCK_SCHEMA_MAJOR);
        return rnnck__h5_problem(f, st);
    }
    char writer[256];
    st = rnnck__h5_attr_string(f, root, "/", "rnnck_writer", writer, sizeof writer, &present);
    if (st && (st = rnnck__h5_problem(f, st))) return st;
    *walk = true;
    return RNNCK_OK;
}

rnnck_status rnnck__h5_scan(const char *path, const rnnck_limits *lim, rnnck_report *report, rnnck_model **out) {
    return rnnck__h5_scan_ex(path, lim, report, false, out);
}

static rnnck_status scan(const char *path, const rnnck_limits *lim, rnnck_report *report, bool trusted,
                         rnnck_model **out, rnnck__h5_source **src_out);

rnnck_status rnnck__h5_scan_ex(const char *path, const rnnck_limits *lim, rnnck_report *report, bool trusted,
                               rnnck_model **out) {
    return scan(path, lim, report, trusted, out, NULL);
}

rnnck_status rnnck__h5_scan_src(const char *path, const rnnck_limits *lim, rnnck_model **out,
                                rnnck__h5_source **src) {
    return scan(path, lim, NULL, false, out, src);
}

static rnnck_status scan(const char *path, const rnnck_limits *lim, rnnck_report *report, bool trusted,
                         rnnck_model **out, rnnck__h5_source **src_out) {
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_load: NULL argument");
    if (lim && (lim->max_tensors < 1 || lim->max_tensor_bytes < 0 || lim->max_dim < 1))
        return rnnck__err(RNNCK_E_USAGE, "rnnck_load: limits must be positive");
    rnnck__h5_source *src;
    rnnck_model *m = NULL;
    rnnck_status st = rnnck__h5_source_new(path, &src);
    if (st) return st;
    rnnck__h5_source_trust(src, trusted);
    if (rnnck_model_new(&m)) {
        rnnck__h5_source_close(src);
        return rnnck__oom();
    }
    /* From here the model owns the source (and closes the file). */
    rnnck__h5_source_attach(m, src);
    rnnck__h5_file *f = rnnck__h5_source_file(src);
    st = rnnck__h5_open(f->path, lim, f);
    f->report = report;
    rnnck__h5_walk w = {f, src, m, NULL, 0, 0, 0, 0, false};
    /* Groups are objects too: allow as many as tensors, plus a margin. */
    w.object_limit = f->lim.max_tensors * 2 + 64;
    hid_t root = H5I_INVALID_HID;
    bool walk = false;
    if (!st) {
        root = H5Gopen2(f->fid, "/", H5P_DEFAULT);
        if (root < 0) st = rnnck__err(RNNCK_E_FORMAT, "%s: root group cannot be opened (corrupt file)", path);
    }
    if (!st) st = check_version(f, root, &walk);
    if (!st && walk) {
        H5O_info_t oi;
        bool seen;
        if (H5Oget_info2(root, &oi, H5O_INFO_BASIC) >= 0 && oi.addr != HADDR_UNDEF)
            st = rnnck__h5_remember_group(&w, oi.addr, &seen);
        if (!st) st = rnnck__h5_walk_group(&w, root, "/", "", 0);
    }
    if (!st && (int64_t)rnnck_model_tensor_count(m) > f->lim.max_tensors)
        st = rnnck__h5_problem(
            f, rnnck__err(RNNCK_E_FORMAT, "%s: more than %lld tensors (limit)", path, (long long)f->lim.max_tensors));
    if (root >= 0) H5Gclose(root);
    free(w.groups);
    f->report = NULL;
    if (st) {
        rnnck_model_free(m);
        return st;
    }
    *out = m;
    if (src_out) *src_out = src;
    return RNNCK_OK;
}
