/* See h5craft.h. */
#include "h5craft.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/testutil.h"

double craft_value(size_t k, int64_t i) { return sin(0.37 * (double)i + 1.3 * (double)k) * 0.75; }

/* Copies n values into t through a source tensor of dtype `via`. */
static int assign_values(rnnck_tensor *t, rnnck_dtype via, const void *vals, size_t bytes) {
    int64_t shape[RNNCK_MAX_DIMS];
    for (int d = 0; d < rnnck_tensor_ndim(t); d++)
        shape[d] = rnnck_tensor_dim(t, d);
    rnnck_tensor *src = NULL;
    int bad =
        rnnck_tensor_from_data(via, rnnck_tensor_ndim(t), shape, vals, bytes, &src) || rnnck_tensor_assign(t, src);
    rnnck_tensor_free(src);
    return bad ? -1 : 0;
}

int craft_fill(rnnck_model *m) {
    for (size_t k = 0; k < rnnck_model_tensor_count(m); k++) {
        rnnck_tensor *t = rnnck_model_tensor(m, k);
        rnnck_dtype dt = rnnck_tensor_dtype(t);
        int64_t n = rnnck_tensor_numel(t);
        size_t cnt = (size_t)(n ? n : 1);
        double *dv = malloc(cnt * sizeof *dv);
        int64_t *iv = malloc(cnt * sizeof *iv);
        int rc = -1;
        if (dv && iv) {
            for (int64_t i = 0; i < n; i++) {
                dv[i] = craft_value(k, i);
                /* Integers: small values that fit every integer dtype. */
                iv[i] = (int64_t)floor(dv[i] * 100.0);
                if (dt == RNNCK_U8) iv[i] = iv[i] < 0 ? -iv[i] : iv[i];
                if (dt == RNNCK_BOOL) iv[i] = iv[i] > 30;
            }
            rc = rnnck_dtype_is_float(dt) ? assign_values(t, RNNCK_F64, dv, (size_t)n * sizeof *dv)
                                          : assign_values(t, RNNCK_I64, iv, (size_t)n * sizeof *iv);
        }
        free(dv);
        free(iv);
        if (rc) return -1;
    }
    return 0;
}

static int add_tensor(rnnck_model *m, const char *name, rnnck_dtype dtype, int ndim, const int64_t *shape) {
    rnnck_tensor *t;
    if (rnnck_tensor_new(dtype, ndim, shape, &t)) return -1;
    int rc = rnnck_model_add_tensor(m, name, t) ? -1 : 0;
    rnnck_tensor_free(t);
    return rc;
}

rnnck_model *craft_example(rnnck_dtype dtype) {
    rnnck_model *m;
    if (rnnck_model_new(&m)) return NULL;
    rnnck_module_info info;
    rnnck_module_info_init(&info, RNNCK_CELL_LSTM);
    info.name = "enc.rnn";
    info.input_size = 3;
    info.hidden_size = 4;
    info.num_layers = 2;
    info.bidirectional = 1;
    info.dtype = dtype;
    int64_t emb[2] = {5, 3}, head[2] = {2, 8};
    if (add_tensor(m, "embed.weight", RNNCK_F32, 2, emb) || rnnck_model_add_module(m, &info) ||
        add_tensor(m, "head.weight", RNNCK_F32, 2, head) || add_tensor(m, "head.steps", RNNCK_I64, 0, NULL) ||
        craft_fill(m)) {
        rnnck_model_free(m);
        return NULL;
    }
    return m;
}

int craft_save_example(const char *path) {
    rnnck_model *m = craft_example(RNNCK_F32);
    int rc = (m && rnnck_save(m, path) == RNNCK_OK) ? 0 : -1;
    rnnck_model_free(m);
    return rc;
}

static hid_t open_rw(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
}

static int set_attr(const char *path, const char *object, const char *name, hid_t ftype, hid_t mtype,
                    const void *value) {
    hid_t f = open_rw(path);
    if (f < 0) return -1;
    hid_t o = H5Oopen(f, object, H5P_DEFAULT);
    int rc = -1;
    if (o >= 0) {
        if (H5Aexists(o, name) > 0) H5Adelete(o, name);
        hid_t space = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0 && H5Awrite(a, mtype, value) >= 0) rc = 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(space);
        H5Oclose(o);
    }
    return H5Fclose(f) < 0 ? -1 : rc;
}

