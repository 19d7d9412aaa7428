/* The lazy data source behind a model loaded from an rnnck HDF5 file: the
 * open file plus the HDF5 path of each tensor (its source_key). */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <string.h>

struct rnnck__h5_source {
    rnnck__h5_file file;
    char *path_copy; /* file.path points here */
    char **datasets; /* HDF5 path of each source_key */
    bool *isolate;   /* per source_key: read in the helper process */
    bool trusted;    /* RNNCK_OPEN_TRUSTED: read everything here */
    size_t count, cap;
};

void rnnck__h5_source_close(void *ctx) {
    rnnck__h5_source *s = ctx;
    if (!s) return;
    rnnck__h5_lock();
    rnnck__h5_silence();
    rnnck__h5_close(&s->file);
    rnnck__h5_unlock();
    for (size_t i = 0; i < s->count; i++)
        free(s->datasets[i]);
    free(s->datasets);
    free(s->isolate);
    free(s->path_copy);
    free(s);
}

/* The bytes of one chunk of ds as declared (element size x chunk dims), 0
 * for unchunked data; bounded at open (h5_dataset.c) and checked again. */
static rnnck_status chunk_size(const rnnck__h5_file *f, hid_t ds, const char *object, size_t *out) {
    hid_t dcpl = H5Dget_create_plist(ds), type = H5Dget_type(ds);
    rnnck_status st = RNNCK_OK;
    *out = 0;
    if (dcpl < 0 || type < 0) {
        st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dataset header cannot be read");
    } else if (H5Pget_layout(dcpl) == H5D_CHUNKED) {
        hsize_t cdims[RNNCK_MAX_DIMS + 1];
        int rank = H5Pget_chunk(dcpl, RNNCK_MAX_DIMS + 1, cdims);
        uint64_t bytes = H5Tget_size(type);
        for (int i = 0; i < rank && bytes; i++)
            bytes = cdims[i] && bytes <= UINT32_MAX / cdims[i] ? bytes * cdims[i] : 0;
        if (rank < 0 || rank > RNNCK_MAX_DIMS || bytes == 0 || bytes > UINT32_MAX)
            st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunk dimensions changed or cannot be read");
        else
            *out = (size_t)bytes;
    }
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

/* One dataset read, in whichever process runs it (the helper too). */
rnnck_status rnnck__h5_read_dataset(const rnnck__h5_file *f, const char *object, rnnck_dtype dtype, int64_t numel,
                                    void *dst) {
    rnnck__h5_silence();
    hid_t ds = H5Dopen2(f->fid, object, H5P_DEFAULT);
    hid_t space = ds >= 0 ? H5Dget_space(ds) : H5I_INVALID_HID;
    hid_t mem = rnnck__h5_mem_type(dtype);
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    rnnck_status st = RNNCK_OK;
    /* The metadata was validated at open; this guards against a file that
     * changed underneath us since. */
    if (ds < 0 || mem < 0 || n < 0 || (uint64_t)n != (uint64_t)numel)
        st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dataset changed or cannot be opened");
    size_t chunk_bytes = 0;
    if (!st) st = chunk_size(f, ds, object, &chunk_bytes);
    if (!st && chunk_bytes) st = rnnck__h5_check_chunks(f, ds, object, chunk_bytes);
    if (!st && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
        st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "data cannot be read (corrupt or truncated)");
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (ds >= 0) H5Dclose(ds);
    return st;
}

static rnnck_status source_read_locked(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes);

static rnnck_status source_read(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes) {
    rnnck__h5_lock();
    rnnck_status st = source_read_locked(ctx, t, dst, nbytes);
    rnnck__h5_unlock();
    return st;
}

static rnnck_status source_read_locked(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes) {
    rnnck__h5_source *s = ctx;
    if (t->source_key < 0 || (uint64_t)t->source_key >= s->count)
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s has no dataset", s->file.path, rnnck_tensor_name(t));
    const char *object = s->datasets[t->source_key];
    if (nbytes != rnnck_tensor_nbytes(t))
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: read of %zu bytes, tensor has %zu", s->file.path, object, nbytes,
                          rnnck_tensor_nbytes(t));
    if (nbytes == 0) return RNNCK_OK;
    /* Contiguous and compact data is one read of a range already checked
     * against the file; chunked data goes through libhdf5's chunk index and
     * filters, which crash on some corrupt files: read those in the helper. */
    if (s->isolate[t->source_key] && !s->trusted)
        return rnnck__h5_isolated_read(s->file.path, object, t->dtype, rnnck_tensor_numel(t), dst, nbytes);
    return rnnck__h5_read_dataset(&s->file, object, t->dtype, rnnck_tensor_numel(t), dst);
}

static const rnnck_source_ops source_ops = {.read = source_read, .close = rnnck__h5_source_close};

rnnck_status rnnck__h5_source_new(const char *path, rnnck__h5_source **out) {
    rnnck__h5_source *s = calloc(1, sizeof *s);
    if (!s) return rnnck__oom();
    s->path_copy = rnnck__strdup(path);
    if (!s->path_copy) {
        free(s);
        return rnnck__oom();
    }
    s->file.path = s->path_copy;
    s->file.fid = H5I_INVALID_HID;
    *out = s;
    return RNNCK_OK;
}

rnnck__h5_file *rnnck__h5_source_file(rnnck__h5_source *s) { return &s->file; }

void rnnck__h5_source_attach(rnnck_model *m, rnnck__h5_source *s) { rnnck__model_set_source(m, &source_ops, s); }

rnnck_status rnnck__h5_source_add(rnnck__h5_source *s, const char *object, bool isolate, int64_t *key) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->datasets, cap * sizeof *p);
        if (!p) return rnnck__oom();
        s->datasets = p;
        bool *q = realloc(s->isolate, cap * sizeof *q);
        if (!q) return rnnck__oom();
        s->isolate = q;
        s->cap = cap;
    }
    s->isolate[s->count] = isolate;
    char *path = rnnck__strdup(object);
    if (!path) return rnnck__oom();
    s->datasets[s->count] = path;
    *key = (int64_t)s->count++;
    return RNNCK_OK;
}

void rnnck__h5_source_trust(rnnck__h5_source *s, bool trusted) { s->trusted = trusted; }

/* Forgets the most recent path (its tensor was not added after all). */
void rnnck__h5_source_drop_last(rnnck__h5_source *s) {
    if (s->count) free(s->datasets[--s->count]);
}
