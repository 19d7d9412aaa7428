/* rnnck_open for ONNX models: every LSTM / GRU / RNN node of the main graph
 * and of its subgraphs (If branches, Loop and Scan bodies) becomes a module.
 * A torch.onnx.export stack (one node per layer joined by the exporter's
 * Squeeze, or Transpose + Reshape for two directions) becomes one multi-layer
 * module named after the exporter's scope ("/rnn/LSTM_1" -> "rnn"). Weights
 * go through the one gate-layout table (common/gate_layout.c). The ops
 * rnnck's writer puts around a Keras layer are read back as its semantics:
 * a time reversal before a forward node (go_backwards), a Split of a
 * bidirectional Y and its merge op after it (merge_mode). */
#include "onnx/onnx_node.h"
#include "common/gate_layout.h"
#include "formats.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
    rnnck__onnx_ctx ctx;
    rnnck__onnx_rnode *nodes;
    size_t count, cap;
    rnnck__onnx_scope **scopes; /* owned, freed at the end */
    size_t nscopes, scap;
    rnnck__strmap names;    /* module names given so far (owned keys) */
    rnnck__strmap prefixes; /* their dotted prefixes: "a" and "a.b" for "a.b.c" */
    rnnck__strmap next_suffix; /* base name -> next _k to try */
} reader;

static bool is_recurrent(const Onnx__NodeProto *n) {
    if (!n->op_type || (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))) return false;
    return !strcmp(n->op_type, "LSTM") || !strcmp(n->op_type, "GRU") || !strcmp(n->op_type, "RNN");
}

/* Appends "part" to a dotted name, keeping [A-Za-z0-9_] and turning '/' and
 * '.' into separators; other characters become '_'. */
static void append_sanitised(char *buf, size_t cap, const char *part) {
    size_t len = strlen(buf);
    bool sep = len > 0;
    for (const char *p = part; *p && len + 2 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/' || c == '.') {
            sep = len > 0;
            continue;
        }
        if (sep && buf[len - 1] != '.') buf[len++] = '.';
        sep = false;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        buf[len++] = ok ? (char)c : '_';
    }
    buf[len] = 0;
}

static rnnck_status walk(reader *r, const rnnck__onnx_scope *scope, int depth) {
    if (depth > RNNCK__ONNX_MAX_DEPTH)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: subgraphs nested deeper than %d", r->ctx.file,
                          RNNCK__ONNX_MAX_DEPTH);
    const Onnx__GraphProto *g = scope->graph;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (is_recurrent(n)) {
            if (r->count >= (size_t)r->ctx.limits.max_tensors) /* checked as nodes arrive */
                return rnnck__err(RNNCK_E_NOMEM, "%s: more than %lld recurrent nodes, over the limit", r->ctx.file,
                                  (long long)r->ctx.limits.max_tensors);
            if (r->count == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 8;
                rnnck__onnx_rnode *p = realloc(r->nodes, cap * sizeof *p);
                if (!p) return rnnck__oom();
                r->nodes = p;
                r->cap = cap;
            }
            scope->index->rnode_of[i] = (long)r->count;
            rnnck__onnx_rnode *rn = &r->nodes[r->count++];
            rnnck_status st = rnnck__onnx_read_node(&r->ctx, scope, n, rn);
            if (st) return st;
        }
        for (size_t k = 0; k < n->n_attribute; k++) {
            const Onnx__AttributeProto *a = n->attribute[k];
            size_t ng = a->g ? 1 : a->n_graphs;
            for (size_t j = 0; j < ng; j++) {
                const Onnx__GraphProto *sub = a->g ? a->g : a->graphs[j];
                if (!sub) continue;
                if (r->nscopes == r->scap) {
                    size_t cap = r->scap ? 2 * r->scap : 8;
                    rnnck__onnx_scope **p = realloc(r->scopes, cap * sizeof *p);
                    if (!p) return rnnck__oom();
                    r->scopes = p;
                    r->scap = cap;
                }
                rnnck__onnx_scope *s = calloc(1, sizeof *s);
                char path[1024] = "", idx[24];
                if (!s) return rnnck__oom();
                r->scopes[r->nscopes++] = s;
                append_sanitised(path, sizeof path, scope->path);
                append_sanitised(path, sizeof path, ".");
                append_sanitised(path, sizeof path, rnnck__onnx_node_label(n));
                append_sanitised(path, sizeof path, ".");
                append_sanitised(path, sizeof path, a->name ? a->name : "graph");
                if (!a->g) {
                    snprintf(idx, sizeof idx, ".%zu", j);
                    append_sanitised(path, sizeof path, idx);
                }
                s->graph = sub;
                s->parent = scope;
                s->path = rnnck__strdup(path);
                if (!s->path) return rnnck__oom();
                rnnck_status st = rnnck__onnx_index_new(sub, &s->index);
                if (!st) st = walk(r, s, depth + 1);
                if (st) return st;
            }
        }
    }
    return RNNCK_OK;
}

