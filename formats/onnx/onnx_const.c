/* Constant values of an ONNX graph: initializers, Constant nodes, and the
 * exact folding of the byte-moving ops exporters put between a weight and its
 * recurrent node (torch.onnx.export without constant folding reorders gates
 * with Slice + Concat + Unsqueeze). Anything else is "not constant" and the
 * caller refuses the weight. */
#include "onnx/onnx_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct fold {
    const rnnck__onnx_ctx *ctx;
    const char *who;
    int depth;
    long steps; /* values resolved so far: a DAG reusing a value must not blow up */
} fold;
#define MAX_FOLD_STEPS 100000

static rnnck_status resolve(fold *f, const rnnck__onnx_scope *scope, const char *name, rnnck_tensor **out);

static const char *nname(const Onnx__NodeProto *n) {
    return n->name && *n->name ? n->name : (n->n_output && n->output[0] ? n->output[0] : "(unnamed)");
}

static rnnck_status fold_err(fold *f, const Onnx__NodeProto *n, const char *what) {
    return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: computed by %s node '%.200s': %s", f->ctx->file, f->who,
                      n->op_type ? n->op_type : "?", nname(n), what);
}

static rnnck_status ints_of(fold *f, const rnnck__onnx_scope *scope, const char *name, int64_t *vals, size_t max,
                            size_t *count) {
    rnnck_tensor *t;
    rnnck_status st = resolve(f, scope, name, &t);
    if (st) return st;
    rnnck_dtype dt = rnnck_tensor_dtype(t);
    int64_t n = rnnck_tensor_numel(t);
    if ((dt != RNNCK_I64 && dt != RNNCK_I32) || rnnck_tensor_ndim(t) > 1 || n > (int64_t)max) {
        rnnck_tensor_free(t);
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: '%.200s' is not a short list of integers", f->ctx->file,
                          f->who, name);
    }
    const void *d = rnnck_tensor_cdata(t);
    for (int64_t i = 0; i < n; i++) {
        if (dt == RNNCK_I64) memcpy(&vals[i], (const int64_t *)d + i, 8);
        else {
            int32_t v;
            memcpy(&v, (const int32_t *)d + i, 4);
            vals[i] = v;
        }
    }
    *count = (size_t)n;
    rnnck_tensor_free(t);
    return RNNCK_OK;
}

/* Integer list from input `idx` if present, else from attribute `attr`. */
static rnnck_status ints_arg(fold *f, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n, size_t idx,
                             const char *attr, int64_t *vals, size_t max, size_t *count, bool *given) {
    *given = false;
    if (idx < n->n_input && n->input[idx] && *n->input[idx]) {
        *given = true;
        return ints_of(f, scope, n->input[idx], vals, max, count);
    }
    const Onnx__AttributeProto *a = rnnck__onnx_attr(n, attr);
    if (!a) return RNNCK_OK;
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS || a->n_ints > max)
        return fold_err(f, n, "attribute is not a short INTS list");
    memcpy(vals, a->ints, a->n_ints * sizeof *vals);
    *count = a->n_ints;
    *given = true;
    return RNNCK_OK;
}

/* New tensor of t's dtype and data with another shape (same numel). */
static rnnck_status reshaped(rnnck_tensor *t, int ndim, const int64_t *shape, rnnck_tensor **out) {
    return rnnck_tensor_from_data(rnnck_tensor_dtype(t), ndim, shape, rnnck_tensor_cdata(t), rnnck_tensor_nbytes(t),
                                  out);
}

