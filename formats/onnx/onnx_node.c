/* One ONNX LSTM / GRU / RNN node -> a one-layer rnnck module description and
 * its constant W, R, B, P, every attribute and shape checked (ONNX operator
 * specification, opsets 7-22: onnx/defs/rnn/defs.cc). */
#include "onnx/onnx_node.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool rnnck__onnx_act_needs_alpha(rnnck_act_kind k) {
    return k == RNNCK_ACT_AFFINE || k == RNNCK_ACT_LEAKY_RELU || k == RNNCK_ACT_THRESHOLDED_RELU ||
           k == RNNCK_ACT_SCALED_TANH || k == RNNCK_ACT_HARD_SIGMOID || k == RNNCK_ACT_ELU;
}
bool rnnck__onnx_act_needs_beta(rnnck_act_kind k) {
    return k == RNNCK_ACT_AFFINE || k == RNNCK_ACT_SCALED_TANH || k == RNNCK_ACT_HARD_SIGMOID;
}

/* Defaults of the activation's own ONNX operator where ONNX Runtime uses the
 * same (LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1.0); NAN where the runtimes
 * disagree or the operator has none (Affine, ScaledTanh, ThresholdedRelu):
 * such a value must be given. */
static double default_alpha(rnnck_act_kind k) {
    return k == RNNCK_ACT_LEAKY_RELU ? 0.01f : k == RNNCK_ACT_HARD_SIGMOID ? 0.2f : k == RNNCK_ACT_ELU ? 1.0 : NAN;
}
static double default_beta(rnnck_act_kind k) { return k == RNNCK_ACT_HARD_SIGMOID ? 0.5 : NAN; }

static rnnck_act_kind act_from_onnx(const ProtobufCBinaryData *s) {
    char low[32], name[32];
    if (s->len == 0 || s->len >= sizeof low) return RNNCK_ACT_COUNT_;
    for (size_t i = 0; i < s->len; i++) low[i] = (char)tolower(s->data[i]);
    low[s->len] = 0;
    for (int k = 0; k < RNNCK_ACT_COUNT_; k++) { /* ONNX Runtime compares case-insensitively */
        const char *n = rnnck_act_name((rnnck_act_kind)k);
        size_t j = 0;
        for (; n[j] && j < sizeof name - 1; j++) name[j] = (char)tolower((unsigned char)n[j]);
        name[j] = 0;
        if (!strcmp(low, name)) return (rnnck_act_kind)k;
    }
    return RNNCK_ACT_COUNT_;
}

static const char *type_name(Onnx__AttributeProto__AttributeType t) {
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS";
    default: return "another type";
    }
}

const char *rnnck__onnx_node_label(const Onnx__NodeProto *n) {
    return n->name && *n->name ? n->name : (n->n_output && n->output[0] && *n->output[0] ? n->output[0] : "(unnamed)");
}

/* " (in If_0.then_branch)" for a node of a subgraph, else "". */
static const char *where(const rnnck__onnx_scope *scope, char *buf, size_t cap) {
    if (!scope || !scope->path || !*scope->path) return "";
    snprintf(buf, cap, " (in %.200s)", scope->path);
    return buf;
}

#define NODE_ERR(st, ...) node_err(ctx, r->scope, n, st, __VA_ARGS__)
static rnnck_status node_err(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n,
                             rnnck_status st, const char *fmt, ...) RNNCK_PRINTF(5, 6);
static rnnck_status node_err(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n,
                             rnnck_status st, const char *fmt, ...) {
    char in[240];
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rnnck__err(st, "%s: %s node '%.200s'%s: %s", ctx->file, n->op_type, rnnck__onnx_node_label(n),
                      where(scope, in, sizeof in), msg);
}

static rnnck_status want_type(const rnnck__onnx_ctx *ctx, const rnnck__onnx_rnode *r, const Onnx__NodeProto *n,
                              const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t) {
    if (a->type == t) return RNNCK_OK;
    return NODE_ERR(RNNCK_E_FORMAT, "attribute %.60s has type %s, expected %s", a->name, type_name(a->type),
                    type_name(t));
}

