/* Writing foreign HDF5 files with h5py's conventions (h5_tree.h): what the
 * Keras writer needs, and nothing rnnck-schema specific. */
#include "h5/h5_internal.h"
#include "h5/h5_tree.h"

#include <stdlib.h>
#include <string.h>

struct rnnck__h5w {
    hid_t fid, lcpl;
    char *label;
};

static rnnck_status wfail(const rnnck__h5w *w, const char *object, const char *what) {
    return rnnck__err(RNNCK_E_WRITE, "%s: %s: %s", w->label, object, what);
}

rnnck_status rnnck__h5w_create(const char *tmp_path, const char *label, rnnck__h5w **out) {
    rnnck__h5w *w = calloc(1, sizeof *w);
    if (!w || !(w->label = rnnck__strdup(label))) {
        free(w);
        return rnnck__oom();
    }
    rnnck__h5_lock();
    rnnck__h5_silence();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    w->fid = fapl >= 0 ? rnnck__h5_create_fresh(tmp_path, H5P_DEFAULT, fapl) : H5I_INVALID_HID;
    if (fapl >= 0) H5Pclose(fapl);
    w->lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (w->lcpl >= 0) H5Pset_create_intermediate_group(w->lcpl, 1);
    rnnck__h5_unlock();
    if (w->fid < 0 || w->lcpl < 0) {
        rnnck_status st = wfail(w, "/", "HDF5 cannot create the file");
        rnnck__h5w_close(w);
        return st;
    }
    *out = w;
    return RNNCK_OK;
}

rnnck_status rnnck__h5w_group(rnnck__h5w *w, const char *path) {
    rnnck__h5_lock();
    htri_t exists = strcmp(path, "/") == 0 ? 1 : H5Lexists(w->fid, path, H5P_DEFAULT);
    hid_t g = exists > 0 ? H5I_INVALID_HID : H5Gcreate2(w->fid, path, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0) H5Gclose(g);
    rnnck__h5_unlock();
    if (exists <= 0 && g < 0) return wfail(w, path, "cannot create the group");
    return RNNCK_OK;
}

static rnnck_status write_strings(rnnck__h5w *w, const char *obj, const char *name, const char *const *values,
                                  size_t n, bool scalar) {
    rnnck_status st = rnnck__h5w_group(w, obj);
    if (st) return st;
    rnnck__h5_lock();
    hid_t o = H5Oopen(w->fid, obj, H5P_DEFAULT);
    hid_t type = H5I_INVALID_HID, space;
    hsize_t dims[1] = {n};
    if (n == 0 && !scalar) { /* h5py: np.asarray([]) is float64 */
        type = H5Tcopy(H5T_IEEE_F64LE);
        space = H5Screate_simple(1, dims, NULL);
    } else {
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, H5T_VARIABLE);
        H5Tset_cset(type, H5T_CSET_ASCII);
        H5Tset_strpad(type, H5T_STR_NULLTERM);
        space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    }
    hid_t a = o >= 0 && type >= 0 && space >= 0 ? H5Acreate2(o, name, type, space, H5P_DEFAULT, H5P_DEFAULT)
                                                : H5I_INVALID_HID;
    double none = 0;
    herr_t wr = a < 0 ? -1 : H5Awrite(a, type, n == 0 && !scalar ? (const void *)&none : (const void *)values);
    if (a >= 0) H5Aclose(a);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (o >= 0) H5Oclose(o);
    rnnck__h5_unlock();
    if (wr < 0) {
        char what[300];
        snprintf(what, sizeof what, "cannot write attribute %.200s", name);
        return wfail(w, obj, what);
    }
    return RNNCK_OK;
}

rnnck_status rnnck__h5w_attr_string(rnnck__h5w *w, const char *obj, const char *name, const char *value) {
    return write_strings(w, obj, name, &value, 1, true);
}

rnnck_status rnnck__h5w_attr_strings(rnnck__h5w *w, const char *obj, const char *name, const char *const *values,
                                     size_t n) {
    return write_strings(w, obj, name, values, n, false);
}

rnnck_status rnnck__h5w_dataset(rnnck__h5w *w, const char *path, const rnnck_tensor *t) {
    rnnck_dtype dt = rnnck_tensor_dtype(t);
    if (!rnnck_tensor_cdata(t) || !rnnck_tensor_is_contiguous(t))
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: tensor not loaded or not contiguous", w->label, path);
    hsize_t dims[RNNCK_MAX_DIMS];
    int nd = rnnck_tensor_ndim(t);
    for (int i = 0; i < nd; i++) dims[i] = (hsize_t)rnnck_tensor_dim(t, i);
    rnnck__h5_lock();
    hid_t ft = rnnck__h5_file_type(dt), mt = rnnck__h5_mem_type(dt);
    hid_t space = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = ft >= 0 && space >= 0 ? H5Dcreate2(w->fid, path, ft, space, w->lcpl, H5P_DEFAULT, H5P_DEFAULT)
                                     : H5I_INVALID_HID;
    herr_t wr = ds < 0 || mt < 0 ? -1 : H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rnnck_tensor_cdata(t));
    if (ds >= 0) H5Dclose(ds);
    if (space >= 0) H5Sclose(space);
    if (ft >= 0) H5Tclose(ft);
    if (mt >= 0) H5Tclose(mt);
    rnnck__h5_unlock();
    return wr < 0 ? wfail(w, path, "cannot write the dataset") : RNNCK_OK;
}

rnnck_status rnnck__h5w_close(rnnck__h5w *w) {
    if (!w) return RNNCK_OK;
    rnnck__h5_lock();
    herr_t rc = 0;
    if (w->lcpl >= 0) H5Pclose(w->lcpl);
    if (w->fid >= 0) rc = H5Fclose(w->fid);
    rnnck__h5_unlock();
    rnnck_status st = rc < 0 ? wfail(w, "/", "HDF5 cannot finish the file") : RNNCK_OK;
    free(w->label);
    free(w);
    return st;
}
