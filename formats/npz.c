/* NumPy .npz archives keyed by PyTorch names: member "rnn.weight_ih_l0.npy"
 * is tensor "rnn.weight_ih_l0". Read from np.savez / np.savez_compressed
 * (stored or deflated members); written with stored members. Recurrent
 * modules are inferred from names and shapes as for a bare state_dict. */
#include "formats.h"
#include "common/state_dict.h"
#include "common/zip_source.h"
#include "common/zipfile.h"

#include <stdlib.h>
#include <string.h>

static int detect_npz(const unsigned char *head, size_t n) {
    if (n < 30 || memcmp(head, "PK\3\4", 4) != 0) return 0;
    size_t nl = head[26] | (size_t)head[27] << 8;
    return nl > 4 && 30 + nl <= n && !memcmp(head + 30 + nl - 4, ".npy", 4);
}

/* Member i's .npy header, checked against the member's size; the tensor is
 * left unloaded, to be read from the archive when wanted. */
static rnnck_status lazy_member(rnnck__zip *z, rnnck__zsrc *src, int64_t i, const char *what, unsigned char *head,
                                rnnck_tensor **out) {
    uint64_t size;
    size_t got;
    rnnck__npy_header h;
    rnnck_status st = rnnck__zip_member_size(z, i, &size);
    if (!st) st = rnnck__zip_read_head(z, i, head, RNNCK__NPY_MAX_PREAMBLE, &got);
    if (!st) st = rnnck__npy_parse_header(head, got, what, &h);
    if (st) return st;
    if (size < h.data_offset || size - h.data_offset != h.data_bytes)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy data is %llu bytes but the header implies %zu", what,
                          (unsigned long long)(size < h.data_offset ? 0 : size - h.data_offset), h.data_bytes);
    unsigned flags = RNNCK__ZSRC_NPY | (h.swap ? RNNCK__ZSRC_SWAP : 0u) | (h.fortran ? RNNCK__ZSRC_FORTRAN : 0u);
    rnnck_tensor *t;
    if ((st = rnnck__tensor_new_unloaded(h.dtype, h.ndim, h.shape, &t))) return st;
    if ((st = rnnck__zsrc_add(src, i, h.data_offset, flags, &t->source_key))) {
        rnnck_tensor_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

static rnnck_status read_npz(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "npz reader: NULL argument");
    rnnck_limits lim;
    if (opts && opts->limits)
        lim = *opts->limits;
    else
        rnnck_limits_init(&lim);
    rnnck__zip *z;
    rnnck_status st = rnnck__zip_open(path, &z);
    if (st) return st;
    rnnck__zsrc *src = NULL;
    unsigned char *head = malloc(RNNCK__NPY_MAX_PREAMBLE);
    st = head ? rnnck__zsrc_new(&src) : rnnck__oom();
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, opts, path);
    int64_t count = rnnck__zip_count(z);
    if (!st && count > lim.max_tensors)
        st = rnnck__err(RNNCK_E_NOMEM, "%s: %lld members, over the limit of %lld tensors", path, (long long)count,
                        (long long)lim.max_tensors);
    for (int64_t i = 0; i < count && !st; i++) {
        const char *member = rnnck__zip_name(z, i);
        size_t n = member ? strlen(member) : 0;
        if (n < 5 || strcmp(member + n - 4, ".npy") != 0) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: member '%.200s' is not a .npy array", path, member ? member : "");
            break;
        }
        char what[1300];
        snprintf(what, sizeof what, "%s: %s", path, member);
        rnnck_tensor *t = NULL;
        st = lazy_member(z, src, i, what, head, &t);
        if (!st && (int64_t)rnnck_tensor_nbytes(t) > lim.max_tensor_bytes)
            st = rnnck__err(RNNCK_E_NOMEM, "%s: %zu bytes, over the limit of %lld", what, rnnck_tensor_nbytes(t),
                            (long long)lim.max_tensor_bytes);
        char *name = st ? NULL : rnnck__strdup(member);
        if (!st && !name) st = rnnck__oom();
        if (!st) {
            name[n - 4] = 0;
            st = rnnck__sd_add_tensor(&sd, name, t);
        }
        free(name);
        rnnck_tensor_free(t);
    }
    rnnck_model *m = NULL;
    if (!st) st = rnnck__sd_build(&sd, path, opts, &m);
    if (!st) st = rnnck__zsrc_attach(m, src, z, path); /* the model reads from the archive from now on */
    if (!st) {
        *out = m;
    } else {
        rnnck_model_free(m);
        rnnck__zsrc_free(src);
        rnnck__zip_close(z);
    }
    rnnck__sd_free(&sd);
    free(head);
    return st;
}

