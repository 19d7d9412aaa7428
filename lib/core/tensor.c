/* Strided tensors over reference-counted storage; gate-block views. */
#include "core/internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void storage_release(rnnck_storage *s) {
    if (s && --s->refcount == 0) {
        free(s->data);
        free(s);
    }
}

static rnnck_status check_shape(rnnck_dtype dtype, int ndim, const int64_t *shape, size_t *nbytes) {
    if (rnnck_dtype_size(dtype) == 0) return rnnck__err(RNNCK_E_USAGE, "invalid dtype %d", (int)dtype);
    if (ndim < 0 || ndim > RNNCK_MAX_DIMS)
        return rnnck__err(RNNCK_E_USAGE, "rank %d outside [0, %d]", ndim, RNNCK_MAX_DIMS);
    if (ndim > 0 && !shape) return rnnck__err(RNNCK_E_USAGE, "shape is NULL");
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return rnnck__err(RNNCK_E_USAGE, "dimension %d is negative (%lld)", i, (long long)shape[i]);
    int64_t numel;
    if (!rnnck__shape_numel(ndim, shape, &numel))
        return rnnck__err(RNNCK_E_NOMEM, "shape's element count overflows");
    size_t bytes;
    if ((uint64_t)numel > SIZE_MAX || rnnck__mul_overflow_size((size_t)numel, rnnck_dtype_size(dtype), &bytes))
        return rnnck__err(RNNCK_E_NOMEM, "tensor of %lld elements is too large", (long long)numel);
    *nbytes = bytes;
    return RNNCK_OK;
}

static void set_contiguous_strides(rnnck_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = s;
        s *= t->shape[i] > 0 ? t->shape[i] : 1;
    }
}

rnnck_status rnnck__tensor_new_unloaded(rnnck_dtype dtype, int ndim, const int64_t *shape,
                                        rnnck_tensor **out) {
    size_t nbytes;
    rnnck_status st = check_shape(dtype, ndim, shape, &nbytes);
    if (st) return st;
    rnnck_tensor *t = calloc(1, sizeof *t);
    if (!t) return rnnck__oom();
    t->refcount = 1;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    set_contiguous_strides(t);
    t->source_key = -1;
    *out = t;
    return RNNCK_OK;
}

/* Storage of 4 MiB or more (a model's big weights, a forward output) comes
 * fresh from mmap and is touched first by whatever fills it: reading a file
 * into it, the forward pass. Where Linux has transparent huge pages on
 * request ("madvise"), asking for them on the 2 MiB-aligned interior makes
 * that one page fault per 2 MiB instead of per 4 KiB (the `rnnck forward`
 * command took 16,000 faults for a 28 MB model). A hint only: failure
 * changes nothing, and free() releases the memory as before. The forward
 * pass's workspaces use it too (forward_kernel.h). */
void rnnck__advise_huge_pages(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    if (n < 2 * huge) return;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + n) & ~(huge - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p, (void)n;
#endif
}

rnnck_status rnnck__tensor_alloc_storage(rnnck_tensor *t) {
    size_t nbytes = rnnck_tensor_nbytes(t);
    rnnck_storage *s = calloc(1, sizeof *s);
    if (!s) return rnnck__oom();
    /* calloc(0) may return NULL; always allocate at least one byte. */
    s->data = calloc(nbytes ? nbytes : 1, 1);
    if (!s->data) {
        free(s);
        return rnnck__err(RNNCK_E_NOMEM, "cannot allocate %zu bytes", nbytes);
    }
    rnnck__advise_huge_pages(s->data, nbytes);
    s->nbytes = nbytes;
    s->refcount = 1;
    t->storage = s;
    t->offset = 0;
    return RNNCK_OK;
}

