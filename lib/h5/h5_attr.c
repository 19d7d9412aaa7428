/* Reading and writing the scalar/string/array attributes of the schema. Every
 * attribute is checked for class, size and element count before it is read. */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *class_name(H5T_class_t c) {
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "variable-length";
    case H5T_ARRAY: return "array";
    case H5T_TIME: return "time";
    default: return "unknown";
    }
}

/* An open attribute with its type, class and element count. */
typedef struct attr {
    hid_t id, type, space;
    H5T_class_t cls;
    hssize_t npoints;
} attr;

static void attr_close(attr *a) {
    if (a->space >= 0) H5Sclose(a->space);
    if (a->type >= 0) H5Tclose(a->type);
    if (a->id >= 0) H5Aclose(a->id);
}

static rnnck_status attr_open(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name, attr *a,
                              bool *present) {
    a->id = a->type = a->space = H5I_INVALID_HID;
    *present = false;
    htri_t exists = H5Aexists(obj, name);
    if (exists < 0) return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "cannot read attribute %s", name);
    if (exists == 0) return RNNCK_OK;
    a->id = H5Aopen(obj, name, H5P_DEFAULT);
    if (a->id >= 0) a->type = H5Aget_type(a->id);
    if (a->type >= 0) a->space = H5Aget_space(a->id);
    if (a->space < 0) {
        attr_close(a);
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s cannot be opened", name);
    }
    a->cls = H5Tget_class(a->type);
    H5S_class_t sc = H5Sget_simple_extent_type(a->space);
    int rank = H5Sget_simple_extent_ndims(a->space);
    a->npoints = H5Sget_simple_extent_npoints(a->space);
    if (sc == H5S_NULL || (sc == H5S_SIMPLE && rank != 1) || a->npoints < 0 || (sc != H5S_SCALAR && sc != H5S_SIMPLE)) {
        attr_close(a);
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s must be a scalar or a 1-d array", name);
    }
    *present = true;
    return RNNCK_OK;
}

static rnnck_status need_scalar(const rnnck__h5_file *f, attr *a, const char *object, const char *name) {
    if (a->npoints == 1) return RNNCK_OK;
    attr_close(a);
    return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s must hold one value, not %lld", name,
                          (long long)a->npoints);
}

static rnnck_status wrong_class(const rnnck__h5_file *f, attr *a, const char *object, const char *name,
                                const char *want) {
    const char *got = class_name(a->cls);
    attr_close(a);
    return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s is of type %s, expected %s", name, got, want);
}

static bool printable_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return false;
    return true;
}

rnnck_status rnnck__h5_attr_string(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name, char *buf,
                                   size_t bufsize, bool *present) {
    attr a = {0};
    rnnck_status st = attr_open(f, obj, object, name, &a, present);
    if (st || !*present) return st;
    if (a.cls != H5T_STRING) return wrong_class(f, &a, object, name, "string");
    if ((st = need_scalar(f, &a, object, name))) return st;
    char *text = NULL;
    hid_t mem = H5Tcopy(H5T_C_S1);
    herr_t rd = -1;
    /* HDF5 does not convert between character sets: read in the file's. */
    H5Tset_cset(mem, H5Tget_cset(a.type));
    if (H5Tis_variable_str(a.type) > 0) {
        /* h5py writes str attributes variable-length; accept them too. */
        char *vstr = NULL;
        H5Tset_size(mem, H5T_VARIABLE);
        rd = H5Aread(a.id, mem, &vstr);
        if (rd >= 0 && vstr) {
            size_t n = strnlen(vstr, RNNCK__H5_MAX_STRING + 1);
            text = n <= RNNCK__H5_MAX_STRING ? rnnck__strdup(vstr) : NULL;
            if (!text) rd = -1;
        }
        if (vstr) H5Dvlen_reclaim(mem, a.space, H5P_DEFAULT, &vstr);
    } else {
        size_t size = H5Tget_size(a.type);
        if (size > 0 && size <= RNNCK__H5_MAX_STRING && (text = calloc(size + 1, 1)) != NULL) {
            H5Tset_size(mem, size);
            H5Tset_strpad(mem, H5T_STR_NULLPAD);
            rd = H5Aread(a.id, mem, text);
        }
    }
    H5Tclose(mem);
    attr_close(&a);
    if (rd < 0 || !text) {
        free(text);
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s: string cannot be read or exceeds %d bytes",
                              name, RNNCK__H5_MAX_STRING);
    }
    size_t len = strlen(text);
    if (!printable_ascii(text) || len >= bufsize) {
        free(text);
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                              "attribute %s: not a printable ASCII string of at most %zu bytes", name, bufsize - 1);
    }
    memcpy(buf, text, len + 1);
    free(text);
    return RNNCK_OK;
}

