/* The lazy data source behind a model loaded from an rnnck HDF5 file: the
 * file plus the HDF5 path and storage of each tensor (its source_key).
 * Local sources read through libhdf5 (trusted files, and the helper's own
 * walks); remote sources (untrusted files in the caller) never call
 * libhdf5 (h5_internal.h). */
#include "h5/h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rnnck__h5_source {
    rnnck__h5_file file;
    char *path_copy;         /* file.path points here */
    char **datasets;         /* HDF5 path of each source_key */
    rnnck__h5_dsinfo *infos; /* its storage */
    bool trusted;            /* RNNCK_OPEN_TRUSTED: read everything here */
    bool remote;             /* no libhdf5 in this process: fd and the session */
    int fd;                  /* the file, opened once (remote: before the walk; local: at
                              * the first session), -1 if not (yet) */
    struct stat sb;          /* its fstat when opened */
    pthread_mutex_t mutex;   /* remote: one read at a time (the session) */
    size_t count, cap;
    /* One helper session serves the reads libhdf5 must do for an untrusted
     * file (chunked data; compact data too when remote). It starts at the
     * first such read and ends with the model, or when it has read its
     * budget (the bytes of every dataset it serves, each read counted) or
     * its helper died; the next read then starts a new one. */
    rnnck__h5_session *session;
    int64_t session_read, session_budget, session_max;
    unsigned sessions; /* started so far */
};

