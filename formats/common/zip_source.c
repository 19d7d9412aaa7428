/* The lazy data source behind a model read from a zip archive (torch.save,
 * npz): the open archive and, per tensor (its source_key), the record holding
 * it, the byte offset where it starts and how its bytes are fixed up. A
 * tensor's bytes are read in place when asked for, so converting a
 * checkpoint holds one tensor at a time, never the file. */
#include "common/zip_source.h"

#include <stdlib.h>
#include <string.h>

typedef struct zsrc_ref {
    int64_t member;  /* zip index of the record */
    uint64_t offset; /* bytes into the record */
    unsigned flags;  /* RNNCK__ZSRC_* */
} zsrc_ref;

struct rnnck__zsrc {
    rnnck__zip *z;
    char *label;
    zsrc_ref *refs;
    size_t n, cap;
};

rnnck_status rnnck__zsrc_new(rnnck__zsrc **out) {
    *out = calloc(1, sizeof **out);
    return *out ? RNNCK_OK : rnnck__oom();
}

void rnnck__zsrc_free(rnnck__zsrc *s) {
    if (!s) return;
    rnnck__zip_close(s->z);
    free(s->refs);
    free(s->label);
    free(s);
}
static void source_close(void *ctx) { rnnck__zsrc_free(ctx); }

rnnck_status rnnck__zsrc_add(rnnck__zsrc *s, int64_t member, uint64_t offset, unsigned flags, int64_t *key) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        zsrc_ref *p = realloc(s->refs, cap * sizeof *p);
        if (!p) return rnnck__oom();
        s->refs = p;
        s->cap = cap;
    }
    s->refs[s->n] = (zsrc_ref){member, offset, flags};
    *key = (int64_t)s->n++;
    return RNNCK_OK;
}

void rnnck__swap_bytes(unsigned char *p, size_t n, size_t es) {
    for (size_t i = 0; i + es <= n; i += es)
        for (size_t a = 0, b = es - 1; a < b; a++, b--) {
            unsigned char t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* .npy data: byte order, Fortran order and bool validity, as npy.c does for
 * a whole file, on a tensor header lent the destination buffer. */
static rnnck_status finish_npy(const rnnck_tensor *t, unsigned flags, void *dst, size_t nbytes, const char *what) {
    rnnck_storage s = {1, dst, nbytes};
    rnnck_tensor view = *t;
    view.storage = &s;
    view.offset = 0;
    rnnck__npy_header h;
    memset(&h, 0, sizeof h);
    h.swap = (flags & RNNCK__ZSRC_SWAP) != 0;
    h.fortran = (flags & RNNCK__ZSRC_FORTRAN) != 0;
    return rnnck__npy_finish(&view, &h, what);
}

static rnnck_status source_read(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes) {
    rnnck__zsrc *s = ctx;
    if (t->source_key < 0 || (uint64_t)t->source_key >= s->n)
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s has no record", s->label, rnnck_tensor_name(t));
    if (nbytes != rnnck_tensor_nbytes(t))
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: read of %zu bytes, tensor has %zu", s->label, rnnck_tensor_name(t),
                          nbytes, rnnck_tensor_nbytes(t));
    const zsrc_ref *r = &s->refs[t->source_key];
    rnnck_status st = rnnck__zip_read_range(s->z, r->member, r->offset, dst, nbytes);
    if (st) return st;
    if (r->flags & RNNCK__ZSRC_NPY) {
        char what[600];
        snprintf(what, sizeof what, "%s: %s", s->label, rnnck__zip_name(s->z, r->member));
        return finish_npy(t, r->flags, dst, nbytes, what);
    }
    if (r->flags & RNNCK__ZSRC_SWAP) rnnck__swap_bytes(dst, nbytes, rnnck_dtype_size(t->dtype));
    return RNNCK_OK;
}

/* Bytes that need no fix-up, in a stored record: where they lie. */
static rnnck_status source_locate(void *ctx, const rnnck_tensor *t, int *fd, uint64_t *offset, bool *check_due) {
    rnnck__zsrc *s = ctx;
    if (t->source_key < 0 || (uint64_t)t->source_key >= s->n) return RNNCK_E_UNSUPPORTED;
    const zsrc_ref *r = &s->refs[t->source_key];
    if (r->flags || !rnnck__zip_is_stored(s->z, r->member)) return RNNCK_E_UNSUPPORTED;
    return rnnck__zip_locate(s->z, r->member, r->offset, rnnck_tensor_nbytes(t), fd, offset, check_due);
}

static rnnck_status source_check(void *ctx, const rnnck_tensor *t, uint32_t crc) {
    rnnck__zsrc *s = ctx;
    return rnnck__zip_check_crc(s->z, s->refs[t->source_key].member, crc);
}

static const rnnck_source_ops source_ops = {
    .read = source_read, .close = source_close, .locate = source_locate, .check = source_check};

rnnck_status rnnck__zsrc_attach(rnnck_model *m, rnnck__zsrc *s, rnnck__zip *z, const char *label) {
    s->label = rnnck__strdup(label);
    if (!s->label) return rnnck__oom();
    s->z = z;
    rnnck__model_set_source(m, &source_ops, s);
    return RNNCK_OK;
}
