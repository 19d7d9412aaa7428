/* Writes a model as a torch.save archive holding an OrderedDict state_dict:
 * protocol-2 pickle using only the opcodes and globals torch.load(...,
 * weights_only=True) accepts, one stored, 64-byte-aligned record per tensor. */
#include "core/internal.h"
#include "common/state_dict.h"
#include "common/zipfile.h"

#include <stdlib.h>
#include <string.h>

rnnck_status rnnck__pytorch_write(rnnck_model *m, const char *path);

typedef struct pbuf {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} pbuf;

static void put(pbuf *b, const void *data, size_t len) {
    if (b->oom) return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}
static void op(pbuf *b, unsigned char c) { put(b, &c, 1); }

static void put_str(pbuf *b, const char *s) {
    size_t n = strlen(s);
    unsigned char h[5] = {'X', (unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 24)};
    put(b, h, 5);
    put(b, s, n);
}

static void put_int(pbuf *b, int64_t v) {
    if (v >= 0 && v < 256) {
        unsigned char h[2] = {'K', (unsigned char)v};
        put(b, h, 2);
    } else if (v >= 0 && v < 65536) {
        unsigned char h[3] = {'M', (unsigned char)v, (unsigned char)(v >> 8)};
        put(b, h, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        uint32_t u = (uint32_t)v;
        unsigned char h[5] = {'J', (unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        put(b, h, 5);
    } else { /* LONG1 with 8 little-endian two's-complement bytes */
        uint64_t u = (uint64_t)v;
        unsigned char h[10] = {0x8a, 8};
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)(u >> (8 * i));
        put(b, h, 10);
    }
}

static void put_global(pbuf *b, const char *module, const char *name) {
    op(b, 'c');
    put(b, module, strlen(module));
    op(b, '\n');
    put(b, name, strlen(name));
    op(b, '\n');
}

static const char *storage_type(rnnck_dtype d) {
    switch (d) {
    case RNNCK_F32: return "FloatStorage";
    case RNNCK_F64: return "DoubleStorage";
    case RNNCK_F16: return "HalfStorage";
    case RNNCK_BF16: return "BFloat16Storage";
    case RNNCK_I64: return "LongStorage";
    case RNNCK_I32: return "IntStorage";
    case RNNCK_I16: return "ShortStorage";
    case RNNCK_I8: return "CharStorage";
    case RNNCK_U8: return "ByteStorage";
    case RNNCK_BOOL: return "BoolStorage";
    default: return NULL;
    }
}

/* name: _rebuild_tensor_v2((storage pid), 0, size, stride, False, OrderedDict()) */
static void put_tensor_entry(pbuf *b, const char *name, const rnnck_tensor *t, size_t key) {
    char keybuf[32];
    snprintf(keybuf, sizeof keybuf, "%zu", key);
    put_str(b, name);
    put_global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    put_str(b, "storage");
    put_global(b, "torch", storage_type(t->dtype));
    put_str(b, keybuf);
    put_str(b, "cpu");
    put_int(b, rnnck_tensor_numel(t));
    op(b, 't');
    op(b, 'Q'); /* BINPERSID */
    put_int(b, 0);
    int64_t stride[RNNCK_MAX_DIMS], s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= t->shape[i] > 0 ? t->shape[i] : 1;
    }
    op(b, '(');
    for (int i = 0; i < t->ndim; i++) put_int(b, t->shape[i]);
    op(b, 't');
    op(b, '(');
    for (int i = 0; i < t->ndim; i++) put_int(b, stride[i]);
    op(b, 't');
    op(b, 0x89); /* requires_grad False */
    put_global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 't');
    op(b, 'R');
}

rnnck_status rnnck__pytorch_write(rnnck_model *m, const char *path) {
    rnnck__err_clear();
    if (!m || !path) return rnnck__err(RNNCK_E_USAGE, "pytorch writer: NULL argument");
    rnnck_status st = rnnck__export_check(m, path);
    if (st) return st;
    size_t nt = rnnck_model_tensor_count(m);
    pbuf b = {0};
    op(&b, 0x80);
    op(&b, 2);
    put_global(&b, "collections", "OrderedDict");
    op(&b, ')');
    op(&b, 'R');
    op(&b, '(');
    for (size_t i = 0; i < nt; i++) {
        const rnnck_tensor *t = rnnck_model_tensor(m, i);
        if (!storage_type(t->dtype)) {
            free(b.p);
            return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: tensor %s has dtype %s, which PyTorch storages lack", path,
                              rnnck_tensor_name(t), rnnck_dtype_name(t->dtype));
        }
        put_tensor_entry(&b, rnnck_tensor_name(t), t, i);
    }
    op(&b, 'u'); /* SETITEMS */
    op(&b, '.');
    if (b.oom) {
        free(b.p);
        return rnnck__oom();
    }
    rnnck__atomic a;
    rnnck__zipw *w = NULL;
    st = rnnck__atomic_begin(&a, path, true);
    if (!st) st = rnnck__zipw_begin(a.fp, path, &w);
    if (!st) st = rnnck__zipw_add(w, "archive/data.pkl", b.p, b.n);
    if (!st) st = rnnck__zipw_add(w, "archive/byteorder", "little", 6);
    /* one tensor in memory at a time */
    for (size_t i = 0; i < nt && !st; i++) {
        void *data;
        size_t n;
        char member[64];
        snprintf(member, sizeof member, "archive/data/%zu", i);
        rnnck__export_extent x;
        st = rnnck__export_locate(m, i, path, &x);
        if (!st)
            st = rnnck__zipw_add_copy(w, member, NULL, 0, rnnck_tensor_nbytes(x.t), x.at.offset, rnnck__export_copy, &x);
        if (st != RNNCK_E_UNSUPPORTED) continue; /* copied file to file, or failed */
        rnnck__err_clear();
        st = rnnck__export_tensor(m, i, &data, &n);
        if (!st) {
            st = rnnck__zipw_add(w, member, data, n);
            free(data);
        }
    }
    if (!st) st = rnnck__zipw_add(w, "archive/version", "3\n", 2);
    if (!st) st = rnnck__zipw_finish(w);
    rnnck__zipw_free(w);
    free(b.p);
    if (!st) return rnnck__atomic_commit(&a);
    rnnck__atomic_abort(&a);
    return st;
}
