/* Validation of one dataset's metadata (type, space, layout, filters,
 * storage) before any of its data is read, and the HDF5 types of dtypes. */
#include "core/budget.h"
#include "h5/h5_internal.h"

#include <string.h>

/* IEEE half precision as h5py builds it: F32 with 1/5/10-bit fields. */
static hid_t half_type(H5T_order_t order) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0 ||
        H5Tset_order(t, order) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

hid_t rnnck__h5_mem_type(rnnck_dtype dtype) {
    switch (dtype) {
    case RNNCK_F32: return H5Tcopy(H5T_NATIVE_FLOAT);
    case RNNCK_F64: return H5Tcopy(H5T_NATIVE_DOUBLE);
    case RNNCK_F16: return half_type(H5Tget_order(H5T_NATIVE_FLOAT));
    case RNNCK_BF16: return H5Tcopy(H5T_NATIVE_UINT16);
    case RNNCK_I64: return H5Tcopy(H5T_NATIVE_INT64);
    case RNNCK_I32: return H5Tcopy(H5T_NATIVE_INT32);
    case RNNCK_I16: return H5Tcopy(H5T_NATIVE_INT16);
    case RNNCK_I8: return H5Tcopy(H5T_NATIVE_INT8);
    case RNNCK_U8:
    case RNNCK_BOOL: return H5Tcopy(H5T_NATIVE_UINT8);
    default: return H5I_INVALID_HID;
    }
}

hid_t rnnck__h5_file_type(rnnck_dtype dtype) {
    switch (dtype) {
    case RNNCK_F32: return H5Tcopy(H5T_IEEE_F32LE);
    case RNNCK_F64: return H5Tcopy(H5T_IEEE_F64LE);
    case RNNCK_F16: return half_type(H5T_ORDER_LE);
    case RNNCK_BF16: return H5Tcopy(H5T_STD_U16LE);
    case RNNCK_I64: return H5Tcopy(H5T_STD_I64LE);
    case RNNCK_I32: return H5Tcopy(H5T_STD_I32LE);
    case RNNCK_I16: return H5Tcopy(H5T_STD_I16LE);
    case RNNCK_I8: return H5Tcopy(H5T_STD_I8LE);
    case RNNCK_U8:
    case RNNCK_BOOL: return H5Tcopy(H5T_STD_U8LE);
    default: return H5I_INVALID_HID;
    }
}

static bool is_ieee(hid_t type, hid_t le, hid_t be) { return H5Tequal(type, le) > 0 || H5Tequal(type, be) > 0; }

static bool is_half(hid_t type) {
    size_t spos, epos, esize, mpos, msize;
    if (H5Tget_size(type) != 2 || H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
    return spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(type) == 15 &&
           H5Tget_norm(type) == H5T_NORM_IMPLIED && H5Tget_offset(type) == 0 && H5Tget_precision(type) == 16;
}

/* Plain two's-complement or unsigned integer of 1/2/4/8 bytes, no padding. */
static bool plain_integer(hid_t type, size_t *size, bool *is_signed) {
    *size = H5Tget_size(type);
    H5T_order_t order = H5Tget_order(type);
    *is_signed = H5Tget_sign(type) == H5T_SGN_2;
    return (*size == 1 || *size == 2 || *size == 4 || *size == 8) && (order == H5T_ORDER_LE || order == H5T_ORDER_BE) &&
           H5Tget_offset(type) == 0 && H5Tget_precision(type) == 8 * *size;
}

static const char *class_word(H5T_class_t c) {
    switch (c) {
    case H5T_STRING: return "a string";
    case H5T_COMPOUND: return "a compound";
    case H5T_VLEN: return "a variable-length";
    case H5T_ENUM: return "an enum";
    case H5T_ARRAY: return "an array";
    case H5T_OPAQUE: return "an opaque";
    case H5T_REFERENCE: return "a reference";
    case H5T_BITFIELD: return "a bitfield";
    case H5T_TIME: return "a time";
    default: return "an unknown";
    }
}

static rnnck_status classify_type(const rnnck__h5_file *f, hid_t ds, hid_t type, const char *object, rnnck_dtype *out) {
    char tag[32] = "";
    bool tagged = false;
    rnnck_status st = rnnck__h5_attr_string(f, ds, object, "dtype", tag, sizeof tag, &tagged);
    if (st) return st;
    H5T_class_t cls = H5Tget_class(type);
    rnnck_dtype dt = RNNCK_DTYPE_INVALID;
    if (cls == H5T_FLOAT) {
        if (is_ieee(type, H5T_IEEE_F32LE, H5T_IEEE_F32BE))
            dt = RNNCK_F32;
        else if (is_ieee(type, H5T_IEEE_F64LE, H5T_IEEE_F64BE))
            dt = RNNCK_F64;
        else if (is_half(type))
            dt = RNNCK_F16;
        else
            return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object, "float type of %zu bytes is not IEEE float16/32/64",
                                  H5Tget_size(type));
        if (tagged && strcmp(tag, rnnck_dtype_name(dt)) != 0)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dtype attribute '%s' contradicts stored %s", tag,
                                  rnnck_dtype_name(dt));
    } else if (cls == H5T_INTEGER) {
        size_t size;
        bool sgn;
        if (!plain_integer(type, &size, &sgn))
            return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object, "integer type with padding or odd width");
        if (sgn)
            dt = size == 8 ? RNNCK_I64 : size == 4 ? RNNCK_I32 : size == 2 ? RNNCK_I16 : RNNCK_I8;
        else if (size == 1)
            dt = RNNCK_U8;
        if (tagged) {
            /* The tag names what an integer container really holds. */
            rnnck_dtype want = rnnck_dtype_from_name(tag);
            if (want == RNNCK_BF16 && !sgn && size == 2)
                dt = RNNCK_BF16;
            else if (want == RNNCK_BOOL && !sgn && size == 1)
                dt = RNNCK_BOOL;
            else if (want != dt || dt == RNNCK_DTYPE_INVALID)
                return rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                                      "dtype attribute '%s' does not fit a %s%zu-bit integer", tag,
                                      sgn ? "signed " : "unsigned ", 8 * size);
        }
        if (dt == RNNCK_DTYPE_INVALID)
            return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object, "unsigned %zu-bit integers are not an rnnck dtype",
                                  8 * size);
    } else {
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "datatype is %s type; rnnck datasets hold numbers only",
                              class_word(cls));
    }
    *out = dt;
    return RNNCK_OK;
}

