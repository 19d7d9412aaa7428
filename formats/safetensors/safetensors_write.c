/* Writes a model as safetensors: the header lists the tensors in alignment
 * order (the model's order within each dtype size; "rnnck.order" restores
 * the model's) with contiguous data_offsets, its __metadata__ describes every
 * module (safetensors_meta.c), and the data follows in the same order,
 * written sequentially (so a FIFO or standard output can take it). Tensors
 * are written as the model holds them, bit for bit: the metadata, not a
 * transform of the weights, carries semantics beyond PyTorch's. */
#include "formats.h"
#include "safetensors/safetensors_internal.h"
#include "common/state_dict.h"
#include "common/zip_source.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    rnnck_dtype dtype;
} dtypes[] = {
    {"F64", RNNCK_F64}, {"F32", RNNCK_F32}, {"F16", RNNCK_F16}, {"BF16", RNNCK_BF16}, {"I64", RNNCK_I64},
    {"I32", RNNCK_I32}, {"I16", RNNCK_I16}, {"I8", RNNCK_I8},   {"U8", RNNCK_U8},     {"BOOL", RNNCK_BOOL},
    /* defined by the format, with no rnnck dtype */
    {"U16", RNNCK_DTYPE_INVALID}, {"U32", RNNCK_DTYPE_INVALID}, {"U64", RNNCK_DTYPE_INVALID},
    {"F8_E4M3", RNNCK_DTYPE_INVALID}, {"F8_E5M2", RNNCK_DTYPE_INVALID}, {"F8_E8M0", RNNCK_DTYPE_INVALID},
    {"F6_E2M3", RNNCK_DTYPE_INVALID}, {"F6_E3M2", RNNCK_DTYPE_INVALID}, {"F4", RNNCK_DTYPE_INVALID},
    {"C64", RNNCK_DTYPE_INVALID},
};

const char *rnnck__st_dtype_name(rnnck_dtype d) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].dtype == d && d) return dtypes[i].name;
    return NULL;
}

rnnck_dtype rnnck__st_dtype_from_name(const char *name, bool *known) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(dtypes[i].name, name)) {
            *known = true;
            return dtypes[i].dtype;
        }
    *known = false;
    return RNNCK_DTYPE_INVALID;
}

/* Bytes [0, n) are UTF-8 (RFC 3629: shortest forms, no surrogates, up to
 * U+10FFFF) with no NUL; else the offset of the first bad byte. */
bool rnnck__st_utf8_ok(const unsigned char *s, size_t n, size_t *bad) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!c || !len || i + len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4)) {
            *bad = i;
            return false;
        }
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return false;
            }
        if ((len == 3 && c == 0xE0 && s[i + 1] < 0xA0) || (len == 3 && c == 0xED && s[i + 1] >= 0xA0) ||
            (len == 4 && c == 0xF0 && s[i + 1] < 0x90) || (len == 4 && c == 0xF4 && s[i + 1] >= 0x90)) {
            *bad = i;
            return false;
        }
        i += len;
    }
    return true;
}

/* An integer as JSON text, exactly (cJSON would print a double). */
static cJSON *json_u64(uint64_t v) {
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(text);
}

/* Names the format can hold: UTF-8, and not the metadata's key. */
static rnnck_status check_name(const char *name, const char *what) {
    size_t bad;
    if (!rnnck__st_utf8_ok((const unsigned char *)name, strlen(name), &bad))
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s name %.200s is not UTF-8 (byte %zu), which safetensors requires",
                          what, name, bad);
    if (!strcmp(name, "__metadata__"))
        return rnnck__err(RNNCK_E_UNSUPPORTED, "a %s named __metadata__ cannot be stored in safetensors", what);
    return RNNCK_OK;
}

static rnnck_status tensor_entry(cJSON *root, const rnnck_tensor *t, uint64_t begin, uint64_t end) {
    rnnck_status st = check_name(rnnck_tensor_name(t), "tensor");
    if (st) return st;
    cJSON *e = cJSON_AddObjectToObject(root, rnnck_tensor_name(t));
    cJSON *shape = e ? cJSON_CreateArray() : NULL, *offsets = shape ? cJSON_CreateArray() : NULL;
    bool ok = offsets && cJSON_AddStringToObject(e, "dtype", rnnck__st_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && ok; d++) ok = cJSON_AddItemToArray(shape, json_u64((uint64_t)t->shape[d]));
    ok = ok && cJSON_AddItemToObject(e, "shape", shape);
    if (!ok) {
        cJSON_Delete(shape);
        cJSON_Delete(offsets);
        return rnnck__oom();
    }
    if (!cJSON_AddItemToArray(offsets, json_u64(begin)) || !cJSON_AddItemToArray(offsets, json_u64(end)) ||
        !cJSON_AddItemToObject(e, "data_offsets", offsets)) {
        cJSON_Delete(offsets);
        return rnnck__oom();
    }
    return RNNCK_OK;
}