int h5c_set_attr_string(const char *path, const char *object, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) ? strlen(value) : 1);
    int rc = set_attr(path, object, name, t, t, value);
    H5Tclose(t);
    return rc;
}
int h5c_set_attr_i64(const char *path, const char *object, const char *name, int64_t value) {
    return set_attr(path, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}
int h5c_set_attr_f64(const char *path, const char *object, const char *name, double value) {
    return set_attr(path, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

int h5c_delete_attr(const char *path, const char *object, const char *name) {
    hid_t f = open_rw(path);
    if (f < 0) return -1;
    int rc = H5Adelete_by_name(f, object, name, H5P_DEFAULT) < 0 ? -1 : 0;
    return H5Fclose(f) < 0 ? -1 : rc;
}

int h5c_delete_link(const char *path, const char *object) {
    hid_t f = open_rw(path);
    if (f < 0) return -1;
    int rc = H5Ldelete(f, object, H5P_DEFAULT) < 0 ? -1 : 0;
    return H5Fclose(f) < 0 ? -1 : rc;
}

int h5c_put_dataset(const char *path, const char *object, hid_t type, int rank, const hsize_t *dims, hid_t dcpl,
                    const void *data) {
    hid_t f = open_rw(path);
    if (f < 0) return -1;
    if (H5Lexists(f, object, H5P_DEFAULT) > 0) H5Ldelete(f, object, H5P_DEFAULT);
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(f, object, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = ds < 0 ? -1 : 0;
    if (!rc && data && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) rc = -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(space);
    return H5Fclose(f) < 0 ? -1 : rc;
}

int h5c_put_chunked(const char *path, const char *object, hid_t type, int rank, const hsize_t *dims,
                    const hsize_t *chunk, int deflate, const void *data) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_chunk(dcpl, rank, chunk) < 0 || (deflate && H5Pset_deflate(dcpl, (unsigned)deflate) < 0)) {
        if (dcpl >= 0) H5Pclose(dcpl);
        return -1;
    }
    int rc = h5c_put_dataset(path, object, type, rank, dims, dcpl, data);
    H5Pclose(dcpl);
    return rc;
}

int h5c_put_compact(const char *path, const char *object, hid_t type, int rank, const hsize_t *dims,
                    const void *data) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || H5Pset_layout(dcpl, H5D_COMPACT) < 0) {
        if (dcpl >= 0) H5Pclose(dcpl);
        return -1;
    }
    int rc = h5c_put_dataset(path, object, type, rank, dims, dcpl, data);
    H5Pclose(dcpl);
    return rc;
}

static int replace_link(const char *path, const char *link, int (*make)(hid_t f, const void *a, const void *b),
                        const void *a, const void *b) {
    hid_t f = open_rw(path);
    if (f < 0) return -1;
    if (H5Lexists(f, link, H5P_DEFAULT) > 0) H5Ldelete(f, link, H5P_DEFAULT);
    int rc = make(f, a, b);
    return H5Fclose(f) < 0 ? -1 : rc;
}
static const char *g_link;
static int make_soft(hid_t f, const void *target, const void *unused) {
    (void)unused;
    return H5Lcreate_soft(target, f, g_link, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
}
static int make_external(hid_t f, const void *file, const void *target) {
    return H5Lcreate_external(file, target, f, g_link, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
}
static int make_hard(hid_t f, const void *target, const void *unused) {
    (void)unused;
    return H5Lcreate_hard(f, target, f, g_link, H5P_DEFAULT, H5P_DEFAULT) < 0 ? -1 : 0;
}
int h5c_soft_link(const char *path, const char *target, const char *link) {
    g_link = link;
    return replace_link(path, link, make_soft, target, NULL);
}
int h5c_external_link(const char *path, const char *file, const char *target, const char *link) {
    g_link = link;
    return replace_link(path, link, make_external, file, target);
}
int h5c_hard_link(const char *path, const char *target, const char *link) {
    g_link = link;
    return replace_link(path, link, make_hard, target, NULL);
}

static void put_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int h5c_patch_contiguous_size(const char *path, const char *object, uint64_t new_size) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t ds = H5Dopen2(f, object, H5P_DEFAULT);
    haddr_t addr = ds >= 0 ? H5Dget_offset(ds) : HADDR_UNDEF;
    hsize_t size = ds >= 0 ? H5Dget_storage_size(ds) : 0;
    if (ds >= 0) H5Dclose(ds);
    H5Fclose(f);
    if (addr == HADDR_UNDEF) return -1;
    /* Data layout message, version 3, class contiguous: 03 01 addr size. */
    unsigned char pattern[18] = {3, 1};
    put_le64(pattern + 2, addr);
    put_le64(pattern + 10, size);
    size_t len;
    unsigned char *bytes = read_file(path, &len);
    if (!bytes) return -1;
    int found = 0;
    for (size_t i = 0; i + sizeof pattern <= len; i++)
        if (memcmp(bytes + i, pattern, sizeof pattern) == 0) {
            put_le64(bytes + i + 10, new_size);
            found++;
        }
    int rc = found == 1 ? write_file(path, bytes, len) : -1;
    free(bytes);
    return rc;
}

int h5c_truncate_copy(const char *src, const char *dst, size_t n) {
    size_t len;
    unsigned char *bytes = read_file(src, &len);
    if (!bytes) return -1;
    int rc = n <= len ? write_file(dst, bytes, n) : -1;
    free(bytes);
    return rc;
}

char *craft_example_copy(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    cr_assert_eq(craft_save_example(p), 0, "saving the example: %s", rnnck_errmsg());
    return p;
}

/* An rnnck schema file (root attribute rnnck_schema "1.0") holding one
 * chunked, deflated float32 dataset "big" of numel elements, of which the
 * first `written` are written as zeros (the other chunks are never stored). */
int h5c_chunked_zeros_file(const char *path, hsize_t numel, hsize_t chunk, hsize_t written) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return -1;
    hid_t sp = H5Screate(H5S_SCALAR), st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 3);
    hid_t a = H5Acreate2(f, "rnnck_schema", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "1.0");
    H5Aclose(a);
    H5Tclose(st);
    H5Sclose(sp);
    int rc = 0;
    hid_t space = H5Screate_simple(1, &numel, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_deflate(dcpl, 6);
    hid_t ds = H5Dcreate2(f, "big", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (written) {
        float *zeros = calloc(written, sizeof *zeros);
        hsize_t start = 0;
        hid_t mem = H5Screate_simple(1, &written, NULL);
        H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, NULL, &written, NULL);
        if (ds < 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, zeros) < 0) rc = -1;
        H5Sclose(mem);
        free(zeros);
    }
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (ds < 0) rc = -1;
    H5Fclose(f);
    return rc;
}