static rnnck_status check_space(const rnnck__h5_file *f, hid_t space, rnnck_dtype dtype, const char *object,
                                rnnck__h5_dsinfo *out) {
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    if (sc == H5S_SCALAR) {
        out->ndim = 0;
        return RNNCK_OK;
    }
    if (sc != H5S_SIMPLE) return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dataspace is null or unknown");
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0 || rank > RNNCK_MAX_DIMS)
        return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object, "rank %d exceeds %d", rank, RNNCK_MAX_DIMS);
    hsize_t dims[RNNCK_MAX_DIMS];
    if (H5Sget_simple_extent_dims(space, dims, NULL) != rank)
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dataspace cannot be read");
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] > (hsize_t)f->lim.max_dim)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dimension %d is %llu, over the limit %lld", i,
                                  (unsigned long long)dims[i], (long long)f->lim.max_dim);
        out->shape[i] = (int64_t)dims[i];
        if (rnnck__mul_overflow_i64(numel, out->shape[i], &numel))
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "element count overflows");
    }
    out->ndim = rank;
    int64_t bytes;
    if (rnnck__mul_overflow_i64(numel, (int64_t)rnnck_dtype_size(dtype), &bytes) || bytes > f->lim.max_tensor_bytes)
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "%lld elements of %s exceed the limit of %lld bytes",
                              (long long)numel, rnnck_dtype_name(dtype), (long long)f->lim.max_tensor_bytes);
    return RNNCK_OK;
}

static const char *filter_name(H5Z_filter_t id) {
    switch (id) {
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    default: return "third-party";
    }
}

/* Layout, filter pipeline and external storage, from the creation plist. */
static rnnck_status check_layout(const rnnck__h5_file *f, hid_t dcpl, const rnnck__h5_dsinfo *info, const char *object,
                                 H5D_layout_t *layout) {
    *layout = H5Pget_layout(dcpl);
    if (*layout != H5D_CONTIGUOUS && *layout != H5D_COMPACT && *layout != H5D_CHUNKED)
        return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object, "virtual or unknown dataset layout is not allowed");
    int ext = H5Pget_external_count(dcpl);
    if (ext != 0) return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object, "data in external files is not allowed");
    int nfilters = H5Pget_nfilters(dcpl);
    if (nfilters < 0 || nfilters > 32) return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "filter pipeline unreadable");
    for (int i = 0; i < nfilters; i++) {
        unsigned flags = 0, config = 0;
        size_t nelmts = 0;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelmts, NULL, 0, NULL, &config);
        if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE)
            return rnnck__h5_fail(f, RNNCK_E_UNSUPPORTED, object,
                                  "filter %d (%s) is not allowed; only deflate and shuffle", (int)id, filter_name(id));
    }
    if (*layout == H5D_CHUNKED) {
        hsize_t cdims[RNNCK_MAX_DIMS + 1];
        int crank = H5Pget_chunk(dcpl, RNNCK_MAX_DIMS + 1, cdims);
        if (crank != info->ndim)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunk rank %d differs from dataset rank %d", crank,
                                  info->ndim);
        /* libhdf5 allocates whole chunks: bound their size as we bound data. */
        int64_t chunk_bytes = (int64_t)rnnck_dtype_size(info->dtype);
        for (int i = 0; i < crank; i++) {
            if (cdims[i] == 0 || cdims[i] > (hsize_t)f->lim.max_dim ||
                rnnck__mul_overflow_i64(chunk_bytes, (int64_t)cdims[i], &chunk_bytes))
                return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunk dimension %d is %llu", i,
                                      (unsigned long long)cdims[i]);
        }
        if (chunk_bytes > f->lim.max_tensor_bytes || chunk_bytes > (int64_t)UINT32_MAX)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "chunks of %lld bytes exceed the limit",
                                  (long long)chunk_bytes);
        /* Reading allocates one whole chunk (and inflates into it): a chunk
         * larger than its dataset would put memory use beyond the bound the
         * tensor's own size sets (docs/BUDGETS.md). h5py's automatic chunks
         * of resizable datasets reach 1 MiB: that much is always allowed. */
        int64_t data_bytes = (int64_t)rnnck_dtype_size(info->dtype);
        for (int i = 0; i < info->ndim; i++) data_bytes *= info->shape[i]; /* bounded by check_space */
        if (chunk_bytes > data_bytes && chunk_bytes > RNNCK__H5_MAX_SPARE_CHUNK) {
            char dims[160];
            int64_t cd[RNNCK_MAX_DIMS];
            for (int i = 0; i < crank; i++) cd[i] = (int64_t)cdims[i];
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                                  "chunk dimensions %s declare chunks of %lld bytes, more than the dataset's %lld "
                                  "bytes (and over %d bytes): refused before any is read",
                                  rnnck__shape_str(crank, cd, dims, sizeof dims), (long long)chunk_bytes,
                                  (long long)data_bytes, RNNCK__H5_MAX_SPARE_CHUNK);
        }
    }
    return RNNCK_OK;
}

