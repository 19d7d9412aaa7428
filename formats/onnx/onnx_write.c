/* rnnck_write for ONNX: each module becomes one LSTM/GRU/RNN node per layer
 * (opset 14), joined by the glue torch.onnx.export writes (Squeeze, or
 * Transpose + Reshape for two directions), so the reader joins them back into
 * one module. Inputs X, initial_h (and initial_c), outputs Y, Y_h (and Y_c),
 * states (L*D, B, H) as PyTorch gives them; X and Y are batch-major for a
 * batch_first module. Weights go through the one gate-layout table.
 * A reverse-only module is a direction="reverse" node; one whose outputs
 * come in processing order (Keras go_backwards) is a forward node after a
 * Slice that reverses the time axis (ReverseSequence over each row's own
 * length when the graph has sequence_lens). A Keras merge mode other than
 * concat splits the bidirectional Y [T, 2, B, H] into its directions and
 * combines them with the op Keras uses: Add (sum), Mul (mul), Add then Div
 * by 2 (ave), or nothing (none: two outputs Y_forward, Y_reverse).
 * RNNCK_WRITE_ONNX_SEQUENCE_LENS adds an int32 graph input sequence_lens
 * (B,) fed to every node. Refused (RNNCK_E_INEXACT): proj_size, forget_bias
 * (a run-time add ONNX lacks), TF's cell_clip (ONNX's clip is on the gate
 * pre-activations, not the cell state). Activation alpha/beta and clip are float32
 * attributes in ONNX. */
#include "onnx/onnx_node.h"
#include "common/gate_layout.h"
#include "formats.h"

#include <stdlib.h>
#include <string.h>

typedef struct arena {
    void **p;
    size_t n, cap;
    bool oom;
} arena;

static void *az(arena *a, size_t size) {
    if (a->oom) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **p = realloc(a->p, cap * sizeof *p);
        if (!p) {
            a->oom = true;
            return NULL;
        }
        a->p = p;
        a->cap = cap;
    }
    void *q = calloc(1, size ? size : 1);
    if (!q) a->oom = true;
    else a->p[a->n++] = q;
    return q;
}

static char *astr(arena *a, const char *fmt, ...) RNNCK_PRINTF(2, 3);
static char *astr(arena *a, const char *fmt, ...) {
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *s = az(a, strlen(buf) + 1);
    if (s) memcpy(s, buf, strlen(buf) + 1);
    return s;
}

typedef struct graph_b {
    arena *a;
    Onnx__NodeProto **nodes;
    size_t nn, ncap;
    Onnx__TensorProto **inits;
    size_t ni, icap;
    Onnx__ValueInfoProto **ins, **outs;
    size_t nin, nout;
    int counter;
    unsigned flags; /* RNNCK_WRITE_* */
} graph_b;

static void push(arena *a, void ***arr, size_t *n, size_t *cap, void *item) {
    if (a->oom || !item) {
        a->oom = true;
        return;
    }
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        void **p = az(a, c * sizeof *p);
        if (!p) return;
        if (*n) memcpy(p, *arr, *n * sizeof *p);
        *arr = p;
        *cap = c;
    }
    (*arr)[(*n)++] = item;
}

static Onnx__AttributeProto *attr(arena *a, const char *name, Onnx__AttributeProto__AttributeType type) {
    Onnx__AttributeProto *x = az(a, sizeof *x);
    if (!x) return NULL;
    onnx__attribute_proto__init(x);
    x->name = astr(a, "%s", name);
    x->has_type = 1;
    x->type = type;
    return x;
}

static Onnx__NodeProto *node(graph_b *g, const char *op, const char *name, int nin, const char *const *in, int nout,
                             const char *const *out) {
    arena *a = g->a;
    Onnx__NodeProto *n = az(a, sizeof *n);
    if (!n) return NULL;
    onnx__node_proto__init(n);
    n->op_type = astr(a, "%s", op);
    n->name = astr(a, "%s", name);
    n->input = az(a, sizeof(char *) * (size_t)(nin ? nin : 1));
    n->output = az(a, sizeof(char *) * (size_t)nout);
    if (!n->input || !n->output) return NULL;
    for (int i = 0; i < nin; i++) n->input[i] = astr(a, "%s", in[i]);
    for (int i = 0; i < nout; i++) n->output[i] = astr(a, "%s", out[i]);
    n->n_input = (size_t)nin;
    n->n_output = (size_t)nout;
    push(a, (void ***)&g->nodes, &g->nn, &g->ncap, n);
    return n;
}