static rnnck_status fold_concat(fold *f, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n,
                                rnnck_tensor **out) {
    const Onnx__AttributeProto *a = rnnck__onnx_attr(n, "axis");
    if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT || n->n_input < 1 || n->n_input > 4096)
        return fold_err(f, n, "no INT axis or no inputs");
    rnnck_tensor **parts = calloc(n->n_input, sizeof *parts);
    if (!parts) return rnnck__oom();
    rnnck_status st = RNNCK_OK;
    size_t total = 0; /* the parts are bounded as they arrive, not only their result */
    for (size_t i = 0; i < n->n_input && !st; i++) {
        st = resolve(f, scope, n->input[i], &parts[i]);
        if (!st && (rnnck__add_overflow_size(total, rnnck_tensor_nbytes(parts[i]), &total) ||
                    total > (size_t)f->ctx->limits.max_tensor_bytes))
            st = fold_err(f, n, "inputs over the tensor size limit");
    }
    int nd = st ? 0 : rnnck_tensor_ndim(parts[0]);
    int64_t axis = a->i < 0 ? a->i + nd : a->i;
    if (!st && (axis < 0 || axis >= nd)) st = fold_err(f, n, "axis out of range");
    int64_t shape[RNNCK_MAX_DIMS];
    size_t es = st ? 0 : rnnck_dtype_size(rnnck_tensor_dtype(parts[0]));
    for (int d = 0; !st && d < nd; d++) shape[d] = rnnck_tensor_dim(parts[0], d);
    if (!st) shape[axis] = 0;
    for (size_t i = 0; i < n->n_input && !st; i++) {
        if (rnnck_tensor_dtype(parts[i]) != rnnck_tensor_dtype(parts[0]) || rnnck_tensor_ndim(parts[i]) != nd) {
            st = fold_err(f, n, "inputs differ in dtype or rank");
            break;
        }
        for (int d = 0; d < nd; d++)
            if (d != axis && rnnck_tensor_dim(parts[i], d) != rnnck_tensor_dim(parts[0], d))
                st = fold_err(f, n, "inputs differ outside the axis");
        shape[axis] += rnnck_tensor_dim(parts[i], (int)axis);
        int64_t numel;
        if (!st && (!rnnck__shape_numel(nd, shape, &numel) ||
                    numel > f->ctx->limits.max_tensor_bytes / (int64_t)(es ? es : 1)))
            st = fold_err(f, n, "result over the tensor size limit");
    }
    rnnck_tensor *t = NULL;
    if (!st) st = rnnck_tensor_new(rnnck_tensor_dtype(parts[0]), nd, shape, &t);
    if (!st) {
        /* outer = product of dims before the axis; each part contributes
         * dim(axis) * inner elements per outer index. */
        size_t outer = 1, inner = es;
        for (int d = 0; d < axis; d++) outer *= (size_t)shape[d];
        for (int d = (int)axis + 1; d < nd; d++) inner *= (size_t)shape[d];
        unsigned char *dst = rnnck_tensor_data(t);
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < n->n_input; i++) {
                size_t chunk = (size_t)rnnck_tensor_dim(parts[i], (int)axis) * inner;
                if (chunk) memcpy(dst, (const unsigned char *)rnnck_tensor_cdata(parts[i]) + o * chunk, chunk);
                dst += chunk;
            }
    }
    for (size_t i = 0; i < n->n_input; i++) rnnck_tensor_free(parts[i]);
    free(parts);
    if (st) return st;
    *out = t;
    return RNNCK_OK;
}