void rnnck__h5_source_close(void *ctx) {
    rnnck__h5_source *s = ctx;
    if (!s) return;
    rnnck__h5_session_close(s->session);
    if (s->fd >= 0) close(s->fd);
    if (s->remote) {
        pthread_mutex_destroy(&s->mutex);
    } else {
        rnnck__h5_lock();
        rnnck__h5_silence();
        rnnck__h5_close(&s->file);
        rnnck__h5_unlock();
    }
    for (size_t i = 0; i < s->count; i++)
        free(s->datasets[i]);
    free(s->datasets);
    free(s->infos);
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

static int64_t entry_bytes(const rnnck__h5_dsinfo *info) {
    int64_t numel = 1;
    rnnck__shape_numel(info->ndim, info->shape, &numel); /* bounded by the walk (and the rebuild) */
    return numel * (int64_t)rnnck_dtype_size(info->dtype);
}

static bool via_session(const rnnck__h5_source *s, const rnnck__h5_dsinfo *info) {
    if (s->trusted) return false;
    return info->layout == RNNCK__H5_CHUNKED || (s->remote && info->layout == RNNCK__H5_COMPACT);
}

/* The descriptor a session reads: a remote source's own; for a local one
 * (in the helper: the descriptor the library handed down, copied; in a host
 * that walked an untrusted file itself, the path opened now, once). */
static rnnck_status session_input(rnnck__h5_source *s) {
    if (s->fd >= 0) return RNNCK_OK;
    int inherited = rnnck__h5_inherited_fd();
    if (inherited < 0) return rnnck__open_regular_input(s->file.path, &s->fd, &s->sb);
    s->fd = fcntl(inherited, F_DUPFD_CLOEXEC, 3);
    if (s->fd < 0 || fstat(s->fd, &s->sb) != 0) {
        int e = errno;
        if (s->fd >= 0) close(s->fd);
        s->fd = -1;
        return rnnck__err(RNNCK_E_IO, "%s: cannot hand the file on to a read session: %s", s->file.path, strerror(e));
    }
    return RNNCK_OK;
}

/* Reads through the source's session, starting one when there is none (or
 * when the running one has read its budget). A session whose helper died
 * is ended: the dataset that killed it fails, later reads get a new one. */
static rnnck_status session_read(rnnck__h5_source *s, const char *object, const rnnck_tensor *t, void *dst,
                                 size_t nbytes) {
    if (!s->session_budget) /* once: the bytes of every dataset read this way */
        for (size_t i = 0; i < s->count; i++) {
            if (!via_session(s, &s->infos[i])) continue;
            int64_t b = entry_bytes(&s->infos[i]);
            s->session_budget = b > INT64_MAX - s->session_budget ? INT64_MAX : s->session_budget + b;
            if (b > s->session_max) s->session_max = b;
        }
    if (s->session && (int64_t)nbytes > s->session_budget - s->session_read) {
        rnnck__h5_session_close(s->session);
        s->session = NULL;
    }
    rnnck_status st = RNNCK_OK;
    if (!s->session) {
        st = session_input(s);
        if (st) return st;
        st = rnnck__h5_session_open(s->file.path, s->fd, &s->sb, s->session_max, s->session_budget, &s->session);
        if (st) return st;
        s->sessions++;
        s->session_read = 0;
    }
    st = rnnck__h5_session_read(s->session, object, t->dtype, rnnck_tensor_numel(t), dst, nbytes);
    s->session_read += (int64_t)nbytes;
    if (st && rnnck__h5_session_failed(s->session)) {
        rnnck__h5_session_close(s->session);
        s->session = NULL;
    }
    return st;
}

/* Contiguous data of a remote source: the range the walk checked against
 * the file, in the file's byte order. */
static rnnck_status pread_data(rnnck__h5_source *s, const char *object, const rnnck__h5_dsinfo *info, void *dst,
                               size_t nbytes) {
    char *p = dst;
    size_t done = 0;
    while (done < nbytes) {
        ssize_t r = pread(s->fd, p + done, nbytes - done, (off_t)(info->offset + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return rnnck__err(RNNCK_E_IO, "%s: %s: read error: %s", s->file.path, object, strerror(errno));
        if (r == 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: data cannot be read (the file was truncated since it was opened)",
                              s->file.path, object);
        done += (size_t)r;
    }
    size_t es = rnnck_dtype_size(info->dtype);
    const uint16_t probe = 1;
    bool host_big = *(const unsigned char *)&probe == 0;
    if (es > 1 && info->big_endian != host_big)
        for (size_t i = 0; i + es <= nbytes; i += es)
            for (size_t a = i, b = i + es - 1; a < b; a++, b--) {
                char c = p[a];
                p[a] = p[b];
                p[b] = c;
            }
    return RNNCK_OK;
}

static rnnck_status source_read_locked(rnnck__h5_source *s, const rnnck_tensor *t, void *dst, size_t nbytes) {
    if (t->source_key < 0 || (uint64_t)t->source_key >= s->count)
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s has no dataset", s->file.path, rnnck_tensor_name(t));
    const char *object = s->datasets[t->source_key];
    const rnnck__h5_dsinfo *info = &s->infos[t->source_key];
    if (nbytes != rnnck_tensor_nbytes(t) || t->dtype != info->dtype || (int64_t)nbytes != entry_bytes(info))
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: read of %zu bytes, tensor has %zu", s->file.path, object, nbytes,
                          rnnck_tensor_nbytes(t));
    if (nbytes == 0) return RNNCK_OK;
    /* Contiguous and compact data is one read of a range already checked
     * against the file; chunked data goes through libhdf5's chunk index and
     * filters, which crash on some corrupt files: read those in the helper. */
    if (via_session(s, info)) return session_read(s, object, t, dst, nbytes);
    if (s->remote) return pread_data(s, object, info, dst, nbytes);
    return rnnck__h5_read_dataset(&s->file, object, t->dtype, rnnck_tensor_numel(t), dst);
}

static rnnck_status source_read(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes) {
    rnnck__h5_source *s = ctx;
    if (s->remote) pthread_mutex_lock(&s->mutex);
    else rnnck__h5_lock();
    rnnck_status st = source_read_locked(s, t, dst, nbytes);
    if (s->remote) pthread_mutex_unlock(&s->mutex);
    else rnnck__h5_unlock();
    return st;
}

/* Contiguous data of an untrusted file, in the host's byte order, is its own
 * bytes at a range checked against the file when the model was described:
 * a writer may copy it file to file (rnnck_source_ops.locate). */
static rnnck_status source_locate(void *ctx, const rnnck_tensor *t, int *fd, uint64_t *offset, bool *check_due) {
    (void)check_due; /* HDF5 contiguous data has no checksum */
    rnnck__h5_source *s = ctx;
    if (!s->remote || t->source_key < 0 || (uint64_t)t->source_key >= s->count) return RNNCK_E_UNSUPPORTED;
    const rnnck__h5_dsinfo *info = &s->infos[t->source_key];
    const uint16_t probe = 1;
    bool host_big = *(const unsigned char *)&probe == 0;
    if (info->layout != RNNCK__H5_CONTIGUOUS || t->dtype != info->dtype ||
        (int64_t)rnnck_tensor_nbytes(t) != entry_bytes(info) ||
        (rnnck_dtype_size(info->dtype) > 1 && info->big_endian != host_big))
        return RNNCK_E_UNSUPPORTED;
    *fd = s->fd;
    *offset = info->offset;
    return RNNCK_OK;
}

static const rnnck_source_ops source_ops = {
    .read = source_read, .close = rnnck__h5_source_close, .locate = source_locate};

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
    s->fd = -1;
    *out = s;
    return RNNCK_OK;
}

rnnck_status rnnck__h5_source_new_remote(const char *path, int fd, rnnck__h5_source **out) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rnnck__err(RNNCK_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    rnnck_status st = rnnck__h5_source_new(path, out);
    if (st) {
        close(fd);
        return st;
    }
    (*out)->remote = true;
    (*out)->fd = fd;
    (*out)->sb = sb;
    pthread_mutex_init(&(*out)->mutex, NULL);
    rnnck_limits_init(&(*out)->file.lim);
    return RNNCK_OK;
}

rnnck__h5_file *rnnck__h5_source_file(rnnck__h5_source *s) { return &s->file; }

void rnnck__h5_source_attach(rnnck_model *m, rnnck__h5_source *s) { rnnck__model_set_source(m, &source_ops, s); }

rnnck_status rnnck__h5_source_add(rnnck__h5_source *s, const char *object, const rnnck__h5_dsinfo *info,
                                  int64_t *key) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **p = realloc(s->datasets, cap * sizeof *p);
        if (!p) return rnnck__oom();
        s->datasets = p;
        rnnck__h5_dsinfo *q = realloc(s->infos, cap * sizeof *q);
        if (!q) return rnnck__oom();
        s->infos = q;
        s->cap = cap;
    }
    s->infos[s->count] = *info;
    char *path = rnnck__strdup(object);
    if (!path) return rnnck__oom();
    s->datasets[s->count] = path;
    *key = (int64_t)s->count++;
    return RNNCK_OK;
}

const char *rnnck__h5_source_entry(const rnnck__h5_source *s, int64_t key, rnnck__h5_dsinfo *info) {
    if (!s || key < 0 || (uint64_t)key >= s->count) return NULL;
    *info = s->infos[key];
    return s->datasets[key];
}

void rnnck__h5_source_trust(rnnck__h5_source *s, bool trusted) { s->trusted = trusted; }

unsigned rnnck__h5_source_sessions(const rnnck_model *m) {
    const rnnck__h5_source *s = rnnck__model_source(m, &source_ops);
    return s ? s->sessions : 0;
}

/* Forgets the most recent path (its tensor was not added after all). */
void rnnck__h5_source_drop_last(rnnck__h5_source *s) {
    if (s->count) free(s->datasets[--s->count]);
}