/* ------------------------------------------------------------- stacking */

static bool ints_equal(const int64_t *a, size_t na, const int64_t *b, size_t nb) {
    return na == nb && !memcmp(a, b, na * sizeof *a);
}

/* Is node `n`'s shape argument (Squeeze axes / Reshape shape) the constant
 * list want, or for Reshape [0, 0, -1] / [0, 0, width]? */
static bool glue_args(const reader *r, const rnnck__onnx_scope *scope, const Onnx__NodeProto *n, int64_t width) {
    int64_t v[4];
    size_t nv = 0;
    bool reshape = !strcmp(n->op_type, "Reshape");
    if (n->n_input >= 2 && n->input[1] && *n->input[1]) {
        rnnck__err_clear();
        if (rnnck__onnx_const_ints(&r->ctx, scope, n->input[1], "glue", v, 4, &nv)) {
            rnnck__err_clear();
            return false;
        }
    } else if (!reshape) {
        const Onnx__AttributeProto *a = rnnck__onnx_attr(n, "axes");
        if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS || a->n_ints > 4) return false;
        memcpy(v, a->ints, a->n_ints * sizeof *v);
        nv = a->n_ints;
    } else
        return false;
    if (!reshape) return nv == 1 && (v[0] == 1 || v[0] == -3);
    const Onnx__AttributeProto *az = rnnck__onnx_attr(n, "allowzero");
    if (az && az->i) return false;
    return nv == 3 && v[0] == 0 && v[1] == 0 && (v[2] == -1 || v[2] == width);
}

/* The recurrent node whose Y reaches X of node j through exactly the glue
 * torch.onnx.export writes between layers (Y is [T, D, B, H]): Squeeze(axes
 * [1]) or Reshape [0, 0, H] for one direction, Transpose(perm [0, 2, 1, 3]) +
 * Reshape [0, 0, 2H] for two. Those compute PyTorch's concatenated layer
 * output, so the two nodes are layers k and k+1 of one module. -1 if none. */
static long find_prev(const reader *r, size_t j) {
    const rnnck__onnx_rnode *rn = &r->nodes[j];
    const rnnck__onnx_scope *g = rn->scope;
    if (rn->node->n_input < 1 || rn->info.batch_first) return -1;
    const char *x = rn->node->input[0];
    const Onnx__NodeProto *outer = rnnck__onnx_producer(g, x, NULL);
    if (!outer || !outer->op_type || outer->n_input < 1) return -1;
    const Onnx__NodeProto *transpose = NULL, *src;
    const char *y = outer->input[0];
    if (!strcmp(outer->op_type, "Reshape")) {
        src = rnnck__onnx_producer(g, y, NULL);
        if (src && src->op_type && !strcmp(src->op_type, "Transpose") && src->n_input == 1) {
            transpose = src;
            y = src->input[0];
        }
    } else if (strcmp(outer->op_type, "Squeeze") != 0)
        return -1;
    size_t pos;
    src = rnnck__onnx_producer(g, y, &pos);
    if (!src || !is_recurrent(src) || src->n_output < 1 || !src->output[0] || strcmp(src->output[0], y)) return -1;
    long i = g->index->rnode_of[pos];
    if (i < 0) return -1;
    const rnnck__onnx_rnode *p = &r->nodes[i];
    if (p->info.batch_first) return -1;
    if (p->dirs == 2) {
        const Onnx__AttributeProto *perm = transpose ? rnnck__onnx_attr(transpose, "perm") : NULL;
        static const int64_t want[4] = {0, 2, 1, 3};
        if (!perm || !ints_equal(perm->ints, perm->n_ints, want, 4)) return -1;
    } else if (transpose)
        return -1;
    if (!glue_args(r, rn->scope, outer, p->dirs * p->info.hidden_size)) return -1;
    return i;
}