rnnck_status rnnck_tensor_new(rnnck_dtype dtype, int ndim, const int64_t *shape, rnnck_tensor **out) {
    rnnck__err_clear();
    if (!out) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_new: out is NULL");
    rnnck_tensor *t;
    rnnck_status st = rnnck__tensor_new_unloaded(dtype, ndim, shape, &t);
    if (st) return st;
    st = rnnck__tensor_alloc_storage(t);
    if (st) {
        free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

rnnck_status rnnck_tensor_from_data(rnnck_dtype dtype, int ndim, const int64_t *shape, const void *src,
                                    size_t src_bytes, rnnck_tensor **out) {
    if (!src && src_bytes) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_from_data: src is NULL");
    rnnck_tensor *t;
    rnnck_status st = rnnck_tensor_new(dtype, ndim, shape, &t);
    if (st) return st;
    if (src_bytes != rnnck_tensor_nbytes(t)) {
        size_t want = rnnck_tensor_nbytes(t);
        rnnck_tensor_free(t);
        return rnnck__err(RNNCK_E_SHAPE, "data has %zu bytes, shape and dtype need %zu", src_bytes, want);
    }
    if (src_bytes) memcpy(t->storage->data, src, src_bytes);
    *out = t;
    return RNNCK_OK;
}

rnnck_tensor *rnnck__tensor_ref(rnnck_tensor *t) {
    t->refcount++;
    return t;
}

void rnnck_tensor_free(rnnck_tensor *t) {
    if (!t || --t->refcount > 0) return;
    storage_release(t->storage);
    free(t->name);
    free(t);
}

rnnck_dtype rnnck_tensor_dtype(const rnnck_tensor *t) { return t ? t->dtype : RNNCK_DTYPE_INVALID; }
int rnnck_tensor_ndim(const rnnck_tensor *t) { return t ? t->ndim : 0; }
int64_t rnnck_tensor_dim(const rnnck_tensor *t, int i) {
    return (t && i >= 0 && i < t->ndim) ? t->shape[i] : -1;
}
int64_t rnnck_tensor_stride(const rnnck_tensor *t, int i) {
    return (t && i >= 0 && i < t->ndim) ? t->stride[i] : 0;
}
int64_t rnnck_tensor_numel(const rnnck_tensor *t) {
    int64_t n = 0;
    if (t) rnnck__shape_numel(t->ndim, t->shape, &n);
    return n;
}
size_t rnnck_tensor_nbytes(const rnnck_tensor *t) {
    return t ? (size_t)rnnck_tensor_numel(t) * rnnck_dtype_size(t->dtype) : 0;
}
int rnnck_tensor_is_contiguous(const rnnck_tensor *t) {
    if (!t) return 0;
    if (rnnck_tensor_numel(t) == 0) return 1; /* nothing to lay out */
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}
void *rnnck_tensor_data(rnnck_tensor *t) {
    return (t && t->storage) ? (char *)t->storage->data + t->offset : NULL;
}
const void *rnnck_tensor_cdata(const rnnck_tensor *t) {
    return (t && t->storage) ? (const char *)t->storage->data + t->offset : NULL;
}
const char *rnnck_tensor_name(const rnnck_tensor *t) { return (t && t->name) ? t->name : ""; }

rnnck_status rnnck_tensor_block(rnnck_tensor *t, int count, int index, rnnck_tensor **out) {
    rnnck__err_clear();
    if (!t || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_block: NULL argument");
    if (t->ndim < 1) return rnnck__err(RNNCK_E_USAGE, "cannot take blocks of a scalar");
    if (!t->storage) return rnnck__err(RNNCK_E_USAGE, "tensor %s is not loaded", rnnck_tensor_name(t));
    if (count < 1 || index < 0 || index >= count || t->shape[0] % count != 0)
        return rnnck__err(RNNCK_E_USAGE, "block %d of %d: dimension 0 of %s is %lld", index, count,
                          rnnck_tensor_name(t), (long long)t->shape[0]);
    rnnck_tensor *v = calloc(1, sizeof *v);
    if (!v) return rnnck__oom();
    *v = *t;
    v->refcount = 1;
    v->name = NULL;
    v->source_key = -1;
    v->shape[0] = t->shape[0] / count;
    v->offset = t->offset + (size_t)(index * v->shape[0] * t->stride[0]) * rnnck_dtype_size(t->dtype);
    v->storage->refcount++;
    *out = v;
    return RNNCK_OK;
}

/* Calls fn(user, linear_index, element_offset) for every element in C order. */
typedef void (*elem_fn)(void *user, int64_t linear, int64_t offset);
static void for_each_element(const rnnck_tensor *t, elem_fn fn, void *user) {
    int64_t numel = rnnck_tensor_numel(t);
    int64_t idx[RNNCK_MAX_DIMS] = {0};
    int64_t off = 0;
    for (int64_t n = 0; n < numel; n++) {
        fn(user, n, off);
        for (int d = t->ndim - 1; d >= 0; d--) {
            idx[d]++;
            off += t->stride[d];
            if (idx[d] < t->shape[d]) break;
            off -= t->stride[d] * t->shape[d];
            idx[d] = 0;
        }
    }
}

struct copy_ctx {
    const rnnck_tensor *src;
    const void *src_base;
    rnnck_dtype dst_dtype;
    void *dst;
};
static void copy_elem(void *user, int64_t linear, int64_t offset) {
    struct copy_ctx *c = user;
    rnnck__store_double(c->dst_dtype, c->dst, linear,
                        rnnck__load_as_double(c->src->dtype, c->src_base, offset));
}

rnnck_status rnnck_tensor_copy_out(const rnnck_tensor *t, rnnck_dtype dtype, void *dst, size_t dst_bytes) {
    rnnck__err_clear();
    if (!t || (!dst && dst_bytes)) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_copy_out: NULL argument");
    if (!t->storage) return rnnck__err(RNNCK_E_USAGE, "tensor %s is not loaded", rnnck_tensor_name(t));
    if (rnnck_dtype_size(dtype) == 0) return rnnck__err(RNNCK_E_USAGE, "invalid dtype");
    if (rnnck_dtype_is_float(t->dtype) && !rnnck_dtype_is_float(dtype))
        return rnnck__err(RNNCK_E_USAGE, "refusing to convert %s to %s", rnnck_dtype_name(t->dtype),
                          rnnck_dtype_name(dtype));
    size_t want = (size_t)rnnck_tensor_numel(t) * rnnck_dtype_size(dtype);
    if (dst_bytes != want)
        return rnnck__err(RNNCK_E_SHAPE, "destination has %zu bytes, tensor %s needs %zu", dst_bytes,
                          rnnck_tensor_name(t), want);
    if (dtype == t->dtype && rnnck_tensor_is_contiguous(t)) {
        if (want) memcpy(dst, rnnck_tensor_cdata(t), want);
        return RNNCK_OK;
    }
    struct copy_ctx c = {t, rnnck_tensor_cdata(t), dtype, dst};
    for_each_element(t, copy_elem, &c);
    return RNNCK_OK;
}

rnnck_status rnnck_tensor_clone(const rnnck_tensor *t, rnnck_dtype dtype, rnnck_tensor **out) {
    rnnck__err_clear();
    if (!t || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_clone: NULL argument");
    rnnck_tensor *c;
    rnnck_status st = rnnck_tensor_new(dtype, t->ndim, t->shape, &c);
    if (st) return st;
    st = rnnck_tensor_copy_out(t, dtype, rnnck_tensor_data(c), rnnck_tensor_nbytes(c));
    if (st) {
        rnnck_tensor_free(c);
        return st;
    }
    *out = c;
    return RNNCK_OK;
}

struct assign_ctx {
    rnnck_tensor *dst;
    void *dst_base;
    const double *vals;
};
static void assign_elem(void *user, int64_t linear, int64_t offset) {
    struct assign_ctx *a = user;
    rnnck__store_double(a->dst->dtype, a->dst_base, offset, a->vals[linear]);
}

rnnck_status rnnck_tensor_assign(rnnck_tensor *t, const rnnck_tensor *src) {
    rnnck__err_clear();
    if (!t || !src) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_assign: NULL argument");
    if (!t->storage || !src->storage) return rnnck__err(RNNCK_E_USAGE, "tensor is not loaded");
    if (t->ndim != src->ndim || memcmp(t->shape, src->shape, sizeof(int64_t) * (size_t)t->ndim) != 0) {
        char a[128], b[128];
        return rnnck__err(RNNCK_E_SHAPE, "cannot assign shape %s to shape %s",
                          rnnck__shape_str(src->ndim, src->shape, b, sizeof b),
                          rnnck__shape_str(t->ndim, t->shape, a, sizeof a));
    }
    if (rnnck_dtype_is_float(src->dtype) && !rnnck_dtype_is_float(t->dtype))
        return rnnck__err(RNNCK_E_USAGE, "refusing to assign %s values to a %s tensor",
                          rnnck_dtype_name(src->dtype), rnnck_dtype_name(t->dtype));
    /* Gather the source into doubles first: this is correct even when the two
     * tensors overlap in memory (views of one storage). */
    int64_t n = rnnck_tensor_numel(src);
    double *vals = malloc((size_t)(n ? n : 1) * sizeof *vals);
    if (!vals) return rnnck__oom();
    rnnck_status st = rnnck_tensor_copy_out(src, RNNCK_F64, vals, (size_t)n * sizeof *vals);
    if (st) {
        free(vals);
        return st;
    }
    struct assign_ctx a = {t, rnnck_tensor_data(t), vals};
    for_each_element(t, assign_elem, &a);
    free(vals);
    return RNNCK_OK;
}

struct stats_ctx {
    const rnnck_tensor *t;
    const void *base;
    double min, max, sum, sumsq;
    int64_t finite, nonfinite;
};
static void stats_elem(void *user, int64_t linear, int64_t offset) {
    (void)linear;
    struct stats_ctx *s = user;
    double v = rnnck__load_as_double(s->t->dtype, s->base, offset);
    if (!isfinite(v)) {
        s->nonfinite++;
        return;
    }
    if (s->finite == 0 || v < s->min) s->min = v;
    if (s->finite == 0 || v > s->max) s->max = v;
    s->sum += v;
    s->finite++;
}
static void var_elem(void *user, int64_t linear, int64_t offset) {
    (void)linear;
    struct stats_ctx *s = user;
    double v = rnnck__load_as_double(s->t->dtype, s->base, offset);
    if (isfinite(v)) {
        double d = v - s->sum / (double)s->finite;
        s->sumsq += d * d;
    }
}

rnnck_status rnnck_tensor_stats(const rnnck_tensor *t, double *min, double *max, double *mean, double *std,
                                int64_t *nonfinite_count) {
    rnnck__err_clear();
    if (!t) return rnnck__err(RNNCK_E_USAGE, "rnnck_tensor_stats: NULL tensor");
    if (!t->storage) return rnnck__err(RNNCK_E_USAGE, "tensor %s is not loaded", rnnck_tensor_name(t));
    struct stats_ctx s = {t, rnnck_tensor_cdata(t), 0, 0, 0, 0, 0, 0};
    for_each_element(t, stats_elem, &s);
    if (s.finite) for_each_element(t, var_elem, &s); /* two-pass: numerically stable */
    if (min) *min = s.finite ? s.min : NAN;
    if (max) *max = s.finite ? s.max : NAN;
    if (mean) *mean = s.finite ? s.sum / (double)s.finite : NAN;
    if (std) *std = s.finite ? sqrt(s.sumsq / (double)s.finite) : NAN;
    if (nonfinite_count) *nonfinite_count = s.nonfinite;
    return RNNCK_OK;
}