static rnnck_status check_storage(const rnnck__h5_file *f, hid_t ds, H5D_layout_t layout, rnnck__h5_dsinfo *info,
                                  const char *object) {
    int64_t numel = 1;
    rnnck__shape_numel(info->ndim, info->shape, &numel);
    uint64_t need = (uint64_t)numel * rnnck_dtype_size(info->dtype); /* bounded by check_space */
    if (need == 0) return RNNCK_OK;
    hsize_t stored = H5Dget_storage_size(ds);
    char shape[160];
    if (layout == H5D_CHUNKED) {
        /* Compressed, so any stored size down to deflate's best ratio; but
         * chunks never written read as fill values, and a 1 KB file must not
         * become a 4 GiB tensor (docs/BUDGETS.md). */
        if (stored == 0)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "shape %s declares %llu bytes but no chunk is stored",
                                  rnnck__shape_str(info->ndim, info->shape, shape, sizeof shape),
                                  (unsigned long long)need);
        if (need / RNNCK__H5_MAX_INFLATION > stored)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object,
                                  "shape %s declares %llu bytes but only %llu are stored (more than %d:1, beyond "
                                  "what deflate reaches: chunks missing)",
                                  rnnck__shape_str(info->ndim, info->shape, shape, sizeof shape),
                                  (unsigned long long)need, (unsigned long long)stored, RNNCK__H5_MAX_INFLATION);
        return RNNCK_OK;
    }
    if (stored != need)
        return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "stores %llu bytes but shape %s of %s needs %llu",
                              (unsigned long long)stored,
                              rnnck__shape_str(info->ndim, info->shape, shape, sizeof shape),
                              rnnck_dtype_name(info->dtype), (unsigned long long)need);
    if (layout == H5D_CONTIGUOUS) {
        haddr_t off = H5Dget_offset(ds);
        if (off == HADDR_UNDEF || off > (haddr_t)f->file_size || need > (uint64_t)f->file_size - off)
            return rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "data lies beyond the end of the file (truncated?)");
        info->offset = (uint64_t)off;
    }
    return RNNCK_OK;
}

rnnck_status rnnck__h5_inspect_dataset(const rnnck__h5_file *f, hid_t ds, const char *object, rnnck__h5_dsinfo *out) {
    rnnck__h5_dsinfo info;
    memset(&info, 0, sizeof info);
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    rnnck_status st = RNNCK_OK;
    H5D_layout_t layout = H5D_LAYOUT_ERROR;
    if (type < 0 || space < 0 || dcpl < 0)
        st = rnnck__h5_fail(f, RNNCK_E_FORMAT, object, "dataset header cannot be read");
    if (!st) st = classify_type(f, ds, type, object, &info.dtype);
    if (!st) st = check_space(f, space, info.dtype, object, &info);
    if (!st) st = check_layout(f, dcpl, &info, object, &layout);
    if (!st) st = check_storage(f, ds, layout, &info, object);
    info.chunked = layout == H5D_CHUNKED;
    info.layout = layout == H5D_CHUNKED  ? RNNCK__H5_CHUNKED
                  : layout == H5D_COMPACT ? RNNCK__H5_COMPACT
                                          : RNNCK__H5_CONTIGUOUS;
    info.big_endian = type >= 0 && H5Tget_size(type) > 1 && H5Tget_order(type) == H5T_ORDER_BE;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (!st) *out = info;
    return st;
}