static bool acts_equal(const rnnck_module_info *a, const rnnck_module_info *b) {
    for (int d = 0; d < 2; d++)
        for (int s = 0; s < RNNCK_ACT_SLOTS; s++)
            if (a->act[d][s].kind != b->act[d][s].kind || a->act[d][s].alpha != b->act[d][s].alpha ||
                a->act[d][s].beta != b->act[d][s].beta)
                return false;
    return true;
}

/* Layers of one module share everything but the input width. */
static bool stackable(const rnnck__onnx_rnode *p, const rnnck__onnx_rnode *n) {
    const rnnck_module_info *a = &p->info, *b = &n->info;
    return a->cell == b->cell && a->hidden_size == b->hidden_size && a->bidirectional == b->bidirectional &&
           a->reverse == b->reverse &&
           a->dtype == b->dtype && a->linear_before_reset == b->linear_before_reset && a->clip == b->clip &&
           a->input_forget == b->input_forget && acts_equal(a, b) &&
           b->input_size == a->hidden_size * (a->bidirectional ? 2 : 1);
}

static void link_stacks(reader *r) {
    for (size_t j = 0; j < r->count; j++) {
        r->nodes[j].next = -1;
        r->nodes[j].links_in = 0;
    }
    for (size_t j = 0; j < r->count; j++) {
        long i = find_prev(r, j);
        r->nodes[j].prev = (i >= 0 && stackable(&r->nodes[i], &r->nodes[j])) ? i : -1;
        if (r->nodes[j].prev >= 0) r->nodes[i].links_in++;
    }
    /* A layer feeding two others is a fork, not a stack: keep them apart. */
    for (size_t j = 0; j < r->count; j++) {
        long i = r->nodes[j].prev;
        if (i >= 0 && r->nodes[i].links_in != 1) r->nodes[j].prev = -1;
        else if (i >= 0) r->nodes[i].next = (long)j;
    }
}

/* "/enc/rnn/LSTM_1" -> "enc/rnn" when the last part names the op (the
 * exporter's scope), else NULL. Written into buf. */
static const char *exporter_scope(const Onnx__NodeProto *n, char *buf, size_t cap) {
    const char *nm = n->name;
    if (!nm || nm[0] != '/') return NULL;
    const char *last = strrchr(nm, '/');
    size_t op = strlen(n->op_type);
    if (last == nm || strncmp(last + 1, n->op_type, op) != 0 || (last[1 + op] && last[1 + op] != '_'))
        return NULL;
    size_t len = (size_t)(last - nm - 1);
    if (len + 1 > cap) return NULL;
    memcpy(buf, nm + 1, len);
    buf[len] = 0;
    return buf;
}

/* Whether `name` is a module name given already, a dotted prefix of one
 * ("a" when "a.b" exists), or has one as its prefix: hashed, O(length). */
static bool name_clashes(const reader *r, const char *name) {
    if (rnnck__strmap_get(&r->names, name, NULL) || rnnck__strmap_get(&r->prefixes, name, NULL)) return true;
    for (const char *dot = strchr(name, '.'); dot; dot = strchr(dot + 1, '.'))
        if (rnnck__strmap_get_n(&r->names, name, (size_t)(dot - name), NULL)) return true;
    return false;
}

static rnnck_status take_name(reader *r, const char *name) {
    rnnck_status st = rnnck__strmap_add(&r->names, name, 0, NULL);
    char buf[1100];
    for (const char *dot = strchr(name, '.'); dot && !st; dot = strchr(dot + 1, '.')) {
        size_t n = (size_t)(dot - name);
        if (n >= sizeof buf) break;
        memcpy(buf, name, n);
        buf[n] = 0;
        st = rnnck__strmap_add(&r->prefixes, buf, 0, NULL);
    }
    return st;
}