/* The file's order of the model's tensors: 8-byte dtypes first, then 4, 2
 * and 1, each group in model order (a stable counting sort), so that with
 * the data starting on an 8-byte boundary and no gaps every tensor is
 * aligned to its element size, as the reference library orders them. */
static size_t *file_order(const rnnck_model *m) {
    size_t n = rnnck_model_tensor_count(m), at = 0;
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return NULL;
    for (size_t size = 8; size >= 1; size /= 2)
        for (size_t i = 0; i < n; i++)
            if (rnnck_dtype_size(rnnck_model_tensor(m, i)->dtype) == size) order[at++] = i;
    return order;
}

/* The header text, padded with spaces to a multiple of 8 bytes (as the
 * safetensors library pads it), into *out (caller frees) of *len bytes. */
static rnnck_status make_header(rnnck_model *m, const size_t *order, char **out, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    cJSON *md = root ? cJSON_AddObjectToObject(root, "__metadata__") : NULL;
    /* "format": "pt", as transformers' save_pretrained writes: loaders
     * that check it take the file as PyTorch tensors */
    rnnck_status st = md && cJSON_AddStringToObject(md, "format", "pt") ? rnnck__st_meta_write(m, md) : rnnck__oom();
    for (size_t i = 0; i < rnnck_model_module_count(m) && !st; i++)
        st = check_name(rnnck_model_module(m, i)->name, "module");
    if (!st) st = rnnck__st_meta_write_order(md, order, rnnck_model_tensor_count(m));
    uint64_t offset = 0;
    for (size_t k = 0; k < rnnck_model_tensor_count(m) && !st; k++) {
        const rnnck_tensor *t = rnnck_model_tensor(m, order[k]);
        uint64_t n = rnnck_tensor_nbytes(t);
        st = tensor_entry(root, t, offset, offset + n);
        offset += n;
    }
    char *text = st ? NULL : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (st) return st;
    if (!text) return rnnck__oom();
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *buf = realloc(text, padded + 1);
    if (!buf) {
        free(text);
        return rnnck__oom();
    }
    memset(buf + n, ' ', padded - n);
    buf[padded] = 0;
    if (padded > RNNCK__ST_MAX_HEADER) {
        free(buf);
        return rnnck__err(RNNCK_E_UNSUPPORTED, "safetensors header of %zu bytes is over the format's limit of %llu",
                          padded, (unsigned long long)RNNCK__ST_MAX_HEADER);
    }
    *out = buf;
    *len = padded;
    return RNNCK_OK;
}

rnnck_status rnnck__st_write(rnnck_model *m, const char *path) {
    rnnck__err_clear();
    if (!m || !path) return rnnck__err(RNNCK_E_USAGE, "safetensors writer: NULL argument");
    char *header = NULL;
    size_t hlen = 0, *order = file_order(m);
    rnnck_status st = order ? make_header(m, order, &header, &hlen) : rnnck__oom();
    if (st) {
        free(order);
        rnnck__err_prefix("%s", path);
        return st;
    }
    rnnck__atomic a;
    st = rnnck__atomic_begin(&a, path, true);
    unsigned char len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    if (!st && (fwrite(len8, 1, 8, a.fp) != 8 || fwrite(header, 1, hlen, a.fp) != hlen))
        st = rnnck__err(RNNCK_E_WRITE, "%s: write failed", path);
    free(header);
    for (size_t k = 0; k < rnnck_model_tensor_count(m) && !st; k++) {
        size_t i = order[k];
        void *data = NULL;
        size_t n = 0;
        st = rnnck__tensor_bytes(m, i, &data, &n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        if (!st) rnnck__swap_bytes(data, n, rnnck_dtype_size(rnnck_model_tensor(m, i)->dtype));
#endif
        if (!st && n && fwrite(data, 1, n, a.fp) != n) st = rnnck__err(RNNCK_E_WRITE, "%s: write failed", path);
        free(data);
    }
    free(order);
    if (!st) return rnnck__atomic_commit(&a);
    rnnck__atomic_abort(&a);
    return st;
}
