/* rnnck_save: the model as an rnnck schema-1 HDF5 file, written to a
 * temporary file and renamed into place, byte-identical for identical models
 * (no object timestamps) and readable by HDF5 1.8. */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <string.h>

/* Tensor names under a module's prefix ("" = every tensor). */
static bool in_module(const char *tensor, const char *module) {
    size_t n = strlen(module);
    return n == 0 || (strncmp(tensor, module, n) == 0 && tensor[n] == '.');
}

/* Whether `local` names one of the module's parameters. */
static bool is_param(const rnnck_module_info *info, const char *local) {
    int dirs = info->bidirectional ? 2 : 1;
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int d = 0; d < dirs; d++)
            for (int k = 0; k < RNNCK_PARAM_COUNT_; k++) {
                int64_t shape[2];
                char name[64];
                if (rnnck_param_shape(info, (rnnck_param)k, layer, shape) &&
                    rnnck_param_name((rnnck_param)k, layer, d, name, sizeof name) == RNNCK_OK &&
                    strcmp(name, local) == 0)
                    return true;
            }
    return false;
}

/* The schema makes a module's group hold exactly its parameters, all of one
 * float dtype: refuse a model the file could not represent faithfully. */
static rnnck_status check_module(const rnnck_model *m, const rnnck_module_info *info, const char *path) {
    const char *label = *info->name ? info->name : "(root)";
    int dirs = info->bidirectional ? 2 : 1;
    rnnck_dtype dtype = RNNCK_DTYPE_INVALID;
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int d = 0; d < dirs; d++)
            for (int k = 0; k < RNNCK_PARAM_COUNT_; k++) {
                int64_t shape[2];
                int nd = rnnck_param_shape(info, (rnnck_param)k, layer, shape);
                if (!nd) continue;
                char name[1200];
                rnnck_tensor *t;
                rnnck_status st = rnnck__param_full_name(info, (rnnck_param)k, layer, d, name, sizeof name);
                if (st) return st;
                if (rnnck_model_find(m, name, &t))
                    return rnnck__err(RNNCK_E_USAGE, "%s: module %s: parameter %s is missing", path, label, name);
                if (t->ndim != nd || memcmp(t->shape, shape, (size_t)nd * sizeof shape[0]) != 0 ||
                    !rnnck_dtype_is_float(t->dtype) || (dtype && t->dtype != dtype))
                    return rnnck__err(RNNCK_E_USAGE, "%s: module %s: parameter %s has the wrong shape or dtype", path,
                                      label, name);
                dtype = t->dtype;
            }
    size_t skip = strlen(info->name) + (*info->name ? 1 : 0);
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        const char *name = rnnck_tensor_name(rnnck_model_tensor(m, i));
        if (in_module(name, info->name) && !is_param(info, name + skip))
            return rnnck__err(RNNCK_E_UNSUPPORTED,
                              "%s: tensor %s lies inside module %s's group but is not one of its parameters", path,
                              name, label);
    }
    return RNNCK_OK;
}

typedef struct writer {
    rnnck_model *m;
    const char *path; /* the final path, for messages */
    hid_t fid, gcpl, dcpl;
    int level;            /* 0: contiguous; 1-9: chunked, shuffle + deflate at this level */
    uint64_t data_bytes;  /* tensor bytes written */
    uint64_t stored_bytes; /* what the datasets take in the file */
    void *buf;             /* reused for every lazy tensor: no fresh pages (faults, zeroing) per tensor */
    size_t buf_cap;
} writer;

static rnnck_status fail(const writer *w, const char *object, const char *what) {
    return rnnck__err(RNNCK_E_WRITE, "%s: %s: %s", w->path, object, what);
}

/* "a.b.c" -> "/a/b/c" */
static char *h5_path(const char *dotted) {
    char *p = rnnck__asprintf("/%s", dotted);
    if (p)
        for (char *c = p; *c; c++)
            if (*c == '.') *c = '/';
    return p;
}