/* Names the module whose first layer is node h (chain through next). */
static rnnck_status name_module(reader *r, size_t h) {
    char scope[512], first[512], name[1024] = "";
    const char *common = exporter_scope(r->nodes[h].node, first, sizeof first);
    for (long k = r->nodes[h].next; common && k >= 0; k = r->nodes[k].next) {
        const char *s = exporter_scope(r->nodes[k].node, scope, sizeof scope);
        if (!s || strcmp(s, common)) common = NULL;
    }
    append_sanitised(name, sizeof name, r->nodes[h].scope->path);
    append_sanitised(name, sizeof name, ".");
    size_t base = strlen(name);
    if (common) append_sanitised(name, sizeof name, common);
    if (strlen(name) == base) append_sanitised(name, sizeof name, rnnck__onnx_node_label(r->nodes[h].node));
    if (!*name) snprintf(name, sizeof name, "%s", r->nodes[h].node->op_type);
    char unique[1100];
    snprintf(unique, sizeof unique, "%s", name);
    /* name, name_2, name_3...: each base remembers where its count stopped,
     * so n nodes of one name cost n tries, not n^2 */
    uintptr_t next = 2;
    rnnck__strmap_get(&r->next_suffix, name, &next);
    while (name_clashes(r, unique)) {
        if (next > (uintptr_t)r->count + 2)
            return rnnck__err(RNNCK_E_FORMAT, "%s: cannot name node '%.200s' uniquely", r->ctx.file, name);
        snprintf(unique, sizeof unique, "%s_%lu", name, (unsigned long)next++);
    }
    rnnck_status st = rnnck__strmap_set(&r->next_suffix, name, next);
    if (!st) st = take_name(r, unique);
    if (!st && !(r->nodes[h].name = rnnck__strdup(unique))) st = rnnck__oom();
    return st;
}

/* ------------------------------------------------------------ the model */

/* Rows [d] of an ONNX weight (gate blocks in ONNX order) into a module
 * parameter (PyTorch order): one generic reorder, table-driven. */
static rnnck_status put_blocks(rnnck_model *m, size_t mod, rnnck_param kind, int64_t layer, int reverse,
                               const rnnck_tensor *src, size_t byte_off, const rnnck__gate_layout *from,
                               const rnnck__gate_layout *to, size_t rows_per_block, size_t row_bytes) {
    rnnck_tensor *p;
    rnnck_status st = rnnck_model_param(m, mod, kind, layer, reverse, &p);
    if (st) return st;
    return rnnck__gate_reorder(rnnck_tensor_data(p), (const unsigned char *)rnnck_tensor_cdata(src) + byte_off,
                               from->order, to->order, rows_per_block, row_bytes);
}

static bool attr_int_is(const Onnx__NodeProto *n, const char *name, int64_t want) {
    const Onnx__AttributeProto *a = rnnck__onnx_attr(n, name);
    return a && a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT && a->i == want;
}

/* With sequence_lens L: X = ReverseSequence(x, Cast(L, to int64),
 * batch_axis 1, time_axis 0), each row reversed over its own length. */
static bool reversed_by_length(const rnnck__onnx_scope *s, const Onnx__NodeProto *rs, const char *lens) {
    if (!rs || !rs->op_type || strcmp(rs->op_type, "ReverseSequence") || rs->n_input != 2 || !rs->input[1] ||
        !attr_int_is(rs, "batch_axis", 1) || !attr_int_is(rs, "time_axis", 0))
        return false;
    const Onnx__NodeProto *cast = rnnck__onnx_producer(s, rs->input[1], NULL);
    return cast && cast->op_type && !strcmp(cast->op_type, "Cast") && cast->n_input == 1 && cast->input[0] &&
           !strcmp(cast->input[0], lens) && attr_int_is(cast, "to", RNNCK__ONNX_INT64);
}

/* Whether a one-layer forward node reads its X through exactly the time
 * reversal rnnck's writer puts before a Keras go_backwards layer: Slice(X,
 * starts [-1], ends <= -2^31, axes [0], steps [-1]) without sequence_lens
 * (with lengths that reversal would move the padding first), or with
 * sequence_lens the ReverseSequence of reversed_by_length over the node's
 * own lengths. A forward run over the reversed steps is a reverse-only
 * module whose outputs come in processing order (schema 1.1). */