/* Attributes of the node into r (before the weights are known). */
static rnnck_status read_attributes(const rnnck__onnx_ctx *ctx, const Onnx__NodeProto *n, rnnck__onnx_rnode *r,
                                    const Onnx__AttributeProto **acts, const Onnx__AttributeProto **alpha,
                                    const Onnx__AttributeProto **beta) {
    typedef Onnx__AttributeProto__AttributeType T;
    const T I = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, F = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT,
            S = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, SS = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS,
            FF = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    rnnck_cell cell = r->info.cell;
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        const char *nm = a->name ? a->name : "";
        rnnck_status st = RNNCK_OK;
        if (!strcmp(nm, "hidden_size")) {
            if (!(st = want_type(ctx, r, n, a, I))) {
                if (a->i < 1 || a->i > RNNCK__MAX_SIZE)
                    return NODE_ERR(RNNCK_E_FORMAT, "hidden_size %lld is not in [1, 2^31]", (long long)a->i);
                r->hidden_attr = a->i;
            }
        } else if (!strcmp(nm, "direction")) {
            if (!(st = want_type(ctx, r, n, a, S))) {
                const char *v = (const char *)a->s.data;
                size_t len = a->s.len;
                if (len == 7 && !memcmp(v, "forward", 7)) r->dirs = 1;
                else if (len == 7 && !memcmp(v, "reverse", 7)) r->dirs = 1, r->reverse_only = 1;
                else if (len == 13 && !memcmp(v, "bidirectional", 13)) r->dirs = 2;
                else return NODE_ERR(RNNCK_E_FORMAT, "direction '%.*s' is not forward, reverse or bidirectional",
                                     (int)(len > 40 ? 40 : len), v ? v : "");
            }
        } else if (!strcmp(nm, "activations")) {
            if (!(st = want_type(ctx, r, n, a, SS))) *acts = a;
        } else if (!strcmp(nm, "activation_alpha")) {
            if (!(st = want_type(ctx, r, n, a, FF))) *alpha = a;
        } else if (!strcmp(nm, "activation_beta")) {
            if (!(st = want_type(ctx, r, n, a, FF))) *beta = a;
        } else if (!strcmp(nm, "clip")) {
            if (!(st = want_type(ctx, r, n, a, F))) {
                if (!(a->f > 0) || !isfinite(a->f))
                    return NODE_ERR(RNNCK_E_FORMAT, "clip %g is not a positive finite threshold", (double)a->f);
                r->info.clip = a->f;
            }
        } else if (!strcmp(nm, "input_forget") && cell == RNNCK_CELL_LSTM) {
            if (!(st = want_type(ctx, r, n, a, I))) {
                if ((uint64_t)a->i > 1) return NODE_ERR(RNNCK_E_FORMAT, "input_forget %lld is not 0 or 1", (long long)a->i);
                r->info.input_forget = (int)a->i;
            }
        } else if (!strcmp(nm, "linear_before_reset") && cell == RNNCK_CELL_GRU) {
            if (!(st = want_type(ctx, r, n, a, I))) {
                if ((uint64_t)a->i > 1)
                    return NODE_ERR(RNNCK_E_FORMAT, "linear_before_reset %lld is not 0 or 1", (long long)a->i);
                r->info.linear_before_reset = (int)a->i;
            }
        } else if (!strcmp(nm, "layout")) {
            if (!(st = want_type(ctx, r, n, a, I))) {
                if ((uint64_t)a->i > 1) return NODE_ERR(RNNCK_E_FORMAT, "layout %lld is not 0 or 1", (long long)a->i);
                r->info.batch_first = (int)a->i;
            }
        } else if (!strcmp(nm, "output_sequence")) {
            /* opset 1: whether Y is produced; no effect on the weights */
        } else {
            return NODE_ERR(RNNCK_E_UNSUPPORTED, "attribute '%.60s' is not understood", nm);
        }
        if (st) return st;
    }
    return RNNCK_OK;
}

/* activations / activation_alpha / activation_beta into r->info.act, consumed
 * as ONNX Runtime does: in order, each value going to the next activation
 * that takes one. */