static rnnck_status fold_slice(fold *f, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n,
                               rnnck_tensor **out) {
    int64_t starts[RNNCK_MAX_DIMS], ends[RNNCK_MAX_DIMS], axes[RNNCK_MAX_DIMS], steps[RNNCK_MAX_DIMS];
    size_t ns = 0, ne = 0, na = 0, nst = 0;
    bool g1, g2, g3, g4;
    if (n->n_input < 1) return fold_err(f, n, "no data input");
    rnnck_status st = ints_arg(f, scope, n, 1, "starts", starts, RNNCK_MAX_DIMS, &ns, &g1);
    if (!st) st = ints_arg(f, scope, n, 2, "ends", ends, RNNCK_MAX_DIMS, &ne, &g2);
    if (!st) st = ints_arg(f, scope, n, 3, "axes", axes, RNNCK_MAX_DIMS, &na, &g3);
    if (!st) st = ints_arg(f, scope, n, 4, "steps", steps, RNNCK_MAX_DIMS, &nst, &g4);
    if (st) return st;
    if (!g1 || !g2 || ns != ne || (g3 && na != ns) || (g4 && nst != ns)) return fold_err(f, n, "malformed starts/ends");
    for (size_t i = 0; g4 && i < nst; i++)
        if (steps[i] != 1) return fold_err(f, n, "steps other than 1 are not folded");
    rnnck_tensor *x;
    st = resolve(f, scope, n->input[0], &x);
    if (st) return st;
    int nd = rnnck_tensor_ndim(x);
    int64_t lo[RNNCK_MAX_DIMS], hi[RNNCK_MAX_DIMS], shape[RNNCK_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        lo[d] = 0;
        hi[d] = shape[d] = rnnck_tensor_dim(x, d);
    }
    bool seen[RNNCK_MAX_DIMS] = {false};
    for (size_t i = 0; i < ns && !st; i++) {
        int64_t ax = g3 ? axes[i] : (int64_t)i;
        if (ax < 0) ax += nd;
        if (ax < 0 || ax >= nd || seen[ax]) {
            st = fold_err(f, n, "axes out of range or repeated");
            break;
        }
        seen[ax] = true;
        int64_t dim = shape[ax], s = starts[i], e = ends[i];
        if (s < 0) s = s < -dim ? 0 : s + dim;
        if (e < 0) e = e < -dim ? 0 : e + dim;
        if (s > dim) s = dim;
        if (e > dim) e = dim;
        lo[ax] = s;
        hi[ax] = e < s ? s : e;
    }
    rnnck_tensor *t = NULL;
    if (!st) {
        int64_t oshape[RNNCK_MAX_DIMS];
        for (int d = 0; d < nd; d++) oshape[d] = hi[d] - lo[d];
        st = rnnck_tensor_new(rnnck_tensor_dtype(x), nd, oshape, &t);
        int64_t numel = rnnck_tensor_numel(t);
        size_t es = rnnck_dtype_size(rnnck_tensor_dtype(x));
        int64_t idx[RNNCK_MAX_DIMS] = {0};
        unsigned char *dst = st ? NULL : rnnck_tensor_data(t);
        const unsigned char *src = rnnck_tensor_cdata(x);
        for (int64_t k = 0; !st && k < numel; k++) { /* element by element: weights are small enough */
            int64_t off = 0;
            for (int d = 0; d < nd; d++) off = off * shape[d] + lo[d] + idx[d];
            memcpy(dst + (size_t)k * es, src + (size_t)off * es, es);
            for (int d = nd - 1; d >= 0; d--) {
                if (++idx[d] < oshape[d]) break;
                idx[d] = 0;
            }
        }
    }
    rnnck_tensor_free(x);
    if (st) {
        rnnck_tensor_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

/* Unsqueeze, Squeeze and Reshape change the shape only. */
static rnnck_status fold_shape_op(fold *f, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n,
                                  rnnck_tensor **out) {
    if (n->n_input < 1) return fold_err(f, n, "no data input");
    int64_t v[RNNCK_MAX_DIMS];
    size_t nv = 0;
    bool given;
    const char *op = n->op_type;
    rnnck_status st = ints_arg(f, scope, n, 1, !strcmp(op, "Reshape") ? "shape" : "axes", v, RNNCK_MAX_DIMS, &nv,
                               &given);
    if (st) return st;
    rnnck_tensor *x;
    st = resolve(f, scope, n->input[0], &x);
    if (st) return st;
    int nd = rnnck_tensor_ndim(x), od = 0;
    int64_t shape[RNNCK_MAX_DIMS];
    if (!strcmp(op, "Unsqueeze")) {
        od = nd + (int)nv;
        bool ins[RNNCK_MAX_DIMS] = {false};
        if (!given || od > RNNCK_MAX_DIMS) st = fold_err(f, n, "bad axes");
        for (size_t i = 0; !st && i < nv; i++) {
            int64_t a = v[i] < 0 ? v[i] + od : v[i];
            if (a < 0 || a >= od || ins[a]) st = fold_err(f, n, "axes out of range or repeated");
            else ins[a] = true;
        }
        for (int d = 0, k = 0; !st && d < od; d++) shape[d] = ins[d] ? 1 : rnnck_tensor_dim(x, k++);
    } else if (!strcmp(op, "Squeeze")) {
        bool drop[RNNCK_MAX_DIMS] = {false};
        for (size_t i = 0; given && !st && i < nv; i++) {
            int64_t a = v[i] < 0 ? v[i] + nd : v[i];
            if (a < 0 || a >= nd || rnnck_tensor_dim(x, (int)a) != 1) st = fold_err(f, n, "axis is not of size 1");
            else drop[a] = true;
        }
        for (int d = 0; !st && d < nd; d++)
            if (!(given ? drop[d] : rnnck_tensor_dim(x, d) == 1)) shape[od++] = rnnck_tensor_dim(x, d);
    } else { /* Reshape: 0 copies a dim (allowzero unset), -1 is inferred */
        const Onnx__AttributeProto *az = rnnck__onnx_attr(n, "allowzero");
        int64_t known = 1, infer = -1;
        od = (int)nv;
        if (!given || (az && az->i)) st = fold_err(f, n, "no shape, or allowzero");
        for (int d = 0; !st && d < od; d++) {
            shape[d] = v[d] == 0 && d < nd ? rnnck_tensor_dim(x, d) : v[d];
            if (shape[d] == -1 && infer < 0) infer = d;
            else if (shape[d] < 0 || rnnck__mul_overflow_i64(known, shape[d], &known)) st = fold_err(f, n, "bad shape");
        }
        if (!st && infer >= 0) {
            if (known == 0 || rnnck_tensor_numel(x) % known) st = fold_err(f, n, "shape does not divide the data");
            else shape[infer] = rnnck_tensor_numel(x) / known;
        }
    }
    int64_t numel;
    if (!st && (!rnnck__shape_numel(od, shape, &numel) || numel != rnnck_tensor_numel(x)))
        st = fold_err(f, n, "new shape does not hold the data");
    if (!st) st = reshaped(x, od, shape, out);
    rnnck_tensor_free(x);
    return st;
}

/* Constant node: `value` (a tensor) or the scalar/list shorthands. */
static rnnck_status constant_node(fold *f, const Onnx__NodeProto *n, rnnck_tensor **out) {
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        if (!a->name) continue;
        if (!strcmp(a->name, "value") && a->t) return rnnck__onnx_tensor_decode(f->ctx, a->t, f->who, out);
        int64_t one = 1, len;
        if (!strcmp(a->name, "value_float") && a->has_f) return rnnck_tensor_from_data(RNNCK_F32, 0, NULL, &a->f, 4, out);
        if (!strcmp(a->name, "value_int") && a->has_i) return rnnck_tensor_from_data(RNNCK_I64, 0, NULL, &a->i, 8, out);
        if (!strcmp(a->name, "value_floats")) {
            len = (int64_t)a->n_floats;
            return rnnck_tensor_from_data(RNNCK_F32, 1, &len, a->floats, 4 * a->n_floats, out);
        }
        if (!strcmp(a->name, "value_ints")) {
            len = (int64_t)a->n_ints;
            return rnnck_tensor_from_data(RNNCK_I64, 1, &len, a->ints, 8 * a->n_ints, out);
        }
        (void)one;
    }
    return fold_err(f, n, "Constant without a tensor value");
}

static rnnck_status resolve(fold *f, const rnnck__onnx_scope *scope, const char *name, rnnck_tensor **out) {
    if (!name || !*name)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: empty value name", f->ctx->file, f->who);
    if (++f->steps > MAX_FOLD_STEPS)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: folding '%.200s' takes more than %d steps", f->ctx->file,
                          f->who, name, MAX_FOLD_STEPS);
    if (++f->depth > RNNCK__ONNX_MAX_DEPTH) {
        f->depth--;
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: '%.200s' is computed by more than %d chained ops",
                          f->ctx->file, f->who, name, RNNCK__ONNX_MAX_DEPTH);
    }
    rnnck_status st = RNNCK_E_NOTFOUND;
    for (const rnnck__onnx_scope *s = scope; s && st == RNNCK_E_NOTFOUND; s = s->parent) {
        const Onnx__TensorProto *init = rnnck__onnx_initializer(s, name);
        if (init) {
            st = rnnck__onnx_tensor_decode(f->ctx, init, f->who, out);
            goto done;
        }
        const Onnx__NodeProto *n = rnnck__onnx_producer(s, name, NULL);
        if (n) {
            const char *op = n->op_type ? n->op_type : "";
            if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
                st = fold_err(f, n, "an op of another domain");
            else if (!strcmp(op, "Constant")) st = constant_node(f, n, out);
            else if (!strcmp(op, "Identity") && n->n_input == 1) st = resolve(f, s, n->input[0], out);
            else if (!strcmp(op, "Concat")) st = fold_concat(f, s, n, out);
            else if (!strcmp(op, "Slice")) st = fold_slice(f, s, n, out);
            else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Reshape"))
                st = fold_shape_op(f, s, n, out);
            else st = fold_err(f, n, "not a constant (only Identity, Slice, Concat, Squeeze, Unsqueeze and Reshape of "
                                     "constants are folded)");
            goto done;
        }
        const Onnx__GraphProto *g = s->graph; /* a refusal: searched once */
        for (size_t i = 0; i < g->n_input; i++)
            if (g->input[i]->name && !strcmp(g->input[i]->name, name)) {
                st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: '%.200s' is an input of graph '%.200s', not a constant",
                                f->ctx->file, f->who, name, g->name ? g->name : "");
                goto done;
            }
    }
    if (st == RNNCK_E_NOTFOUND)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: '%.200s' is not defined in the graph", f->ctx->file, f->who, name);
done:
    f->depth--;
    return st;
}

rnnck_status rnnck__onnx_constant(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope, const char *name,
                                  const char *who, rnnck_tensor **out) {
    fold f = {ctx, who, 0, 0};
    return resolve(&f, scope, name, out);
}

rnnck_status rnnck__onnx_const_ints(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope, const char *name,
                                    const char *who, int64_t *vals, size_t max, size_t *count) {
    fold f = {ctx, who, 0, 0};
    return ints_of(&f, scope, name, vals, max, count);
}