static bool reads_time_reversed(const reader *r, const rnnck__onnx_rnode *rn) {
    const Onnx__NodeProto *n = rn->node;
    if (rn->dirs != 1 || rn->reverse_only || rn->info.batch_first || n->n_input < 1 || !n->input[0]) return false;
    const Onnx__NodeProto *sl = rnnck__onnx_producer(rn->scope, n->input[0], NULL);
    if (n->n_input > 4 && n->input[4] && *n->input[4]) return reversed_by_length(rn->scope, sl, n->input[4]);
    if (!sl || !sl->op_type || strcmp(sl->op_type, "Slice") || sl->n_input != 5) return false;
    int64_t v[4][2];
    size_t nv[4];
    static const char *const what[4] = {"starts", "ends", "axes", "steps"};
    for (int i = 0; i < 4; i++) {
        if (!sl->input[i + 1] || !*sl->input[i + 1]) return false;
        rnnck__err_clear();
        if (rnnck__onnx_const_ints(&r->ctx, rn->scope, sl->input[i + 1], what[i], v[i], 2, &nv[i]) || nv[i] != 1) {
            rnnck__err_clear();
            return false;
        }
    }
    return v[0][0] == -1 && v[1][0] <= -((int64_t)1 << 31) && v[2][0] == 0 && v[3][0] == -1;
}

/* ------------------------------------------------- Bidirectional merges */

/* The recurrent node (reader index) whose Y [T, 2, B, H] the Split node sp
 * divides into its two directions (axis 1, two equal outputs), else -1.
 * A layout=1 node's Y is [B, T, 2, H], where axis 1 is time: never. */
static long split_directions(const reader *r, const rnnck__onnx_scope *s, const Onnx__NodeProto *sp) {
    if (!sp || !sp->op_type || strcmp(sp->op_type, "Split") || sp->n_input != 1 || sp->n_output != 2 ||
        !sp->input[0] || !attr_int_is(sp, "axis", 1) || rnnck__onnx_attr(sp, "split"))
        return -1;
    size_t pos;
    const Onnx__NodeProto *src = rnnck__onnx_producer(s, sp->input[0], &pos);
    if (!src || !is_recurrent(src) || src->n_output < 1 || !src->output[0] || strcmp(src->output[0], sp->input[0]))
        return -1;
    long i = s->index->rnode_of[pos];
    return i >= 0 && r->nodes[i].dirs == 2 && !r->nodes[i].info.batch_first ? i : -1;
}

/* For Add / Mul of (y_f, y_r), the two outputs of one split_directions in
 * that order: the recurrent node, else -1. */
static long combines_directions(const reader *r, const rnnck__onnx_scope *s, const Onnx__NodeProto *n) {
    if (!n || !n->op_type || (strcmp(n->op_type, "Add") && strcmp(n->op_type, "Mul")) || n->n_input != 2 ||
        !n->input[0] || !n->input[1])
        return -1;
    const Onnx__NodeProto *sp = rnnck__onnx_producer(s, n->input[0], NULL);
    if (!sp || sp != rnnck__onnx_producer(s, n->input[1], NULL) || sp->n_output != 2 || !sp->output[0] ||
        !sp->output[1] || strcmp(sp->output[0], n->input[0]) || strcmp(sp->output[1], n->input[1]))
        return -1;
    return split_directions(r, s, sp);
}

/* Whether `name` is an initializer of one element equal to 2 (its dims are
 * checked before anything is decoded, so many Div nodes naming one large
 * tensor cost nothing). */
static bool is_const_two(const reader *r, const rnnck__onnx_scope *s, const char *name) {
    const Onnx__TensorProto *tp = rnnck__onnx_initializer(s, name);
    if (!tp) return false;
    for (size_t k = 0; k < tp->n_dims; k++)
        if (tp->dims[k] != 1) return false;
    rnnck_tensor *t = NULL;
    rnnck__err_clear();
    if (rnnck__onnx_tensor_decode(&r->ctx, tp, "merge", &t)) {
        rnnck__err_clear();
        return false;
    }
    double v = 0;
    if (rnnck_tensor_numel(t) == 1) {
        const void *p = rnnck_tensor_cdata(t);
        switch (rnnck_tensor_dtype(t)) {
        case RNNCK_F32: v = *(const float *)p; break;
        case RNNCK_F64: v = *(const double *)p; break;
        case RNNCK_F16: v = rnnck__f16_to_f32(*(const uint16_t *)p); break;
        default: break;
        }
    }
    rnnck_tensor_free(t);
    return v == 2.0;
}