static void add_attr(graph_b *g, Onnx__NodeProto *n, Onnx__AttributeProto *x) {
    if (!n || !x) {
        g->a->oom = true;
        return;
    }
    Onnx__AttributeProto **p = az(g->a, (n->n_attribute + 1) * sizeof *p);
    if (!p) return;
    if (n->n_attribute) memcpy(p, n->attribute, n->n_attribute * sizeof *p);
    p[n->n_attribute++] = x;
    n->attribute = p;
}

static void attr_int(graph_b *g, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *x = attr(g->a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (x) x->has_i = 1, x->i = v;
    add_attr(g, n, x);
}

static void attr_ints(graph_b *g, Onnx__NodeProto *n, const char *name, const int64_t *v, size_t count) {
    Onnx__AttributeProto *x = attr(g->a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    int64_t *d = az(g->a, count * sizeof *d);
    if (x && d) {
        memcpy(d, v, count * sizeof *d);
        x->ints = d;
        x->n_ints = count;
    }
    add_attr(g, n, x);
}

static void attr_str(graph_b *g, Onnx__NodeProto *n, const char *name, const char *v) {
    Onnx__AttributeProto *x = attr(g->a, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    if (x) {
        x->has_s = 1;
        x->s.data = (uint8_t *)astr(g->a, "%s", v);
        x->s.len = strlen(v);
    }
    add_attr(g, n, x);
}

/* A float tensor initializer; data copied (bytes of dtype dt). */
static Onnx__TensorProto *init_tensor(graph_b *g, const char *name, rnnck_dtype dt, int nd, const int64_t *dims) {
    arena *a = g->a;
    Onnx__TensorProto *t = az(a, sizeof *t);
    int64_t numel = 1;
    for (int i = 0; i < nd; i++) numel *= dims[i];
    size_t bytes = (size_t)numel * rnnck_dtype_size(dt);
    if (!t) return NULL;
    onnx__tensor_proto__init(t);
    t->name = astr(a, "%s", name);
    t->has_data_type = 1;
    t->data_type = rnnck__onnx_data_type(dt);
    t->dims = az(a, sizeof(int64_t) * (size_t)(nd ? nd : 1));
    if (t->dims && nd) memcpy(t->dims, dims, sizeof(int64_t) * (size_t)nd);
    t->n_dims = (size_t)nd;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = az(a, bytes);
    push(a, (void ***)&g->inits, &g->ni, &g->icap, t);
    return a->oom ? NULL : t;
}

static char *const_ints(graph_b *g, const char *stem, const int64_t *v, size_t count) {
    char *name = astr(g->a, "%s_%d", stem, g->counter++);
    int64_t dims[1] = {(int64_t)count};
    Onnx__TensorProto *t = init_tensor(g, name ? name : "", RNNCK_I64, 1, dims);
    if (t) memcpy(t->raw_data.data, v, count * sizeof *v);
    return name;
}

/* A scalar initializer of dtype dt (f16, f32 or f64) holding 2, exactly. */
static char *const_two(graph_b *g, const char *stem, rnnck_dtype dt) {
    char *name = astr(g->a, "%s_%d", stem, g->counter++);
    Onnx__TensorProto *t = init_tensor(g, name ? name : "", dt, 0, NULL);
    if (!t) return name;
    if (dt == RNNCK_F64) {
        double two = 2.0;
        memcpy(t->raw_data.data, &two, sizeof two);
    } else if (dt == RNNCK_F32) {
        float two = 2.0f;
        memcpy(t->raw_data.data, &two, sizeof two);
    } else {
        uint16_t two = 0x4000; /* IEEE binary16 2.0 */
        memcpy(t->raw_data.data, &two, sizeof two);
    }
    return name;
}

/* A graph output from the time-major `src`: Transpose to batch-major for a
 * batch_first module, else Identity. */
static void seq_output(graph_b *g, const char *tag, const char *src, const char *dst, bool batch_first) {
    arena *a = g->a;
    if (batch_first) {
        const int64_t perm[3] = {1, 0, 2};
        attr_ints(g, node(g, "Transpose", astr(a, "/%s/Transpose_%s", tag, dst), 1, &src, 1, &dst), "perm", perm, 3);
    } else
        node(g, "Identity", astr(a, "/%s/Identity_%s", tag, dst), 1, &src, 1, &dst);
}

static Onnx__ValueInfoProto *value_info(graph_b *g, const char *name, rnnck_dtype dt, int nd, const char *const *syms,
                                        const int64_t *dims) {
    arena *a = g->a;
    Onnx__ValueInfoProto *v = az(a, sizeof *v);
    Onnx__TypeProto *tp = az(a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = az(a, sizeof *tt);
    Onnx__TensorShapeProto *sh = az(a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = az(a, sizeof *d * (size_t)nd);
    if (!v || !tp || !tt || !sh || !d) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < nd; i++) {
        d[i] = az(a, sizeof **d);
        if (!d[i]) return NULL;
        onnx__tensor_shape_proto__dimension__init(d[i]);
        if (syms[i]) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = astr(a, "%s", syms[i]);
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = dims[i];
        }
    }
    sh->dim = d;
    sh->n_dim = (size_t)nd;
    tt->has_elem_type = 1;
    tt->elem_type = rnnck__onnx_data_type(dt);
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = astr(a, "%s", name);
    v->type = tp;
    return v;
}

static rnnck_status check_module(const rnnck_module_info *info, const char *path) {
    const char *label = info->name && *info->name ? info->name : "(root)";
    if (info->proj_size > 0)
        return rnnck__err(RNNCK_E_INEXACT, "%s: module %s: proj_size has no ONNX equivalent", path, label);
    if (info->forget_bias != 0)
        return rnnck__err(RNNCK_E_INEXACT, "%s: module %s: forget_bias (added at run time) has no ONNX attribute",
                          path, label);
    if (info->cell_clip > 0)
        return rnnck__err(RNNCK_E_INEXACT, "%s: module %s: cell_clip (TF: the cell state clipped to +-%g) has no ONNX "
                          "attribute (ONNX's clip bounds the gate pre-activations, which is other maths)", path, label,
                          info->cell_clip);
    if (info->dtype != RNNCK_F32 && info->dtype != RNNCK_F64 && info->dtype != RNNCK_F16)
        return rnnck__err(RNNCK_E_INEXACT, "%s: module %s: ONNX recurrent ops take float16/32/64, not %s", path, label,
                          rnnck_dtype_name(info->dtype));
    return RNNCK_OK;
}

/* One module's nodes. p = "" or "name:" prefixes the graph's input/output names. */
static rnnck_status add_module(graph_b *g, rnnck_model *m, size_t mi, const char *p) {
    const rnnck_module_info *info = rnnck_model_module(m, mi);
    arena *a = g->a;
    rnnck_cell cell = info->cell;
    const char *op = cell == RNNCK_CELL_LSTM ? "LSTM" : cell == RNNCK_CELL_GRU ? "GRU" : "RNN";
    bool lstm = cell == RNNCK_CELL_LSTM;
    int64_t D = info->bidirectional ? 2 : 1, H = info->hidden_size, G = rnnck_cell_gates(cell), L = info->num_layers;
    const char *tag = info->name && *info->name ? info->name : "rnn";
    const rnnck__gate_layout *onnx = rnnck__gate_layout_find("onnx", cell), *pt = rnnck__gate_layout_find("pytorch", cell);
    size_t es = rnnck_dtype_size(info->dtype);
    const char *sym_tb[3] = {"T", "B", NULL}, *sym_bt[3] = {"B", "T", NULL}, *sym_s[3] = {NULL, "B", NULL};
    int64_t xd[3] = {0, 0, info->input_size}, sd[3] = {L * D, 0, H}, yd[3] = {0, 0, D * H};
    char *x = astr(a, "%sX", p), *h0 = astr(a, "%sinitial_h", p), *c0 = astr(a, "%sinitial_c", p);
    push(a, (void ***)&g->ins, &g->nin, &(size_t){g->nin},
         value_info(g, x, info->dtype, 3, info->batch_first ? sym_bt : sym_tb, xd));
    push(a, (void ***)&g->ins, &g->nin, &(size_t){g->nin}, value_info(g, h0, info->dtype, 3, sym_s, sd));
    if (lstm) push(a, (void ***)&g->ins, &g->nin, &(size_t){g->nin}, value_info(g, c0, info->dtype, 3, sym_s, sd));
    char *lens = NULL; /* every node's sequence_lens, when asked for */
    if (g->flags & RNNCK_WRITE_ONNX_SEQUENCE_LENS) {
        const char *sym_b[1] = {"B"};
        const int64_t bd[1] = {0};
        lens = astr(a, "%ssequence_lens", p);
        push(a, (void ***)&g->ins, &g->nin, &(size_t){g->nin}, value_info(g, lens, RNNCK_I32, 1, sym_b, bd));
    }
    if (a->oom) return rnnck__oom();
    const char *cur = x;
    if (info->batch_first) {
        char *t = astr(a, "/%s/Transpose_in", tag);
        const int64_t perm[3] = {1, 0, 2};
        attr_ints(g, node(g, "Transpose", t, 1, &cur, 1, (const char *const *)&t), "perm", perm, 3);
        cur = t;
    }
    if (info->output_reversed) {
        /* Keras go_backwards: a forward node over the time-reversed input
         * computes the states in processing order, which is how Keras
         * returns them (exact; the reader knows this Slice). With lengths,
         * each row is reversed over its own length (ReverseSequence takes
         * int64 lengths), leaving the padding after it, where the node
         * stops. */
        char *rv = astr(a, "/%s/Reverse_in", tag);
        if (lens) {
            char *l64 = astr(a, "/%s/sequence_lens_int64", tag);
            attr_int(g, node(g, "Cast", astr(a, "/%s/Cast_lens", tag), 1, (const char *const *)&lens, 1,
                             (const char *const *)&l64), "to", RNNCK__ONNX_INT64);
            const char *in[2] = {cur, l64};
            Onnx__NodeProto *n = node(g, "ReverseSequence", rv, 2, in, 1, (const char *const *)&rv);
            attr_int(g, n, "batch_axis", 1);
            attr_int(g, n, "time_axis", 0);
        } else {
            const int64_t s0[1] = {-1}, s1[1] = {INT64_MIN}, ax[1] = {0}, st1[1] = {-1};
            const char *in[5] = {cur, const_ints(g, "starts", s0, 1), const_ints(g, "ends", s1, 1),
                                 const_ints(g, "axes", ax, 1), const_ints(g, "steps", st1, 1)};
            node(g, "Slice", rv, 5, in, 1, (const char *const *)&rv);
        }
        cur = rv;
    }
    char *apart[2] = {NULL, NULL}; /* merge_mode none: the two directions' outputs */
    char **yh = az(a, sizeof(char *) * (size_t)L), **yc = az(a, sizeof(char *) * (size_t)L);
    if (!yh || !yc) return rnnck__oom();
    rnnck_status st = RNNCK_OK;
    for (int64_t l = 0; l < L && !st && !a->oom; l++) {
        int64_t I = l == 0 ? info->input_size : D * H;
        char nm[600];
        snprintf(nm, sizeof nm, l ? "/%s/%s_%lld" : "/%s/%s", tag, op, (long long)l);
        int64_t wd[3] = {D, G * H, I}, rd[3] = {D, G * H, H}, bd[2] = {D, 2 * G * H}, pd[2] = {D, 3 * H};
        char *wn = astr(a, "%s/W", nm), *rn = astr(a, "%s/R", nm), *bn = astr(a, "%s/B", nm), *pn = astr(a, "%s/P", nm);
        Onnx__TensorProto *W = init_tensor(g, wn, info->dtype, 3, wd), *R = init_tensor(g, rn, info->dtype, 3, rd);
        Onnx__TensorProto *B = info->bias ? init_tensor(g, bn, info->dtype, 2, bd) : NULL;
        Onnx__TensorProto *P = info->peepholes ? init_tensor(g, pn, info->dtype, 2, pd) : NULL;
        if (a->oom) return rnnck__oom();
        for (int d = 0; d < D && !st; d++) {
            rnnck_tensor *t;
            size_t gh = (size_t)(G * H);
            if (!(st = rnnck_model_param(m, mi, RNNCK_PARAM_WEIGHT_IH, l, d, &t)) &&
                !(st = rnnck_model_load_tensor(m, t)))
                st = rnnck__gate_reorder(W->raw_data.data + d * gh * (size_t)I * es, rnnck_tensor_cdata(t), pt->order,
                                         onnx->order, (size_t)H, (size_t)I * es);
            if (!st && !(st = rnnck_model_param(m, mi, RNNCK_PARAM_WEIGHT_HH, l, d, &t)) &&
                !(st = rnnck_model_load_tensor(m, t)))
                st = rnnck__gate_reorder(R->raw_data.data + d * gh * (size_t)H * es, rnnck_tensor_cdata(t), pt->order,
                                         onnx->order, (size_t)H, (size_t)H * es);
            for (int k = 0; B && k < 2 && !st; k++)
                if (!(st = rnnck_model_param(m, mi, k ? RNNCK_PARAM_BIAS_HH : RNNCK_PARAM_BIAS_IH, l, d, &t)) &&
                    !(st = rnnck_model_load_tensor(m, t)))
                    st = rnnck__gate_reorder(B->raw_data.data + (2 * d + k) * gh * es, rnnck_tensor_cdata(t),
                                             pt->order, onnx->order, (size_t)H, es);
            if (P && !st && !(st = rnnck_model_param(m, mi, RNNCK_PARAM_PEEPHOLE, l, d, &t)) &&
                !(st = rnnck_model_load_tensor(m, t)))
                st = rnnck__gate_reorder(P->raw_data.data + d * 3 * (size_t)H * es, rnnck_tensor_cdata(t),
                                         rnnck__peephole_order("pytorch"), rnnck__peephole_order("onnx"), (size_t)H, es);
        }
        if (st) return st;
        /* this layer's slice of the states */
        int64_t s0[1] = {l * D}, s1[1] = {(l + 1) * D}, ax0[1] = {0};
        char *ss = const_ints(g, "starts", s0, 1), *se = const_ints(g, "ends", s1, 1), *sa = const_ints(g, "axes", ax0, 1);
        const char *hin[4] = {h0, ss, se, sa}, *cin[4] = {c0, ss, se, sa};
        char *hl = astr(a, "%s/initial_h", nm), *cl = astr(a, "%s/initial_c", nm);
        node(g, "Slice", astr(a, "%s/Slice_h", nm), 4, hin, 1, (const char *const *)&hl);
        if (lstm) node(g, "Slice", astr(a, "%s/Slice_c", nm), 4, cin, 1, (const char *const *)&cl);
        char *y = astr(a, "%s/Y", nm);
        yh[l] = astr(a, "%s/Y_h", nm);
        yc[l] = astr(a, "%s/Y_c", nm);
        const char *in[8] = {cur, wn, rn, B ? bn : "", lens ? lens : "", hl, cl, pn};
        const char *out[3] = {y, yh[l], yc[l]};
        Onnx__NodeProto *n = node(g, op, nm, lstm ? (P ? 8 : 7) : 6, in, lstm ? 3 : 2, out);
        attr_int(g, n, "hidden_size", H);
        attr_str(g, n, "direction",
                 D == 2 ? "bidirectional" : (info->reverse && !info->output_reversed) ? "reverse" : "forward");
        if (cell == RNNCK_CELL_GRU) attr_int(g, n, "linear_before_reset", info->linear_before_reset);
        if (info->clip > 0) {
            Onnx__AttributeProto *c = attr(a, "clip", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
            if (c) c->has_f = 1, c->f = (float)info->clip;
            add_attr(g, n, c);
        }
        if (lstm && info->input_forget) attr_int(g, n, "input_forget", 1);
        if (!rnnck_module_info_is_pytorch(info) || cell == RNNCK_CELL_RNN_RELU) {
            int slots = lstm ? 3 : cell == RNNCK_CELL_GRU ? 2 : 1;
            Onnx__AttributeProto *acts = attr(a, "activations", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
            Onnx__AttributeProto *al = attr(a, "activation_alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
            Onnx__AttributeProto *be = attr(a, "activation_beta", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
            ProtobufCBinaryData *names = az(a, sizeof *names * (size_t)(slots * D));
            float *fa = az(a, sizeof(float) * (size_t)(slots * D)), *fb = az(a, sizeof(float) * (size_t)(slots * D));
            if (!acts || !al || !be || !names || !fa || !fb) return rnnck__oom();
            for (int d = 0; d < D; d++)
                for (int s = 0; s < slots; s++) {
                    rnnck_activation v = info->act[d][s];
                    const char *an = rnnck_act_name(v.kind);
                    names[d * slots + s].data = (uint8_t *)astr(a, "%s", an);
                    names[d * slots + s].len = strlen(an);
                    if (rnnck__onnx_act_needs_alpha(v.kind)) fa[al->n_floats++] = (float)v.alpha;
                    if (rnnck__onnx_act_needs_beta(v.kind)) fb[be->n_floats++] = (float)v.beta;
                }
            acts->strings = names;
            acts->n_strings = (size_t)(slots * D);
            al->floats = fa;
            be->floats = fb;
            add_attr(g, n, acts);
            if (al->n_floats) add_attr(g, n, al);
            if (be->n_floats) add_attr(g, n, be);
        }
        /* Y [T, D, B, H] -> [T, B, D*H], PyTorch's layer output */
        char *glued = astr(a, "%s/Y_concat", nm);
        if (D == 1) {
            const int64_t one[1] = {1};
            const char *sq[2] = {y, const_ints(g, "axes", one, 1)};
            node(g, "Squeeze", astr(a, "%s/Squeeze", nm), 2, sq, 1, (const char *const *)&glued);
        } else if (info->merge_mode != RNNCK_MERGE_CONCAT) {
            /* Keras's Bidirectional merge (one layer): the two directions
             * apart, then its op on them: y_f + y_r, y_f * y_r, (y_f + y_r) / 2 */
            rnnck_merge_mode mm = info->merge_mode;
            const int64_t one[1] = {1};
            char *axes = const_ints(g, "axes", one, 1);
            char *half[2] = {astr(a, "%s/Y_forward", nm), astr(a, "%s/Y_reverse", nm)};
            attr_int(g, node(g, "Split", astr(a, "%s/Split", nm), 1, (const char *const *)&y, 2,
                             (const char *const *)half), "axis", 1);
            if (mm == RNNCK_MERGE_NONE) {
                for (int d = 0; d < 2; d++) {
                    apart[d] = astr(a, "%s/Y_%s_seq", nm, d ? "reverse" : "forward");
                    const char *sq[2] = {half[d], axes};
                    node(g, "Squeeze", astr(a, "%s/Squeeze_%d", nm, d), 2, sq, 1, (const char *const *)&apart[d]);
                }
            } else {
                const char *comb = mm == RNNCK_MERGE_MUL ? "Mul" : "Add";
                char *merged = astr(a, "%s/Y_%s", nm, comb);
                node(g, comb, astr(a, "%s/%s", nm, comb), 2, (const char *const *)half, 1,
                     (const char *const *)&merged);
                if (mm == RNNCK_MERGE_AVE) {
                    char *ave = astr(a, "%s/Y_Div", nm);
                    const char *dv[2] = {merged, const_two(g, "two", info->dtype)};
                    node(g, "Div", astr(a, "%s/Div", nm), 2, dv, 1, (const char *const *)&ave);
                    merged = ave;
                }
                const char *sq[2] = {merged, axes};
                node(g, "Squeeze", astr(a, "%s/Squeeze", nm), 2, sq, 1, (const char *const *)&glued);
            }
        } else {
            char *tr = astr(a, "%s/Transpose_out", nm);
            const int64_t perm[4] = {0, 2, 1, 3}, shape[3] = {0, 0, -1};
            attr_ints(g, node(g, "Transpose", astr(a, "%s/Transpose", nm), 1, (const char *const *)&y, 1,
                              (const char *const *)&tr), "perm", perm, 4);
            const char *rs[2] = {tr, const_ints(g, "shape", shape, 3)};
            node(g, "Reshape", astr(a, "%s/Reshape", nm), 2, rs, 1, (const char *const *)&glued);
        }
        cur = glued;
    }
    if (a->oom) return rnnck__oom();
    char *yo = astr(a, "%sY", p), *yho = astr(a, "%sY_h", p), *yco = astr(a, "%sY_c", p);
    char *yapart[2] = {astr(a, "%sY_forward", p), astr(a, "%sY_reverse", p)};
    if (a->oom) return rnnck__oom();
    if (apart[0])
        for (int d = 0; d < 2; d++) seq_output(g, tag, apart[d], yapart[d], info->batch_first);
    else
        seq_output(g, tag, cur, yo, info->batch_first);
    attr_int(g, node(g, "Concat", astr(a, "/%s/Concat_h", tag), (int)L, (const char *const *)yh, 1,
                     (const char *const *)&yho), "axis", 0);
    if (lstm)
        attr_int(g, node(g, "Concat", astr(a, "/%s/Concat_c", tag), (int)L, (const char *const *)yc, 1,
                         (const char *const *)&yco), "axis", 0);
    if (info->merge_mode != RNNCK_MERGE_CONCAT) yd[2] = H; /* merged, or each of the two apart */
    for (int d = 0; d < (apart[0] ? 2 : 1); d++)
        push(a, (void ***)&g->outs, &g->nout, &(size_t){g->nout},
             value_info(g, apart[0] ? yapart[d] : yo, info->dtype, 3, info->batch_first ? sym_bt : sym_tb, yd));
    push(a, (void ***)&g->outs, &g->nout, &(size_t){g->nout}, value_info(g, yho, info->dtype, 3, sym_s, sd));
    if (lstm) push(a, (void ***)&g->outs, &g->nout, &(size_t){g->nout}, value_info(g, yco, info->dtype, 3, sym_s, sd));
    return a->oom ? rnnck__oom() : RNNCK_OK;
}

rnnck_status rnnck__onnx_write(rnnck_model *m, const char *path) {
    return rnnck__onnx_write_ex(m, path, 0);
}

rnnck_status rnnck__onnx_write_ex(rnnck_model *m, const char *path, unsigned flags) {
    rnnck__err_clear();
    size_t count = rnnck_model_module_count(m);
    if (count == 0) return rnnck__err(RNNCK_E_INEXACT, "%s: the model has no recurrent module to export", path);
    for (size_t i = 0; i < count; i++) {
        rnnck_status st = check_module(rnnck_model_module(m, i), path);
        if (st) return st;
    }
    {   /* tensors outside modules (embeddings, heads) have no place in this graph */
        size_t inside = 0;
        for (size_t i = 0; i < count; i++) {
            const rnnck_module_info *info = rnnck_model_module(m, i);
            int64_t per = 2 + (info->bias ? 2 : 0) + (info->peepholes ? 1 : 0);
            inside += (size_t)(per * info->num_layers * (info->bidirectional ? 2 : 1));
        }
        if (inside != rnnck_model_tensor_count(m))
            return rnnck__err(RNNCK_E_INEXACT, "%s: %zu tensors belong to no recurrent module; ONNX export writes "
                              "recurrent modules only", path, rnnck_model_tensor_count(m) - inside);
    }
    arena a = {0};
    graph_b g = {.a = &a, .flags = flags};
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < count && !st; i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        char *prefix = count == 1 ? astr(&a, "%s", "") : astr(&a, "%s:", *info->name ? info->name : "rnn");
        st = prefix ? add_module(&g, m, i, prefix) : rnnck__oom();
    }
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsets[1] = {&opset};
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    uint8_t *buf = NULL;
    if (!st) {
        graph.name = "rnnck";
        graph.node = g.nodes, graph.n_node = g.nn;
        graph.initializer = g.inits, graph.n_initializer = g.ni;
        graph.input = g.ins, graph.n_input = g.nin;
        graph.output = g.outs, graph.n_output = g.nout;
        opset.domain = "";
        opset.has_version = 1;
        opset.version = 14;
        model.has_ir_version = 1;
        model.ir_version = 8;
        model.producer_name = "rnnck";
        model.producer_version = RNNCK_VERSION_STRING;
        model.graph = &graph;
        model.opset_import = opsets;
        model.n_opset_import = 1;
        size_t len = onnx__model_proto__get_packed_size(&model);
        buf = malloc(len ? len : 1);
        if (!buf) st = rnnck__oom();
        rnnck__atomic out = {0};
        if (!st) st = rnnck__atomic_begin(&out, path, true);
        if (!st) {
            onnx__model_proto__pack(&model, buf);
            if (fwrite(buf, 1, len, out.fp) != len) {
                rnnck__atomic_abort(&out);
                st = rnnck__err(RNNCK_E_WRITE, "%s: write failed", path);
            } else
                st = rnnck__atomic_commit(&out);
        }
    }
    free(buf);
    for (size_t i = 0; i < a.n; i++) free(a.p[i]);
    free(a.p);
    return st;
}
