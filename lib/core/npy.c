/* NumPy .npy reader and writer.
 *
 * Reading accepts format versions 1.0, 2.0 and 3.0, any byte order, C or
 * Fortran order, and the plain numeric dtypes rnnck has; everything else
 * (object arrays, i.e. pickles; structured and string dtypes) is refused.
 * The header dict is parsed by a small strict parser, not evaluated: only the
 * three keys numpy writes, each once, with literal values. */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (64 * 1024) /* numpy itself refuses larger headers */

typedef rnnck__npy_header npy_header;

static int host_is_little(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ------------------------------------------------------ header dict parser */

typedef struct cursor {
    const char *p, *end;
    const char *what;
} cursor;

static void skip_spaces(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static bool take(cursor *c, char ch) {
    skip_spaces(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted string literal without escapes, copied into buf. */
static rnnck_status parse_string(cursor *c, const char *field, char *buf, size_t bufsize) {
    skip_spaces(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field %s: expected a quoted string", c->what, field);
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\0' || n + 1 >= bufsize)
            return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field %s: string literal is malformed or too long",
                              c->what, field);
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field %s: unterminated string", c->what, field);
    c->p++;
    buf[n] = '\0';
    return RNNCK_OK;
}

static bool starts_with_word(cursor *c, const char *word) {
    size_t n = strlen(word);
    return (size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0;
}

static rnnck_status parse_bool(cursor *c, int *out) {
    skip_spaces(c);
    if (starts_with_word(c, "True")) {
        c->p += 4;
        *out = 1;
    } else if (starts_with_word(c, "False")) {
        c->p += 5;
        *out = 0;
    } else {
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field fortran_order: expected True or False", c->what);
    }
    return RNNCK_OK;
}

static rnnck_status parse_dim(cursor *c, int64_t *out) {
    skip_spaces(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field shape: expected a non-negative integer", c->what);
    int64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (rnnck__mul_overflow_i64(v, 10, &v) || __builtin_add_overflow(v, (int64_t)(*c->p - '0'), &v))
            return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field shape: dimension overflows int64", c->what);
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 long literal */
    *out = v;
    return RNNCK_OK;
}

/* "()", "(3,)", "(3, 4)", "(3, 4,)". A one-element tuple needs its comma. */
static rnnck_status parse_shape(cursor *c, npy_header *h) {
    if (!take(c, '('))
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field shape: expected a tuple", c->what);
    int n = 0;
    bool comma_after_last = false;
    while (!take(c, ')')) {
        if (n > 0 && !comma_after_last)
            return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field shape: expected ',' or ')'", c->what);
        if (n == RNNCK_MAX_DIMS)
            return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: .npy header field shape: more than %d dimensions", c->what,
                              RNNCK_MAX_DIMS);
        rnnck_status st = parse_dim(c, &h->shape[n++]);
        if (st) return st;
        comma_after_last = take(c, ',');
    }
    if (n == 1 && !comma_after_last)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field shape: '(n)' is not a tuple, expected '(n,)'",
                          c->what);
    h->ndim = n;
    return RNNCK_OK;
}

/* descr such as "<f4": byte order, kind, size. */
static rnnck_status parse_descr(cursor *c, npy_header *h) {
    skip_spaces(c);
    if (c->p < c->end && *c->p == '[')
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: .npy header field descr: structured dtypes are not supported",
                          c->what);
    char d[32] = {0};
    rnnck_status st = parse_string(c, "descr", d, sizeof d);
    if (st) return st;
    char order = d[0];
    if (!order || !strchr("<>|=", order))
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field descr: '%s' has no byte order character", c->what,
                          d);
    /* byte order, kind, then size digits (object arrays, "|O", have none):
     * "|" or "<f" alone must not send the size parse past the string's end. */
    char kind = d[1];
    if (kind == 'O')
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: .npy header field descr: object arrays (pickles) are refused",
                          c->what);
    if (strlen(d) < 3)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field descr: malformed dtype '%s'", c->what, d);
    char *endp;
    errno = 0;
    long size = d[2] >= '0' && d[2] <= '9' ? strtol(d + 2, &endp, 10) : -1;
    if (size < 0 || errno || *endp)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field descr: malformed dtype '%s'", c->what, d);
    rnnck_dtype dt = RNNCK_DTYPE_INVALID;
    if (kind == 'f') dt = size == 2 ? RNNCK_F16 : size == 4 ? RNNCK_F32 : size == 8 ? RNNCK_F64 : dt;
    if (kind == 'i')
        dt = size == 1 ? RNNCK_I8 : size == 2 ? RNNCK_I16 : size == 4 ? RNNCK_I32 : size == 8 ? RNNCK_I64 : dt;
    if (kind == 'u' && size == 1) dt = RNNCK_U8;
    if (kind == 'b' && size == 1) dt = RNNCK_BOOL;
    if (dt == RNNCK_DTYPE_INVALID)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: .npy header field descr: dtype '%s' is not supported", c->what,
                          d);
    if (size > 1 && order == '|')
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field descr: '%s' needs a byte order, not '|'", c->what,
                          d);
    h->dtype = dt;
    h->swap = size > 1 && ((order == '<' && !host_is_little()) || (order == '>' && host_is_little()));
    return RNNCK_OK;
}