static rnnck_status read_activations(const rnnck__onnx_ctx *ctx, const Onnx__NodeProto *n, rnnck__onnx_rnode *r,
                                     const Onnx__AttributeProto *acts, const Onnx__AttributeProto *alpha,
                                     const Onnx__AttributeProto *beta) {
    int slots = r->info.cell == RNNCK_CELL_LSTM ? 3 : r->info.cell == RNNCK_CELL_GRU ? 2 : 1;
    if (!acts) {
        if ((alpha && alpha->n_floats) || (beta && beta->n_floats))
            return NODE_ERR(RNNCK_E_FORMAT, "activation_alpha/beta without activations");
        return RNNCK_OK;
    }
    if (acts->n_strings != (size_t)(slots * r->dirs))
        return NODE_ERR(RNNCK_E_FORMAT, "activations lists %zu functions, expected %d (%d per direction)",
                        acts->n_strings, slots * r->dirs, slots);
    size_t ia = 0, ib = 0, na = alpha ? alpha->n_floats : 0, nb = beta ? beta->n_floats : 0;
    for (int d = 0; d < r->dirs; d++)
        for (int s = 0; s < slots; s++) {
            const ProtobufCBinaryData *nm = &acts->strings[d * slots + s];
            rnnck_act_kind k = act_from_onnx(nm);
            if (k == RNNCK_ACT_COUNT_)
                return NODE_ERR(RNNCK_E_UNSUPPORTED, "unknown activation '%.*s' in activations[%d]",
                                (int)(nm->len > 40 ? 40 : nm->len), nm->data ? (const char *)nm->data : "",
                                d * slots + s);
            rnnck_activation a = {k, 0, 0};
            if (rnnck__onnx_act_needs_alpha(k)) a.alpha = ia < na ? alpha->floats[ia++] : default_alpha(k);
            if (rnnck__onnx_act_needs_beta(k)) a.beta = ib < nb ? beta->floats[ib++] : default_beta(k);
            if (isnan(a.alpha) || isnan(a.beta) || !isfinite(a.alpha) || !isfinite(a.beta))
                return NODE_ERR(RNNCK_E_UNSUPPORTED, "activation %s in activations[%d] has no (finite) alpha/beta "
                                "given, and runtimes disagree on its default", rnnck_act_name(k), d * slots + s);
            r->info.act[d][s] = a;
        }
    if (ia != na || ib != nb)
        return NODE_ERR(RNNCK_E_FORMAT, "activation_alpha has %zu values and activation_beta %zu, but the activations "
                        "take %zu and %zu (values are consumed in order by the functions that use them)", na, nb, ia, ib);
    if (r->dirs == 1)
        for (int s = 0; s < slots; s++) r->info.act[1][s] = r->info.act[0][s];
    return RNNCK_OK;
}

static rnnck_status get_weight(const rnnck__onnx_ctx *ctx, const rnnck__onnx_rnode *r, const Onnx__NodeProto *n,
                               size_t idx, const char *what, bool required, rnnck_tensor **out) {
    *out = NULL;
    if (idx >= n->n_input || !n->input[idx] || !*n->input[idx]) {
        if (required) return NODE_ERR(RNNCK_E_FORMAT, "input %s is missing", what);
        return RNNCK_OK;
    }
    char who[560], in[240];
    snprintf(who, sizeof who, "%s node '%.200s'%s input %s", n->op_type, rnnck__onnx_node_label(n),
             where(r->scope, in, sizeof in), what);
    return rnnck__onnx_constant(ctx, r->scope, n->input[idx], who, out);
}

static rnnck_status check_shape(const rnnck__onnx_ctx *ctx, const rnnck__onnx_rnode *r, const Onnx__NodeProto *n,
                                const char *what,
                                const rnnck_tensor *t, rnnck_dtype dt, int nd, const int64_t *want) {
    char got[160], exp[160];
    int64_t shape[RNNCK_MAX_DIMS];
    int tn = rnnck_tensor_ndim(t);
    for (int i = 0; i < tn; i++) shape[i] = rnnck_tensor_dim(t, i);
    bool ok = tn == nd;
    for (int i = 0; ok && i < nd; i++) ok = shape[i] == want[i];
    if (!ok)
        return NODE_ERR(RNNCK_E_FORMAT, "input %s has shape %s, expected %s", what, rnnck__shape_str(tn, shape, got, 160),
                        rnnck__shape_str(nd, want, exp, 160));
    if (rnnck_tensor_dtype(t) != dt)
        return NODE_ERR(RNNCK_E_FORMAT, "input %s is %s but W is %s", what, rnnck_dtype_name(rnnck_tensor_dtype(t)),
                        rnnck_dtype_name(dt));
    return RNNCK_OK;
}