/* Creates the groups leading to `object` (an absolute path) as needed. */
static rnnck_status make_parents(writer *w, char *object) {
    for (char *slash = strchr(object + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        htri_t exists = H5Lexists(w->fid, object, H5P_DEFAULT);
        rnnck_status st = RNNCK_OK;
        if (exists > 0) {
            H5O_info_t oi;
            if (H5Oget_info_by_name2(w->fid, object, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP)
                st = fail(w, object, "is a tensor and also a prefix of other tensor names");
        } else {
            hid_t g = exists == 0 ? H5Gcreate2(w->fid, object, H5P_DEFAULT, w->gcpl, H5P_DEFAULT) : -1;
            if (g < 0)
                st = fail(w, object, "cannot create group");
            else
                H5Gclose(g);
        }
        *slash = '/';
        if (st) return st;
    }
    return RNNCK_OK;
}

/* Chunk shape of a compressed dataset (docs/SCHEMA.md, "Compression"): a
 * module's 2-d parameter whose rows are a whole number of gate blocks of
 * hidden_size rows gets chunks of one gate block (all columns), so reading
 * a gate block inflates one chunk and a layer's tensors a few; every other
 * parameter (weight_hr, biases, peepholes) is one chunk. Tensors outside
 * modules get chunks of whole rows of about RNNCK__H5_CHUNK_TARGET bytes.
 * Any chunk is kept under RNNCK__H5_CHUNK_MAX by halving its rows. */
#define RNNCK__H5_CHUNK_TARGET ((uint64_t)1 << 20)
#define RNNCK__H5_CHUNK_MAX ((uint64_t)1 << 30)

static void chunk_shape(const rnnck_model *m, const rnnck_tensor *t, hsize_t *chunk) {
    int nd = t->ndim;
    uint64_t row_bytes = rnnck_dtype_size(t->dtype);
    for (int i = 1; i < nd; i++) {
        chunk[i] = (hsize_t)t->shape[i];
        row_bytes *= (uint64_t)t->shape[i];
    }
    uint64_t rows = (uint64_t)t->shape[0];
    const char *name = rnnck_tensor_name(t), *dot = strrchr(name, '.');
    char module[1024] = "";
    if (dot && (size_t)(dot - name) < sizeof module) memcpy(module, name, (size_t)(dot - name)), module[dot - name] = 0;
    size_t index;
    const rnnck_module_info *info = NULL;
    if (!(dot && !*module)) {
        if (rnnck_model_find_module(m, module, &index) == RNNCK_OK)
            info = rnnck_model_module(m, index);
        else
            rnnck__err_clear(); /* not a module's tensor: no error */
    }
    if (info) {
        int64_t h = info->hidden_size;
        if (nd == 2 && h > 0 && t->shape[0] > h && t->shape[0] % h == 0) rows = (uint64_t)h;
    } else {
        uint64_t fit = row_bytes ? RNNCK__H5_CHUNK_TARGET / row_bytes : rows;
        if (fit < rows) rows = fit ? fit : 1;
    }
    while (rows > 1 && rows * row_bytes > RNNCK__H5_CHUNK_MAX) rows = (rows + 1) / 2;
    chunk[0] = (hsize_t)rows;
}

/* A lazy tensor whose bytes lie verbatim in the input file (a stored .pt
 * record) is copied file to file: the dataset's space is allocated when it
 * is created (and never filled), then the bytes are copied to its offset,
 * the record's CRC-32 checked on the way (rnnck__model_copy_extent). HDF5
 * writes only metadata around it. */
static rnnck_status copy_in_place(writer *w, hid_t ds, const char *object, const rnnck_tensor *t,
                                  const rnnck__extent *src) {
    haddr_t at = H5Dget_offset(ds);
    void *handle = NULL;
    if (at == HADDR_UNDEF || H5Fget_vfd_handle(w->fid, H5P_DEFAULT, &handle) < 0 || !handle)
        return fail(w, object, "cannot place the dataset's data");
    return rnnck__model_copy_extent(w->m, t, src, *(int *)handle, (uint64_t)at, NULL, w->path);
}

static rnnck_status write_tensor(writer *w, rnnck_tensor *t) {
    char *object = h5_path(rnnck_tensor_name(t));
    if (!object) return rnnck__oom();
    rnnck_status st = make_parents(w, object);
    if (!st && H5Lexists(w->fid, object, H5P_DEFAULT) != 0)
        st = fail(w, object, "name is already taken by a group (a tensor name is a prefix of another)");
    hsize_t dims[RNNCK_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++)
        dims[i] = (hsize_t)t->shape[i];
    hid_t space = st ? -1 : t->ndim ? H5Screate_simple(t->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ftype = rnnck__h5_file_type(t->dtype), mtype = rnnck__h5_mem_type(t->dtype);
    size_t nbytes = rnnck_tensor_nbytes(t);
    hid_t dcpl = w->dcpl;
    rnnck__extent src;
    bool in_place = false;
    if (!st && !w->level && nbytes) {
        rnnck_status lst = rnnck__model_locate(w->m, t, &src);
        in_place = lst == RNNCK_OK;
        if (lst == RNNCK_E_UNSUPPORTED) rnnck__err_clear(); /* read it instead */
        else if (lst != RNNCK_OK) st = lst;                  /* a bad checksum, say */
    }
    if (!st && w->level && t->ndim && nbytes) {
        hsize_t chunk[RNNCK_MAX_DIMS];
        chunk_shape(w->m, t, chunk);
        dcpl = H5Pcopy(w->dcpl);
        if (dcpl < 0 || H5Pset_chunk(dcpl, t->ndim, chunk) < 0 ||
            H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR) < 0 || /* chunks as they are written */
            H5Pset_fill_time(dcpl, H5D_FILL_TIME_IFSET) < 0 || H5Pset_shuffle(dcpl) < 0 ||
            H5Pset_deflate(dcpl, (unsigned)w->level) < 0)
            st = fail(w, object, "cannot set up chunked, compressed storage");
    }
    hid_t ds = !st && space >= 0 && ftype >= 0 && dcpl >= 0
                   ? H5Dcreate2(w->fid, object, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)
                   : -1;
    if (dcpl >= 0 && dcpl != w->dcpl) H5Pclose(dcpl);
    if (!st && ds < 0) st = fail(w, object, "cannot create dataset");
    if (!st && (t->dtype == RNNCK_BF16 || t->dtype == RNNCK_BOOL))
        st = rnnck__h5_write_attr_string(ds, "dtype", rnnck_dtype_name(t->dtype));
    if (!st && in_place) {
        st = copy_in_place(w, ds, object, t, &src);
        if (!st) {
            w->data_bytes += nbytes;
            w->stored_bytes += nbytes;
        }
    } else if (!st && nbytes) {
        const void *data = NULL;
        if (rnnck__tensor_loaded(t) && rnnck_tensor_is_contiguous(t)) {
            data = rnnck_tensor_cdata(t);
        } else {
            /* Lazy or strided: stream through one buffer, as large as the
             * largest such tensor, freed when the file is done. */
            if (nbytes > w->buf_cap) {
                free(w->buf);
                w->buf = malloc(nbytes);
                w->buf_cap = w->buf ? nbytes : 0;
            }
            if (!w->buf)
                st = rnnck__oom();
            else
                st = rnnck_model_read(w->m, rnnck_tensor_name(t), t->dtype, w->buf, nbytes);
            data = w->buf;
        }
        if (!st && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
            st = fail(w, object, "cannot write data");
        if (!st) {
            w->data_bytes += nbytes;
            w->stored_bytes += H5Dget_storage_size(ds);
        }
    }
    if (ds >= 0) H5Dclose(ds);
    if (ftype >= 0) H5Tclose(ftype);
    if (mtype >= 0) H5Tclose(mtype);
    if (space >= 0) H5Sclose(space);
    free(object);
    return st;
}

static rnnck_status write_modules(writer *w) {
    for (size_t i = 0; i < rnnck_model_module_count(w->m); i++) {
        const rnnck_module_info *info = rnnck_model_module(w->m, i);
        char *object = *info->name ? h5_path(info->name) : rnnck__strdup("/");
        if (!object) return rnnck__oom();
        hid_t g = H5Gopen2(w->fid, object, H5P_DEFAULT);
        rnnck_status st = g < 0 ? fail(w, object, "module group cannot be opened") : rnnck__h5_write_module(g, info);
        if (st && g >= 0) rnnck__err_prefix("%s: %s", w->path, object);
        if (g >= 0) H5Gclose(g);
        free(object);
        if (st) return st;
    }
    return RNNCK_OK;
}

/* Links stay in the group's object header up to this count instead of moving
 * to "dense" storage (fractal heap + B-tree): simpler files, and less of
 * libhdf5's most fragile decoding for readers of them. 65535 is HDF5's cap. */
#define MAX_COMPACT_LINKS 65535

/* Property lists shared by every object: link creation order kept (so the
 * tensor order survives), no timestamps (so output is reproducible), links
 * kept compact. */
static rnnck_status make_plists(writer *w, hid_t *fcpl, hid_t *fapl) {
    *fcpl = H5Pcreate(H5P_FILE_CREATE);
    *fapl = H5Pcreate(H5P_FILE_ACCESS);
    w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
    w->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    unsigned order = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
    if (*fcpl < 0 || *fapl < 0 || w->gcpl < 0 || w->dcpl < 0 || H5Pset_link_creation_order(*fcpl, order) < 0 ||
        H5Pset_obj_track_times(*fcpl, 0) < 0 || H5Pset_link_creation_order(w->gcpl, order) < 0 ||
        H5Pset_link_phase_change(*fcpl, MAX_COMPACT_LINKS, 0) < 0 ||
        H5Pset_link_phase_change(w->gcpl, MAX_COMPACT_LINKS, 0) < 0 || H5Pset_obj_track_times(w->gcpl, 0) < 0 ||
        H5Pset_obj_track_times(w->dcpl, 0) < 0 || H5Pset_layout(w->dcpl, H5D_CONTIGUOUS) < 0 ||
        /* space allocated when the dataset is created, never filled: the
         * data may then be copied in file to file (copy_in_place), and
         * every contiguous dataset is laid out alike however it is written */
        H5Pset_alloc_time(w->dcpl, H5D_ALLOC_TIME_EARLY) < 0 || H5Pset_fill_time(w->dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        H5Pset_libver_bounds(*fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_V18) < 0 ||
        /* datasets of 1 MiB or more start on a 4 KiB page: the kernel copies
         * a range between files at about two thirds of the cost when both
         * ends sit at the same place in a page, and a .pt written from this
         * file pads its records to match (zipfile.c, bench/RESULTS.md) */
        H5Pset_alignment(*fapl, (hsize_t)1 << 20, 4096) < 0)
        return rnnck__err(RNNCK_E_WRITE, "%s: cannot set up HDF5 property lists", w->path);
    return RNNCK_OK;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* In HDF5 a name is a dataset or a group, not both: tensors "a" and "a.b"
 * cannot share a file. Refused before anything is created, as a model the
 * schema cannot hold (exit 3 on the command line), naming both tensors. */
static rnnck_status check_names(const rnnck_model *m, const char *path) {
    size_t n = rnnck_model_tensor_count(m);
    if (n < 2) return RNNCK_OK;
    const char **names = malloc(n * sizeof *names);
    if (!names) return rnnck__oom();
    for (size_t i = 0; i < n; i++) names[i] = rnnck_tensor_name(rnnck_model_tensor(m, i));
    qsort(names, n, sizeof *names, cmp_names);
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < n && !st; i++) {
        size_t len = strlen(names[i]);
        /* the first name >= "X." is the only candidate that starts with "X." */
        size_t lo = i + 1, hi = n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strncmp(names[mid], names[i], len);
            if (c < 0 || (c == 0 && (unsigned char)names[mid][len] < '.')) lo = mid + 1;
            else hi = mid;
        }
        if (lo < n && strncmp(names[lo], names[i], len) == 0 && names[lo][len] == '.')
            st = rnnck__err(RNNCK_E_UNSUPPORTED,
                            "%s: tensor %s is also the prefix of tensor %s: an HDF5 name is a dataset or a group, "
                            "not both", path, names[i], names[lo]);
    }
    free(names);
    return st;
}

static rnnck_status save_locked(rnnck_model *m, const char *path, int level, rnnck_write_stats *stats);

rnnck_status rnnck__save_ex(rnnck_model *m, const char *path, int level, rnnck_write_stats *stats) {
    rnnck__err_clear();
    if (!m || !path) return rnnck__err(RNNCK_E_USAGE, "rnnck_save: NULL argument");
    if (level < 0 || level > 9)
        return rnnck__err(RNNCK_E_USAGE, "%s: compression level %d is not 0-9", path, level);
    rnnck__h5_lock();
    rnnck_status st = save_locked(m, path, level, stats);
    rnnck__h5_unlock();
    return st;
}

rnnck_status rnnck_save(rnnck_model *m, const char *path) { return rnnck__save_ex(m, path, 0, NULL); }

static rnnck_status save_locked(rnnck_model *m, const char *path, int level, rnnck_write_stats *stats) {
    rnnck_status names_st = check_names(m, path);
    if (names_st) return names_st;
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        rnnck_status st = check_module(m, rnnck_model_module(m, i), path);
        if (st) return st;
    }
    rnnck__h5_silence();
    rnnck__atomic a;
    rnnck_status st = rnnck__atomic_begin(&a, path, false);
    if (st) return st;
    writer w = {m, path, H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, level, 0, 0, NULL, 0};
    hid_t fcpl, fapl;
    st = make_plists(&w, &fcpl, &fapl);
    if (!st) {
        w.fid = rnnck__h5_create_fresh(a.tmp_path, fcpl, fapl);
        if (w.fid < 0) st = rnnck__err(RNNCK_E_WRITE, "%s: HDF5 cannot create the file", path);
    }
    hid_t root = w.fid >= 0 ? H5Gopen2(w.fid, "/", H5P_DEFAULT) : H5I_INVALID_HID;
    if (!st && root < 0) st = fail(&w, "/", "cannot open the root group");
    /* "1.0" unless a module needs what 1.1 or 1.2 added, so that older
     * readers keep reading every file they can honour. */
    int minor = 0;
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        int mi = rnnck__h5_module_minor(rnnck_model_module(m, i));
        minor = mi > minor ? mi : minor;
    }
    static const char *const versions[] = {"1.0", "1.1", "1.2"};
    if (!st) st = rnnck__h5_write_attr_string(root, "rnnck_schema", versions[minor]);
    if (!st) st = rnnck__h5_write_attr_string(root, "rnnck_writer", "rnnck " RNNCK_VERSION_STRING);
    for (size_t i = 0; !st && i < rnnck_model_tensor_count(m); i++)
        st = write_tensor(&w, rnnck_model_tensor(m, i));
    free(w.buf);
    w.buf = NULL;
    if (!st) st = write_modules(&w);
    if (root >= 0) H5Gclose(root);
    if (w.fid >= 0 && H5Fclose(w.fid) < 0 && !st)
        st = rnnck__err(RNNCK_E_WRITE, "%s: HDF5 cannot finish the file", path);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (w.gcpl >= 0) H5Pclose(w.gcpl);
    if (w.dcpl >= 0) H5Pclose(w.dcpl);
    if (st) {
        rnnck__atomic_abort(&a);
        return st;
    }
    st = rnnck__atomic_commit(&a);
    if (!st && stats) {
        stats->tensor_bytes = w.data_bytes;
        stats->stored_bytes = w.stored_bytes;
    }
    return st;
}