static rnnck_status parse_dict(cursor *c, npy_header *h) {
    if (!take(c, '{')) return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header: expected '{'", c->what);
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    bool comma_after_last = true;
    while (!take(c, '}')) {
        if (!comma_after_last) return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header: expected ',' or '}'", c->what);
        char key[32];
        rnnck_status st = parse_string(c, "key", key, sizeof key);
        if (st) return st;
        if (!take(c, ':'))
            return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field %s: expected ':'", c->what, key);
        bool *seen;
        if (strcmp(key, "descr") == 0) {
            seen = &seen_descr;
            st = parse_descr(c, h);
        } else if (strcmp(key, "fortran_order") == 0) {
            seen = &seen_fortran;
            st = parse_bool(c, &h->fortran);
        } else if (strcmp(key, "shape") == 0) {
            seen = &seen_shape;
            st = parse_shape(c, h);
        } else {
            return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header: unexpected key '%s'", c->what, key);
        }
        if (st) return st;
        if (*seen) return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field %s: given twice", c->what, key);
        *seen = true;
        comma_after_last = take(c, ',');
    }
    const char *missing = !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : !seen_shape ? "shape" : NULL;
    if (missing) return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field %s: missing", c->what, missing);
    /* numpy pads with spaces and ends with one newline. */
    while (c->p < c->end && *c->p == ' ') c->p++;
    if (c->p < c->end && *c->p == '\n') c->p++;
    if (c->p != c->end)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header: unexpected text after the dict", c->what);
    return RNNCK_OK;
}

/* Parses magic, version and header from the first `len` bytes of a file
 * (len may cover only the header). */
static rnnck_status parse_preamble(const unsigned char *buf, size_t len, const char *what, npy_header *h) {
    memset(h, 0, sizeof *h);
    if (len < NPY_MAGIC_LEN + 2 || memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: not a .npy file (magic bytes missing)", what);
    unsigned major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: .npy format version %u.%u is not supported (1.0-3.0)", what,
                          major, minor);
    size_t lenfield = major == 1 ? 2 : 4, hlen;
    if (len < 8 + lenfield) return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header length field: truncated", what);
    if (major == 1)
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    else
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header length %zu exceeds the 64 KiB limit", what, hlen);
    size_t start = 8 + lenfield;
    if (len - start < hlen)
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header: file ends inside the header (%zu of %zu bytes)", what,
                          len - start, hlen);
    cursor c = {(const char *)buf + start, (const char *)buf + start + hlen, what};
    rnnck_status st = parse_dict(&c, h);
    if (st) return st;
    int64_t numel;
    size_t bytes;
    if (!rnnck__shape_numel(h->ndim, h->shape, &numel) || (uint64_t)numel > SIZE_MAX ||
        rnnck__mul_overflow_size((size_t)numel, rnnck_dtype_size(h->dtype), &bytes))
        return rnnck__err(RNNCK_E_FORMAT, "%s: .npy header field shape: element count overflows", what);
    h->data_offset = start + hlen;
    h->data_bytes = bytes;
    return RNNCK_OK;
}

/* ------------------------------------------------------ data conversion */