rnnck_status rnnck__h5_attr_int(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name,
                                int64_t *value, bool *present) {
    attr a = {0};
    rnnck_status st = attr_open(f, obj, object, name, &a, present);
    if (st || !*present) return st;
    if ((st = need_scalar(f, &a, object, name))) return st;
    herr_t rd = -1;
    if (a.cls == H5T_INTEGER && H5Tget_size(a.type) > 8) {
        attr_close(&a);
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s is an integer wider than 64 bits", name);
    } else if (a.cls == H5T_INTEGER) {
        /* libhdf5 converts any integer width/order; values beyond int64 clamp
         * and are then refused by the range checks of the caller. */
        rd = H5Aread(a.id, H5T_NATIVE_INT64, value);
    } else if (a.cls == H5T_ENUM) {
        /* h5py stores numpy bool as an enum over int8 ({FALSE, TRUE}). HDF5
         * converts enums only to enums, so read the raw base integer. */
        hid_t base = H5Tget_super(a.type);
        size_t size = base >= 0 ? H5Tget_size(base) : 0;
        if (base >= 0 && H5Tget_class(base) == H5T_INTEGER && size >= 1 && size <= 8) {
            hid_t native = H5Tget_native_type(a.type, H5T_DIR_ASCEND);
            unsigned char raw[8] = {0};
            if (native >= 0 && H5Tget_size(native) == size) rd = H5Aread(a.id, native, raw);
            if (native >= 0) H5Tclose(native);
            if (rd >= 0) {
                bool is_signed = H5Tget_sign(base) == H5T_SGN_2;
                int64_t v;
                switch (size) {
                case 1: v = is_signed ? (int64_t)(int8_t)raw[0] : (int64_t)raw[0]; break;
                case 2: {
                    uint16_t u;
                    memcpy(&u, raw, 2);
                    v = is_signed ? (int64_t)(int16_t)u : (int64_t)u;
                    break;
                }
                case 4: {
                    uint32_t u;
                    memcpy(&u, raw, 4);
                    v = is_signed ? (int64_t)(int32_t)u : (int64_t)u;
                    break;
                }
                default: {
                    uint64_t u;
                    memcpy(&u, raw, 8);
                    v = (int64_t)u;
                    break;
                }
                }
                *value = v;
            }
        }
        if (base >= 0) H5Tclose(base);
    } else {
        return wrong_class(f, &a, object, name, "integer");
    }
    attr_close(&a);
    if (rd < 0) return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s cannot be read as an integer", name);
    return RNNCK_OK;
}

/* Float attributes: IEEE single/double (any order) or integers. */
static bool numeric_for_double(attr *a) {
    if (a->cls == H5T_INTEGER) return H5Tget_size(a->type) <= 8;
    if (a->cls != H5T_FLOAT) return false;
    size_t size = H5Tget_size(a->type);
    return size == 4 || size == 8;
}

rnnck_status rnnck__h5_attr_double(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name,
                                   double *value, bool *present) {
    attr a = {0};
    rnnck_status st = attr_open(f, obj, object, name, &a, present);
    if (st || !*present) return st;
    if (!numeric_for_double(&a)) return wrong_class(f, &a, object, name, "float64");
    if ((st = need_scalar(f, &a, object, name))) return st;
    herr_t rd = H5Aread(a.id, H5T_NATIVE_DOUBLE, value);
    attr_close(&a);
    if (rd < 0) return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s cannot be read as float64", name);
    return RNNCK_OK;
}

rnnck_status rnnck__h5_attr_doubles(const rnnck__h5_file *f, hid_t obj, const char *object, const char *name,
                                    double *values, size_t max, size_t *count, bool *present) {
    attr a = {0};
    rnnck_status st = attr_open(f, obj, object, name, &a, present);
    if (st || !*present) return st;
    if (!numeric_for_double(&a)) return wrong_class(f, &a, object, name, "float64 array");
    if (a.npoints < 1 || (uint64_t)a.npoints > max) {
        long long n = (long long)a.npoints;
        attr_close(&a);
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s has %lld values, expected 1 to %zu", name, n,
                              max);
    }
    /* Bounded by max above: the buffer is the caller's, sized by our limit. */
    herr_t rd = H5Aread(a.id, H5T_NATIVE_DOUBLE, values);
    *count = (size_t)a.npoints;
    attr_close(&a);
    if (rd < 0) return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "attribute %s cannot be read as float64", name);
    return RNNCK_OK;
}

/* ---- writing ---- */

static rnnck_status write_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, hid_t space,
                               const void *data) {
    hid_t a = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t w = a >= 0 ? H5Awrite(a, mem_type, data) : -1;
    if (a >= 0) H5Aclose(a);
    if (w < 0) return rnnck__err(RNNCK_E_WRITE, "cannot write attribute %s", name);
    return RNNCK_OK;
}

static rnnck_status write_scalar(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, const void *data) {
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0) return rnnck__err(RNNCK_E_WRITE, "cannot write attribute %s", name);
    rnnck_status st = write_attr(obj, name, file_type, mem_type, space, data);
    H5Sclose(space);
    return st;
}

rnnck_status rnnck__h5_write_attr_string(hid_t obj, const char *name, const char *value) {
    /* Fixed-length, NUL-padded ASCII: numpy reads it as bytes 'S<n>'. */
    size_t len = strlen(value);
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0) return rnnck__err(RNNCK_E_WRITE, "cannot write attribute %s", name);
    H5Tset_size(type, len ? len : 1);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    H5Tset_cset(type, H5T_CSET_ASCII);
    char empty[1] = {0};
    rnnck_status st = write_scalar(obj, name, type, type, len ? value : empty);
    H5Tclose(type);
    return st;
}

rnnck_status rnnck__h5_write_attr_i64(hid_t obj, const char *name, int64_t value) {
    return write_scalar(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

rnnck_status rnnck__h5_write_attr_i8(hid_t obj, const char *name, int value) {
    int8_t v = (int8_t)value;
    return write_scalar(obj, name, H5T_STD_I8LE, H5T_NATIVE_INT8, &v);
}

rnnck_status rnnck__h5_write_attr_f64(hid_t obj, const char *name, double value) {
    return write_scalar(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

rnnck_status rnnck__h5_write_attr_f64s(hid_t obj, const char *name, const double *values, size_t count) {
    hsize_t dims[1] = {count};
    hid_t space = H5Screate_simple(1, dims, NULL);
    if (space < 0) return rnnck__err(RNNCK_E_WRITE, "cannot write attribute %s", name);
    rnnck_status st = write_attr(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, space, values);
    H5Sclose(space);
    return st;
}