/* Marks the merges rnnck's writer puts after a Keras Bidirectional layer:
 * Split of Y into its directions (none), then Add (sum), Mul (mul), or Add
 * and Div by 2 (ave). One pass over the graph's nodes, every name resolved
 * through the hashed index. */
static void mark_merges(reader *r, const rnnck__onnx_scope *s) {
    for (size_t k = 0; k < s->graph->n_node; k++) {
        const Onnx__NodeProto *n = s->graph->node[k];
        long i;
        if (!n->op_type) continue;
        if ((i = split_directions(r, s, n)) >= 0) r->nodes[i].merge_ops |= RNNCK__ONNX_MERGE_SPLIT;
        else if ((i = combines_directions(r, s, n)) >= 0)
            r->nodes[i].merge_ops |= strcmp(n->op_type, "Mul") ? RNNCK__ONNX_MERGE_ADD : RNNCK__ONNX_MERGE_MUL;
        else if (!strcmp(n->op_type, "Div") && n->n_input == 2 && n->input[0] && n->input[1] &&
                 (i = combines_directions(r, s, rnnck__onnx_producer(s, n->input[0], NULL))) >= 0 &&
                 !strcmp(rnnck__onnx_producer(s, n->input[0], NULL)->op_type, "Add") && is_const_two(r, s, n->input[1]))
            r->nodes[i].merge_ops |= RNNCK__ONNX_MERGE_DIV2;
    }
}

/* The merge mode the marks make; concat when they are none or mixed. */
static rnnck_merge_mode merge_of(unsigned ops) {
    switch (ops & ~(unsigned)RNNCK__ONNX_MERGE_SPLIT) {
    case 0: return ops ? RNNCK_MERGE_NONE : RNNCK_MERGE_CONCAT;
    case RNNCK__ONNX_MERGE_ADD: return RNNCK_MERGE_SUM;
    case RNNCK__ONNX_MERGE_MUL: return RNNCK_MERGE_MUL;
    case RNNCK__ONNX_MERGE_ADD | RNNCK__ONNX_MERGE_DIV2: return RNNCK_MERGE_AVE;
    default: return RNNCK_MERGE_CONCAT;
    }
}

static rnnck_status add_module(reader *r, rnnck_model *m, size_t h) {
    rnnck__onnx_rnode *first = &r->nodes[h];
    rnnck_module_info info = first->info;
    info.name = first->name;
    info.num_layers = 0;
    for (long k = (long)h; k >= 0; k = r->nodes[k].next) {
        info.num_layers++;
        info.bias |= r->nodes[k].B != NULL;
        info.peepholes |= r->nodes[k].P != NULL;
    }
    if (info.num_layers == 1 && reads_time_reversed(r, first)) info.reverse = info.output_reversed = 1;
    if (info.num_layers == 1 && first->dirs == 2) info.merge_mode = merge_of(first->merge_ops);
    rnnck_status st = rnnck_model_add_module(m, &info);
    if (st) {
        rnnck__err_prefix("%s: node '%.200s'", r->ctx.file, rnnck__onnx_node_label(first->node));
        return st;
    }
    size_t mod = rnnck_model_module_count(m) - 1;
    const rnnck__gate_layout *onnx = rnnck__gate_layout_find("onnx", info.cell);
    const rnnck__gate_layout *pt = rnnck__gate_layout_find("pytorch", info.cell);
    size_t es = rnnck_dtype_size(info.dtype), H = (size_t)info.hidden_size, G = (size_t)rnnck_cell_gates(info.cell);
    int64_t layer = 0;
    for (long k = (long)h; k >= 0 && !st; k = r->nodes[k].next, layer++) {
        const rnnck__onnx_rnode *n = &r->nodes[k];
        size_t I = (size_t)n->info.input_size;
        for (int d = 0; d < n->dirs && !st; d++) {
            st = put_blocks(m, mod, RNNCK_PARAM_WEIGHT_IH, layer, d, n->W, d * G * H * I * es, onnx, pt, H, I * es);
            if (!st) st = put_blocks(m, mod, RNNCK_PARAM_WEIGHT_HH, layer, d, n->R, d * G * H * H * es, onnx, pt, H, H * es);
            if (!st && n->B) {
                size_t off = d * 2 * G * H * es;
                st = put_blocks(m, mod, RNNCK_PARAM_BIAS_IH, layer, d, n->B, off, onnx, pt, H, es);
                if (!st) st = put_blocks(m, mod, RNNCK_PARAM_BIAS_HH, layer, d, n->B, off + G * H * es, onnx, pt, H, es);
            }
            if (!st && n->P) {
                rnnck_tensor *p;
                st = rnnck_model_param(m, mod, RNNCK_PARAM_PEEPHOLE, layer, d, &p);
                if (!st)
                    st = rnnck__gate_reorder(rnnck_tensor_data(p),
                                             (const unsigned char *)rnnck_tensor_cdata(n->P) + d * 3 * H * es,
                                             rnnck__peephole_order("onnx"), rnnck__peephole_order("pytorch"), H, es);
            }
        }
    }
    return st;
}