static void byte_swap(unsigned char *p, size_t count, size_t size) {
    for (size_t i = 0; i < count; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Reorders Fortran-ordered data (first index fastest) into C order. */
static rnnck_status fortran_to_c(rnnck_tensor *t) {
    int nd = t->ndim;
    int64_t n = rnnck_tensor_numel(t);
    if (nd < 2 || n == 0) return RNNCK_OK;
    size_t es = rnnck_dtype_size(t->dtype);
    unsigned char *data = rnnck_tensor_data(t);
    unsigned char *src = malloc((size_t)n * es);
    if (!src) return rnnck__oom();
    memcpy(src, data, (size_t)n * es);
    int64_t fstride[RNNCK_MAX_DIMS], idx[RNNCK_MAX_DIMS] = {0};
    fstride[0] = 1;
    for (int i = 1; i < nd; i++) fstride[i] = fstride[i - 1] * t->shape[i - 1];
    int64_t off = 0; /* Fortran offset of the current C-order index */
    for (int64_t k = 0; k < n; k++) {
        memcpy(data + (size_t)k * es, src + (size_t)off * es, es);
        for (int i = nd - 1; i >= 0; i--) { /* odometer in C order */
            off += fstride[i];
            if (++idx[i] < t->shape[i]) break;
            off -= fstride[i] * t->shape[i];
            idx[i] = 0;
        }
    }
    free(src);
    return RNNCK_OK;
}

/* Byte order, Fortran order and bool validity on freshly read data. */
static rnnck_status finish_data(rnnck_tensor *t, const npy_header *h, const char *what) {
    size_t es = rnnck_dtype_size(t->dtype);
    int64_t n = rnnck_tensor_numel(t);
    if (h->swap) byte_swap(rnnck_tensor_data(t), (size_t)n, es);
    if (t->dtype == RNNCK_BOOL) {
        const unsigned char *b = rnnck_tensor_cdata(t);
        for (int64_t i = 0; i < n; i++)
            if (b[i] > 1)
                return rnnck__err(RNNCK_E_FORMAT, "%s: .npy data: bool element %lld holds %u, not 0 or 1", what,
                                  (long long)i, b[i]);
    }
    return h->fortran ? fortran_to_c(t) : RNNCK_OK;
}

rnnck_status rnnck__npy_parse_header(const unsigned char *buf, size_t len, const char *what, rnnck__npy_header *h) {
    return parse_preamble(buf, len, what, h);
}
rnnck_status rnnck__npy_finish(rnnck_tensor *t, const rnnck__npy_header *h, const char *what) {
    return finish_data(t, h, what);
}

static rnnck_status data_size_error(const char *what, size_t have, const npy_header *h) {
    char s[256];
    return rnnck__err(RNNCK_E_FORMAT, "%s: .npy data is %zu bytes but the header (shape %s, %s) implies %zu", what,
                      have, rnnck__shape_str(h->ndim, h->shape, s, sizeof s), rnnck_dtype_name(h->dtype),
                      h->data_bytes);
}

rnnck_status rnnck_npy_parse(const void *buf, size_t len, const char *what, rnnck_tensor **out) {
    rnnck__err_clear();
    if (!what) what = "(buffer)";
    if ((!buf && len) || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_npy_parse: NULL argument");
    npy_header h;
    rnnck_status st = parse_preamble(buf, len, what, &h);
    if (st) return st;
    size_t have = len - h.data_offset;
    if (have != h.data_bytes) return data_size_error(what, have, &h);
    rnnck_tensor *t;
    st = rnnck_tensor_new(h.dtype, h.ndim, h.shape, &t);
    if (st) return st;
    if (h.data_bytes) memcpy(rnnck_tensor_data(t), (const unsigned char *)buf + h.data_offset, h.data_bytes);
    st = finish_data(t, &h, what);
    if (st) {
        rnnck_tensor_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

rnnck_status rnnck_npy_load(const char *path, rnnck_tensor **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_npy_load: NULL argument");
    rnnck_status kind = rnnck__require_regular_input(path, NULL); /* a FIFO would block fopen */
    if (kind) return kind;
    FILE *fp = fopen(path, "rb");
    if (!fp) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    rnnck_status st;
    rnnck_tensor *t = NULL;
    unsigned char *head = malloc(12 + NPY_MAX_HEADER);
    struct stat sb;
    if (!head) {
        st = rnnck__oom();
        goto done;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = rnnck__err(RNNCK_E_IO, "%s: not a regular file", path);
        goto done;
    }
    size_t got = fread(head, 1, 12 + NPY_MAX_HEADER, fp);
    if (ferror(fp)) {
        st = rnnck__err(RNNCK_E_IO, "%s: read failed", path);
        goto done;
    }
    npy_header h;
    /* The length field bounds the header; parse_preamble only looks that far. */
    st = parse_preamble(head, got, path, &h);
    if (st) goto done;
    size_t fsize = (size_t)sb.st_size;
    if (fsize < h.data_offset || fsize - h.data_offset != h.data_bytes) {
        st = data_size_error(path, fsize < h.data_offset ? 0 : fsize - h.data_offset, &h);
        goto done;
    }
    st = rnnck_tensor_new(h.dtype, h.ndim, h.shape, &t);
    if (st) goto done;
    if (h.data_bytes) {
        if (fseek(fp, (long)h.data_offset, SEEK_SET) != 0 ||
            fread(rnnck_tensor_data(t), 1, h.data_bytes, fp) != h.data_bytes) {
            st = rnnck__err(RNNCK_E_IO, "%s: .npy data: read failed", path);
            goto done;
        }
    }
    st = finish_data(t, &h, path);
done:
    free(head);
    fclose(fp);
    if (st) {
        rnnck_tensor_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

/* ---------------------------------------------------------------- writing */

static const char *npy_descr(rnnck_dtype dt) {
    switch (dt) {
    case RNNCK_F16: return "<f2";
    case RNNCK_F32: return "<f4";
    case RNNCK_F64: return "<f8";
    case RNNCK_I8: return "|i1";
    case RNNCK_I16: return "<i2";
    case RNNCK_I32: return "<i4";
    case RNNCK_I64: return "<i8";
    case RNNCK_U8: return "|u1";
    case RNNCK_BOOL: return "|b1";
    default: return NULL;
    }
}

/* The header numpy itself writes, padded so the data starts on a 64-byte
 * boundary. Returns the total preamble length written into buf. */
static size_t format_header(const rnnck_tensor *t, char *buf, size_t bufsize) {
    char shape[RNNCK_MAX_DIMS * 24 + 4];
    size_t n = 0;
    shape[n++] = '(';
    for (int i = 0; i < t->ndim; i++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (t->ndim == 1) shape[n++] = ',';
    shape[n++] = ')';
    shape[n] = '\0';
    int dict = snprintf(buf + 10, bufsize - 10, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                        npy_descr(t->dtype), shape);
    size_t total = 10 + (size_t)dict + 1; /* + newline */
    size_t padded = (total + 63) / 64 * 64;
    memset(buf + 10 + dict, ' ', padded - total);
    buf[padded - 1] = '\n';
    memcpy(buf, NPY_MAGIC "\x01\x00", 8);
    size_t hlen = padded - 10;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    return padded;
}

rnnck_status rnnck_npy_save(const rnnck_tensor *t, const char *path) {
    rnnck__err_clear();
    if (!t || !path) return rnnck__err(RNNCK_E_USAGE, "rnnck_npy_save: NULL argument");
    if (!npy_descr(t->dtype))
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: dtype %s has no .npy equivalent", path,
                          rnnck_dtype_name(t->dtype));
    if (!rnnck__tensor_loaded(t))
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s is not loaded", path, rnnck_tensor_name(t));
    size_t nbytes = rnnck_tensor_nbytes(t), es = rnnck_dtype_size(t->dtype);
    /* A contiguous tensor on a little-endian host is written from where it
     * lies; otherwise from a C-ordered, little-endian copy. */
    unsigned char *data = NULL;
    const unsigned char *out = rnnck_tensor_cdata(t);
    rnnck_status st = RNNCK_OK;
    if (!rnnck_tensor_is_contiguous(t) || !host_is_little()) {
        data = malloc(nbytes ? nbytes : 1);
        if (!data) return rnnck__oom();
        st = rnnck_tensor_copy_out(t, t->dtype, data, nbytes); /* C order, contiguous */
        if (st) {
            free(data);
            return st;
        }
        if (!host_is_little()) byte_swap(data, nbytes / es, es);
        out = data;
    }
    char header[512];
    size_t hsize = format_header(t, header, sizeof header);
    rnnck__atomic a;
    st = rnnck__atomic_begin(&a, path, true);
    if (!st) {
        if (fwrite(header, 1, hsize, a.fp) != hsize || (nbytes && fwrite(out, 1, nbytes, a.fp) != nbytes)) {
            st = rnnck__err(RNNCK_E_WRITE, "%s: write failed: %s", path, strerror(errno));
            rnnck__atomic_abort(&a);
        } else {
            st = rnnck__atomic_commit(&a);
        }
    }
    free(data);
    if (!st) rnnck__err_clear();
    return st;
}