static const char *npy_descr(rnnck_dtype d) {
    switch (d) {
    case RNNCK_F32: return "<f4";
    case RNNCK_F64: return "<f8";
    case RNNCK_F16: return "<f2";
    case RNNCK_I64: return "<i8";
    case RNNCK_I32: return "<i4";
    case RNNCK_I16: return "<i2";
    case RNNCK_I8: return "|i1";
    case RNNCK_U8: return "|u1";
    case RNNCK_BOOL: return "|b1";
    default: return NULL; /* numpy has no bfloat16 */
    }
}

/* .npy format 1.0 header, padded so the data starts on a 64-byte boundary. */
static size_t npy_header(const rnnck_tensor *t, char *buf, size_t cap) {
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy_descr(t->dtype));
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)t->shape[i], i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1) n--; /* numpy writes (3,) but (3, 4) */
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    if (10 + hlen > cap) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[10 + hlen - 1] = '\n';
    return 10 + hlen;
}

static rnnck_status write_npz(rnnck_model *m, const char *path) {
    rnnck__err_clear();
    if (!m || !path) return rnnck__err(RNNCK_E_USAGE, "npz writer: NULL argument");
    rnnck_status st = rnnck__export_check(m, path);
    if (st) return st;
    size_t nt = rnnck_model_tensor_count(m);
    for (size_t i = 0; i < nt; i++) {
        const rnnck_tensor *t = rnnck_model_tensor(m, i);
        if (!npy_descr(t->dtype))
            return rnnck__err(RNNCK_E_INEXACT, "%s: tensor %s is %s, which NumPy cannot hold", path,
                              rnnck_tensor_name(t), rnnck_dtype_name(t->dtype));
    }
    rnnck__atomic a;
    rnnck__zipw *w = NULL;
    st = rnnck__atomic_begin(&a, path, true);
    if (!st) st = rnnck__zipw_begin(a.fp, path, &w);
    for (size_t i = 0; i < nt && !st; i++) {
        const rnnck_tensor *t = rnnck_model_tensor(m, i);
        char header[640];
        size_t hn = npy_header(t, header, sizeof header);
        void *data = NULL;
        size_t n = 0;
        rnnck__export_extent x;
        char *member = rnnck__asprintf("%s.npy", rnnck_tensor_name(t));
        st = member ? rnnck__export_locate(m, i, path, &x) : rnnck__oom();
        if (!st) st = rnnck__zipw_add_copy(w, member, header, hn, rnnck_tensor_nbytes(t), x.at.offset, rnnck__export_copy, &x);
        if (st == RNNCK_E_UNSUPPORTED) { /* not in place, or a stream: through memory */
            rnnck__err_clear();
            st = rnnck__export_tensor(m, i, &data, &n);
            if (!st) st = rnnck__zipw_add2(w, member, header, hn, data, n);
        }
        free(member);
        free(data);
    }
    if (!st) st = rnnck__zipw_finish(w);
    rnnck__zipw_free(w);
    if (!st) return rnnck__atomic_commit(&a);
    rnnck__atomic_abort(&a);
    return st;
}

const rnnck__format rnnck__format_npz = {
    .name = "npz",
    .extensions = ",.npz,",
    .detect = detect_npz,
    .read = read_npz,
    .write = write_npz,
};