rnnck_status rnnck__onnx_read_node(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope,
                                   const Onnx__NodeProto *n, rnnck__onnx_rnode *r) {
    memset(r, 0, sizeof *r);
    r->node = n;
    r->scope = scope;
    rnnck_cell cell = !strcmp(n->op_type, "LSTM") ? RNNCK_CELL_LSTM
                      : !strcmp(n->op_type, "GRU") ? RNNCK_CELL_GRU : RNNCK_CELL_RNN_TANH;
    rnnck_module_info_init(&r->info, cell);
    /* ONNX defaults differ from PyTorch's: RNN is Tanh, GRU's reset comes
     * before the recurrent product (linear_before_reset = 0). */
    if (cell == RNNCK_CELL_GRU) r->info.linear_before_reset = 0;
    r->dirs = 1;
    const Onnx__AttributeProto *acts = NULL, *alpha = NULL, *beta = NULL;
    rnnck_status st = read_attributes(ctx, n, r, &acts, &alpha, &beta);
    if (!st) st = read_activations(ctx, n, r, acts, alpha, beta);
    if (st) return st;
    if (cell == RNNCK_CELL_RNN_TANH && r->info.act[0][0].kind == RNNCK_ACT_RELU) {
        r->info.cell = RNNCK_CELL_RNN_RELU;
        cell = RNNCK_CELL_RNN_RELU;
    }
    st = get_weight(ctx, r, n, 1, "W", true, &r->W);
    if (!st) st = get_weight(ctx, r, n, 2, "R", true, &r->R);
    if (!st) st = get_weight(ctx, r, n, 3, "B", false, &r->B);
    if (!st && r->info.cell == RNNCK_CELL_LSTM) st = get_weight(ctx, r, n, 7, "P", false, &r->P);
    if (st) return st;
    rnnck_dtype dt = rnnck_tensor_dtype(r->W);
    if (!rnnck_dtype_is_float(dt))
        return NODE_ERR(RNNCK_E_FORMAT, "input W is %s, not a float type", rnnck_dtype_name(dt));
    int64_t G = rnnck_cell_gates(cell), D = r->dirs;
    if (rnnck_tensor_ndim(r->W) != 3 || rnnck_tensor_dim(r->W, 0) != D || rnnck_tensor_dim(r->W, 1) % G ||
        rnnck_tensor_dim(r->W, 1) < G || rnnck_tensor_dim(r->W, 2) < 1)
        return NODE_ERR(RNNCK_E_FORMAT, "input W must be [%lld, %lld*hidden_size, input_size]", (long long)D,
                        (long long)G);
    int64_t H = r->hidden_attr ? r->hidden_attr : rnnck_tensor_dim(r->W, 1) / G;
    int64_t I = rnnck_tensor_dim(r->W, 2);
    int64_t w[3] = {D, G * H, I}, rr[3] = {D, G * H, H}, b[2] = {D, 2 * G * H}, p[2] = {D, 3 * H};
    st = check_shape(ctx, r, n, "W", r->W, dt, 3, w);
    if (!st) st = check_shape(ctx, r, n, "R", r->R, dt, 3, rr);
    if (!st && r->B) st = check_shape(ctx, r, n, "B", r->B, dt, 2, b);
    if (!st && r->P) st = check_shape(ctx, r, n, "P", r->P, dt, 2, p);
    if (st) return st;
    r->info.input_size = I;
    r->info.hidden_size = H;
    r->info.bidirectional = D == 2;
    r->info.bias = r->B != NULL;
    r->info.peepholes = r->P != NULL;
    r->info.dtype = dt;
    /* direction="reverse": schema 1.1's reverse-only module; ONNX's Y keeps
     * each output at its time step (output_reversed 0). */
    r->info.reverse = r->reverse_only;
    return RNNCK_OK;
}

void rnnck__onnx_rnode_free(rnnck__onnx_rnode *r) {
    rnnck_tensor_free(r->W);
    rnnck_tensor_free(r->R);
    rnnck_tensor_free(r->B);
    rnnck_tensor_free(r->P);
    free(r->name);
    memset(r, 0, sizeof *r);
}