rnnck_status rnnck__onnx_read(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "onnx reader: NULL argument");
    if (opts && opts->sets && opts->sets[0])
        return rnnck__err(RNNCK_E_USAGE, "%s: an ONNX model states its semantics; overrides are not accepted", path);
    reader r = {0};
    r.ctx.file = path;
    if (opts && opts->limits) r.ctx.limits = *opts->limits;
    else rnnck_limits_init(&r.ctx.limits);
    char *dirc = rnnck__strdup(path);
    if (!dirc) return rnnck__oom();
    char *slash = strrchr(dirc, '/');
    if (slash == dirc) slash[1] = 0;
    else if (slash) *slash = 0;
    r.ctx.dir = realpath(slash ? dirc : ".", NULL);
    free(dirc);
    if (!r.ctx.dir) return rnnck__err(RNNCK_E_IO, "%s: cannot resolve the model's folder", path);
    Onnx__ModelProto *mp = NULL;
    rnnck_model *m = NULL;
    rnnck_status st = rnnck__onnx_load(path, &mp);
    rnnck__onnx_scope main_scope = {mp ? mp->graph : NULL, NULL, "", NULL};
    if (!st) st = rnnck__strmap_init(&r.names, 16, true);
    if (!st) st = rnnck__strmap_init(&r.prefixes, 16, true);
    if (!st) st = rnnck__strmap_init(&r.next_suffix, 16, true);
    if (!st) st = rnnck__onnx_index_new(main_scope.graph, &main_scope.index);
    if (!st) st = walk(&r, &main_scope, 0);
    if (!st && r.count == 0)
        st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: no LSTM, GRU or RNN node in the graph or its subgraphs (recurrent "
                        "layers lowered to Loop or Scan are not recognised)", path);
    if (!st) {
        mark_merges(&r, &main_scope);
        for (size_t k = 0; k < r.nscopes; k++) mark_merges(&r, r.scopes[k]);
        link_stacks(&r);
        for (size_t h = 0; h < r.count && !st; h++)
            if (r.nodes[h].prev < 0) st = name_module(&r, h);
    }
    if (!st) st = rnnck_model_new(&m);
    for (size_t h = 0; h < r.count && !st; h++)
        if (r.nodes[h].prev < 0) st = add_module(&r, m, h);
    for (size_t k = 0; k < r.count; k++) rnnck__onnx_rnode_free(&r.nodes[k]);
    free(r.nodes);
    for (size_t k = 0; k < r.nscopes; k++) {
        free((char *)r.scopes[k]->path);
        rnnck__onnx_index_free(r.scopes[k]->index);
        free(r.scopes[k]);
    }
    free(r.scopes);
    rnnck__onnx_index_free(main_scope.index);
    rnnck__strmap_free(&r.names);
    rnnck__strmap_free(&r.prefixes);
    rnnck__strmap_free(&r.next_suffix);
    free(r.ctx.dir);
    if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    if (st) {
        rnnck_model_free(m);
        return st;
    }
    *out = m;
    return RNNCK_OK;
}
