/* Diagnosis: when A and B disagree, try the conversion mistakes that occur
 * in practice, each on a private copy of one module, and keep those that
 * make the two agree. A mistake whose inverse is known (gate permutation,
 * transposition, swapped directions or layers, a bias folded twice, the
 * other GRU reset placement or gate activation) is undone on B; a mistake
 * that loses information (a dropped bias) is repeated on A. */
#include "validate/validate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rnnck__finding_list_free(rnnck__finding_list *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->texts[i]);
    free(l->texts);
    free(l->items);
    memset(l, 0, sizeof *l);
}

const char *rnnck_mistake_name(rnnck_mistake kind) {
    static const char *const names[] = {"gate-order", "transposed", "directions", "layer-order",
                                        "bias",       "gru-reset",  "activation"};
    return (unsigned)kind < sizeof names / sizeof *names ? names[kind] : "invalid";
}

/* A and B and their outputs on the diagnosis input. */
typedef struct diag_side {
    rnnck_model *a, *b;
    size_t ma, mb;
    rnnck__run_out ref_a, ref_b;
} diag_side;

typedef struct diag {
    /* full: the modules as given. part: copies truncated after the first
     * layer that disagrees, where candidates are searched cheaply; a
     * candidate that works there is confirmed on the full modules. */
    diag_side full, part;
    int has_part;
    const rnnck_module_info *ia, *ib; /* the full descriptions */
    int64_t first_layer;              /* first layer that disagrees */
    unsigned dir_mask;                /* its disagreeing directions: bit 0 forward, 1 reverse */
    rnnck__case input;
    rnnck_dtype compute;
    rnnck_forward_opts fwd; /* compute and the caller's thread count */
    rnnck__tol tol;
    double before, part_before;
    int64_t runs;
    /* candidates tried so far, for the "closest" report */
    rnnck_finding best;
    double best_ratio;
    char best_text[400];
    int have_best;
    rnnck__finding_list *list;
} diag;

/* A transformation of a one-module copy (module 0). */
typedef rnnck_status (*xform_fn)(rnnck_model *m, const void *arg);

/* Largest |x-y| over output, h_n and c_n; *pass when all within tolerance. */
static double run_distance(const rnnck__run_out *x, const rnnck__run_out *y, const rnnck__tol *tol, int *pass) {
    int p1 = 1, p2 = 1, p3 = 1;
    double m = rnnck__max_abs(x->y, y->y, x->T * x->B * x->width, tol, &p1);
    double h = rnnck__max_abs(x->h, y->h, x->L * x->D * x->B * x->H_out, tol, &p2);
    if (h > m) m = h;
    if (x->c && y->c) {
        double c = rnnck__max_abs(x->c, y->c, x->L * x->D * x->B * x->H, tol, &p3);
        if (c > m) m = c;
    }
    *pass = p1 && p2 && p3;
    return m;
}

static rnnck_status add_finding(diag *g, const rnnck_finding *f, const char *text) {
    rnnck__finding_list *l = g->list;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        rnnck_finding *items = realloc(l->items, cap * sizeof *items);
        if (!items) return rnnck__oom();
        l->items = items;
        char **texts = realloc(l->texts, cap * sizeof *texts);
        if (!texts) return rnnck__oom();
        l->texts = texts;
        l->cap = cap;
    }
    char *t = rnnck__strdup(text);
    if (!t) return rnnck__oom();
    l->items[l->n] = *f;
    l->items[l->n].text = t;
    l->texts[l->n] = t;
    l->n++;
    return RNNCK_OK;
}

/* Applies fn to a copy of A (on_a) or B of side s, with description `info`
 * (NULL = unchanged; its num_layers is truncated to the side's), runs it and
 * measures the distance to the other side. *applies is 0 when the candidate
 * does not fit the module's shapes. */
static rnnck_status run_candidate(diag *g, const diag_side *s, int on_a, const rnnck_module_info *info, xform_fn fn,
                                  const void *arg, int *applies, double *after, int *pass) {
    rnnck_model *copy;
    const rnnck_module_info *own = rnnck_model_module(on_a ? s->a : s->b, on_a ? s->ma : s->mb);
    rnnck_module_info ni;
    if (info) {
        ni = *info;
        ni.num_layers = own->num_layers;
    }
    rnnck_status st = rnnck__module_copy(on_a ? s->a : s->b, on_a ? s->ma : s->mb, info ? &ni : NULL, 0, &copy);
    if (st) return st;
    if (fn) st = fn(copy, arg);
    *applies = st != RNNCK_E_USAGE;
    if (!*applies) { /* the candidate does not fit this shape */
        rnnck_model_free(copy);
        rnnck__err_clear();
        return RNNCK_OK;
    }
    rnnck__run_out r = {0};
    if (!st) st = rnnck__run_case(copy, 0, &g->input, &g->fwd, &r);
    rnnck_model_free(copy);
    if (st) return st;
    g->runs++;
    *after = on_a ? run_distance(&r, &s->ref_b, &g->tol, pass) : run_distance(&s->ref_a, &r, &g->tol, pass);
    rnnck__run_out_free(&r);
    return RNNCK_OK;
}

/* Keeps the candidate that removes the largest share of the error, as a
 * lead for when nothing explains the mismatch exactly. */
static void consider_lead(diag *g, rnnck_finding f, const char *text) {
    double ratio = f.max_abs_before > 0 ? f.max_abs_after / f.max_abs_before : 1.0;
    if (isnan(ratio)) ratio = 1.0;
    if (g->have_best && ratio >= g->best_ratio) return;
    g->best = f;
    g->best_ratio = ratio;
    snprintf(g->best_text, sizeof g->best_text, "%s", text);
    g->have_best = 1;
}

/* Tries one candidate (on the truncated modules unless use_full) and records
 * a finding if it explains the mismatch. */
static rnnck_status try_candidate_on(diag *g, int use_full, int on_a, const rnnck_module_info *info, xform_fn fn,
                                     const void *arg, rnnck_mistake kind, rnnck__where w, const char *text) {
    int applies, pass;
    double after;
    int on_part = !use_full && g->has_part;
    rnnck_status st = run_candidate(g, on_part ? &g->part : &g->full, on_a, info, fn, arg, &applies, &after, &pass);
    if (st || !applies) return st;
    char note[400];
    if (on_part) {
        if (!pass) {
            snprintf(note, sizeof note, "%s (measured up to layer %lld)", text, (long long)g->first_layer);
            consider_lead(g, (rnnck_finding){kind, w.layer, w.reverse, 0, g->part_before, after, NULL}, note);
            return RNNCK_OK;
        }
        /* Agreement up to the first bad layer: does it hold for the whole module? */
        st = run_candidate(g, &g->full, on_a, info, fn, arg, &applies, &after, &pass);
        if (st) return st;
        if (!pass) {
            snprintf(note, sizeof note, "%s; layers above %lld still differ", text, (long long)g->first_layer);
            text = note;
        }
    }
    rnnck_finding f = {kind, w.layer, w.reverse, pass, g->before, after, NULL};
    if (pass) return add_finding(g, &f, text);
    consider_lead(g, f, text);
    return RNNCK_OK;
}

static rnnck_status try_candidate(diag *g, int on_a, const rnnck_module_info *info, xform_fn fn, const void *arg,
                                  rnnck_mistake kind, rnnck__where w, const char *text) {
    return try_candidate_on(g, 0, on_a, info, fn, arg, kind, w, text);
}

/* " (layer 1, reverse direction)" or "" for the whole module. */
static void where_text(rnnck__where w, int bidirectional, char *buf, size_t n) {
    if (w.layer < 0 && w.reverse < 0) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, n, " (layer %lld%s)", (long long)w.layer,
             !bidirectional ? "" : w.reverse ? ", reverse direction" : ", forward direction");
}

/* ------------------------------------------------------------ candidates */

typedef struct perm_arg {
    rnnck__where w;
    int dst[4];
} perm_arg;
static rnnck_status perm_fn(rnnck_model *m, const void *arg) {
    const perm_arg *p = arg;
    return rnnck__apply_gate_perm(m, p->w, p->dst);
}

/* Gate orders other frameworks store, in PyTorch's letters. */
static const char *order_hint(rnnck_cell cell, const char *held) {
    static const struct {
        rnnck_cell cell;
        const char *order, *hint;
    } hints[] = {
        {RNNCK_CELL_LSTM, "iofg", "ONNX's i,o,f,c order"},
        {RNNCK_CELL_LSTM, "figo", "OpenVINO's / TensorRT's f,i,c,o order"},
        {RNNCK_CELL_LSTM, "ifog", "Caffe's / Core ML's i,f,o,g order"},
        {RNNCK_CELL_LSTM, "igfo", "TF1's i,j,f,o order"},
        {RNNCK_CELL_GRU, "zrn", "Keras's / ONNX's z,r,h order"},
        {RNNCK_CELL_GRU, "rnz", "Core ML's r,o,z order"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
        if (hints[i].cell == cell && strcmp(hints[i].order, held) == 0) return hints[i].hint;
    return NULL;
}

/* Next permutation of idx[0..n) in lexicographic order; 0 after the last. */
static int next_perm(int *idx, int n) {
    int i = n - 2;
    while (i >= 0 && idx[i] >= idx[i + 1]) i--;
    if (i < 0) return 0;
    int j = n - 1;
    while (idx[j] <= idx[i]) j--;
    int t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--) {
        t = idx[a];
        idx[a] = idx[b];
        idx[b] = t;
    }
    return 1;
}

static rnnck_status try_gate_orders(diag *g, rnnck__where w) {
    int G = rnnck_cell_gates(g->ib->cell);
    if (G < 2) return RNNCK_OK;
    const char *order = rnnck_cell_gate_order(g->ib->cell);
    int idx[4] = {0, 1, 2, 3};
    rnnck_status st = RNNCK_OK;
    while (!st && next_perm(idx, G)) {
        /* B's stored block k holds gate order[idx[k]]: move it there. */
        perm_arg p = {w, {0}};
        char held[5] = {0}, listed[8] = {0};
        for (int k = 0; k < G; k++) {
            p.dst[k] = idx[k];
            held[k] = order[idx[k]];
            listed[2 * k] = order[idx[k]];
            if (k + 1 < G) listed[2 * k + 1] = ',';
        }
        char loc[64], text[300], torch_order[8] = {0};
        for (int k = 0; k < G; k++) {
            torch_order[2 * k] = order[k];
            if (k + 1 < G) torch_order[2 * k + 1] = ',';
        }
        where_text(w, g->ib->bidirectional, loc, sizeof loc);
        const char *hint = order_hint(g->ib->cell, held);
        snprintf(text, sizeof text, "B matches A if its gate blocks are read as %s%s%s%s (PyTorch's order is %s)%s",
                 listed, hint ? " — " : "", hint ? hint : "", hint ? ", not reordered" : "", torch_order, loc);
        st = try_candidate(g, 0, NULL, perm_fn, &p, RNNCK_MISTAKE_GATE_ORDER, w, text);
    }
    return st;
}

typedef struct mat_arg {
    rnnck__where w;
    int which; /* bit 0 weight_ih, bit 1 weight_hh */
    int blockwise;
} mat_arg;
static rnnck_status transpose_fn(rnnck_model *m, const void *arg) {
    const mat_arg *a = arg;
    rnnck_status st = RNNCK_OK;
    for (int bit = 0; bit < 2 && !st; bit++) {
        if (!(a->which & (1 << bit))) continue;
        rnnck_param kind = bit ? RNNCK_PARAM_WEIGHT_HH : RNNCK_PARAM_WEIGHT_IH;
        st = a->blockwise ? rnnck__apply_block_transpose(m, a->w, kind) : rnnck__apply_reshape_transpose(m, a->w, kind);
    }
    return st;
}

static rnnck_status try_transposes(diag *g, rnnck__where w) {
    static const char *const names[] = {"", "weight_ih", "weight_hh", "weight_ih and weight_hh"};
    char loc[64], text[300];
    where_text(w, g->ib->bidirectional, loc, sizeof loc);
    for (int which = 1; which <= 3; which++)
        for (int blockwise = 0; blockwise < 2; blockwise++) {
            mat_arg a = {w, which, blockwise};
            if (blockwise)
                snprintf(text, sizeof text, "B matches A if every gate block of its %s is transposed%s", names[which],
                         loc);
            else
                snprintf(text, sizeof text,
                         "B matches A if its %s is read as transposed: a (in, G*H) kernel was reshaped to (G*H, in) "
                         "instead of transposed%s",
                         names[which], loc);
            rnnck_status st = try_candidate(g, 0, NULL, transpose_fn, &a, RNNCK_MISTAKE_TRANSPOSED, w, text);
            if (st) return st;
        }
    return RNNCK_OK;
}

static rnnck_status swap_dirs_fn(rnnck_model *m, const void *arg) {
    return rnnck__apply_swap_directions(m, *(const int64_t *)arg);
}
static rnnck_status try_directions(diag *g, int64_t layer) {
    if (!g->ib->bidirectional) return RNNCK_OK;
    char text[200];
    if (layer < 0) snprintf(text, sizeof text, "B matches A if its forward and reverse directions are swapped");
    else
        snprintf(text, sizeof text, "B matches A if its forward and reverse directions are swapped in layer %lld",
                 (long long)layer);
    rnnck__where w = {layer, -1};
    return try_candidate(g, 0, NULL, swap_dirs_fn, &layer, RNNCK_MISTAKE_DIRECTIONS, w, text);
}

static rnnck_status swap_layers_fn(rnnck_model *m, const void *arg) {
    const int64_t *ij = arg;
    return rnnck__apply_swap_layers(m, ij[0], ij[1]);
}
/* Swaps of the first bad layer with a later one, judged on the full
 * modules (a truncated copy lacks the later layer). */
static rnnck_status try_layer_orders(diag *g) {
    int64_t i = g->first_layer;
    for (int64_t j = i + 1; j < g->ib->num_layers; j++) {
        int64_t ij[2] = {i, j};
        char text[200];
        snprintf(text, sizeof text, "B matches A if its layers %lld and %lld are swapped (layers out of order)",
                 (long long)i, (long long)j);
        rnnck__where w = {i, -1};
        rnnck_status st = try_candidate_on(g, 1, 0, NULL, swap_layers_fn, ij, RNNCK_MISTAKE_LAYER_ORDER, w, text);
        if (st) return st;
    }
    return RNNCK_OK;
}

typedef struct bias_arg {
    rnnck__where w;
    int mode; /* 0 zero bias_hh, 1 zero bias_ih, 2 unfold */
} bias_arg;
static rnnck_status bias_fn(rnnck_model *m, const void *arg) {
    const bias_arg *b = arg;
    if (b->mode == 2) return rnnck__apply_unfold_bias(m, b->w);
    return rnnck__apply_zero_bias(m, b->w, b->mode ? RNNCK_PARAM_BIAS_IH : RNNCK_PARAM_BIAS_HH);
}
static rnnck_status try_biases(diag *g, rnnck__where w) {
    if (!g->ia->bias || !g->ib->bias) return RNNCK_OK;
    char loc[64], text[300];
    where_text(w, g->ib->bidirectional, loc, sizeof loc);
    static const char *const what[] = {
        "B matches A once A's bias_hh is dropped: B lost the recurrent bias (fold bias_hh into bias_ih when the "
        "target has one bias)",
        "B matches A once A's bias_ih is dropped: B lost the input bias (fold it into bias_hh when the target has "
        "one bias)",
        "B matches A if bias_hh is subtracted from its bias_ih: the biases were folded into bias_ih but bias_hh was "
        "kept too (counted twice)",
    };
    for (int mode = 0; mode < 3; mode++) {
        bias_arg b = {w, mode};
        snprintf(text, sizeof text, "%s%s", what[mode], loc);
        rnnck_status st = try_candidate(g, mode != 2, NULL, bias_fn, &b, RNNCK_MISTAKE_BIAS, w, text);
        if (st) return st;
    }
    return RNNCK_OK;
}

static rnnck_status try_gru_reset(diag *g) {
    if (g->ib->cell != RNNCK_CELL_GRU) return RNNCK_OK;
    rnnck_module_info info = *g->ib;
    info.linear_before_reset = !info.linear_before_reset;
    char text[300];
    snprintf(text, sizeof text,
             info.linear_before_reset
                 ? "B matches A if its GRU applies the reset gate after the recurrent product (linear_before_reset=1: "
                   "PyTorch, cuDNN, Keras reset_after=True), not before"
                 : "B matches A if its GRU applies the reset gate before the recurrent product (linear_before_reset=0: "
                   "Keras reset_after=False, TF1 GRUCell, ONNX default), not after");
    rnnck__where w = {-1, -1};
    return try_candidate(g, 0, &info, NULL, NULL, RNNCK_MISTAKE_GRU_RESET, w, text);
}

static int same_act(rnnck_activation x, rnnck_activation y) {
    return x.kind == y.kind && (x.kind != RNNCK_ACT_HARD_SIGMOID || (x.alpha == y.alpha && x.beta == y.beta));
}
static void act_text(rnnck_activation a, char *buf, size_t n) {
    if (a.kind == RNNCK_ACT_HARD_SIGMOID && a.alpha == 0.2 && a.beta == 0.5)
        snprintf(buf, n, "Keras 2's hard_sigmoid clip(0.2x+0.5)");
    else if (a.kind == RNNCK_ACT_HARD_SIGMOID && fabs(a.alpha - 1.0 / 6.0) < 1e-12 && a.beta == 0.5)
        snprintf(buf, n, "Keras 3's hard_sigmoid clip(x/6+0.5)");
    else if (a.kind == RNNCK_ACT_HARD_SIGMOID)
        snprintf(buf, n, "HardSigmoid(%g, %g)", a.alpha, a.beta);
    else
        snprintf(buf, n, "%s", rnnck_act_name(a.kind));
}
static rnnck_status try_activations(diag *g) {
    if (g->ib->cell != RNNCK_CELL_LSTM && g->ib->cell != RNNCK_CELL_GRU) return RNNCK_OK;
    const rnnck_activation options[] = {
        {RNNCK_ACT_SIGMOID, 0, 0}, {RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5}, {RNNCK_ACT_HARD_SIGMOID, 1.0 / 6.0, 0.5}};
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        if (same_act(options[i], g->ib->act[0][0])) continue;
        rnnck_module_info info = *g->ib;
        info.act[0][0] = info.act[1][0] = options[i];
        char want[80], has[80], text[300];
        act_text(options[i], want, sizeof want);
        act_text(g->ib->act[0][0], has, sizeof has);
        snprintf(text, sizeof text, "B matches A if its gate activation is %s instead of %s", want, has);
        rnnck__where w = {-1, -1};
        rnnck_status st = try_candidate(g, 0, &info, NULL, NULL, RNNCK_MISTAKE_ACTIVATION, w, text);
        if (st) return st;
    }
    return RNNCK_OK;
}

/* ----------------------------------------------------------------- search */

/* The first layer that disagrees holds the mistake (a layer's outputs
 * depend on it and the layers below only). Mistakes of the whole module
 * (gate order everywhere, activations, GRU reset) show from layer 0. */
static rnnck_status search(diag *g) {
    rnnck__where all = {-1, -1};
    rnnck_status st = RNNCK_OK;
    if (g->first_layer == 0) {
        st = try_gate_orders(g, all);
        if (!st) st = try_transposes(g, all);
        if (!st) st = try_directions(g, -1);
        if (!st) st = try_biases(g, all);
        if (!st) st = try_gru_reset(g);
        if (!st) st = try_activations(g);
    }
    if (!st) st = try_layer_orders(g);
    if (st || g->list->n) return st;
    /* Nothing explains the whole module: a mistake confined to the first bad
     * layer, or to one of its directions. */
    int dirs = g->ib->bidirectional ? 2 : 1;
    if (g->ib->num_layers == 1 && dirs == 1) return RNNCK_OK; /* already tried as "all" */
    int64_t l = g->first_layer;
    if (dirs > 1 && (g->ib->num_layers > 1 || l > 0)) st = try_directions(g, l);
    for (int d = 0; d < dirs && !st; d++) {
        if (!(g->dir_mask & (1u << d))) continue;
        rnnck__where w = {l, d};
        st = try_gate_orders(g, w);
        if (!st) st = try_transposes(g, w);
        if (!st) st = try_biases(g, w);
    }
    /* Every direction of the layer, for mistakes made per layer. */
    if (!st && !g->list->n && dirs > 1) {
        rnnck__where w = {l, -1};
        st = try_gate_orders(g, w);
        if (!st) st = try_transposes(g, w);
        if (!st) st = try_biases(g, w);
    }
    return st;
}

static int by_error(const void *x, const void *y) {
    const rnnck_finding *a = x, *b = y;
    return (a->max_abs_after > b->max_abs_after) - (a->max_abs_after < b->max_abs_after);
}

/* Copies of A and B truncated after `layers` layers, and their outputs. */
static rnnck_status make_part(diag *g, int64_t layers) {
    rnnck_status st = rnnck__module_copy(g->full.a, g->full.ma, NULL, layers, &g->part.a);
    if (!st) st = rnnck__module_copy(g->full.b, g->full.mb, NULL, layers, &g->part.b);
    if (!st) st = rnnck__run_case(g->part.a, 0, &g->input, &g->fwd, &g->part.ref_a);
    if (!st) st = rnnck__run_case(g->part.b, 0, &g->input, &g->fwd, &g->part.ref_b);
    g->runs += 2;
    if (!st) {
        int pass;
        g->part_before = run_distance(&g->part.ref_a, &g->part.ref_b, &g->tol, &pass);
    }
    g->has_part = 1;
    return st;
}

static rnnck_status make_input(diag *g, const rnnck_validate_opts *o) {
    if (o->input) {
        g->input.name = "user";
        rnnck_status st = rnnck__to_time_major(o->input, g->ia->batch_first, g->compute, &g->input.x);
        if (!st) {
            g->input.T = rnnck_tensor_dim(g->input.x, 0);
            g->input.B = rnnck_tensor_dim(g->input.x, 1);
        }
        return st;
    }
    /* A short input with non-zero states exercises every parameter. */
    rnnck_validate_opts short_opts = *o;
    short_opts.seq_len = o->seq_len < 12 ? o->seq_len : 12;
    short_opts.batch = o->batch < 4 ? o->batch : 4;
    short_opts.long_len = 0;
    rnnck__case *cases;
    size_t n;
    rnnck_status st = rnnck__make_battery(g->ia, &short_opts, g->compute, &cases, &n);
    if (st) return st;
    for (size_t i = 0; i < n; i++)
        if (strcmp(cases[i].name, "initial-state") == 0) {
            g->input = cases[i];
            memset(&cases[i], 0, sizeof cases[i]);
        }
    rnnck__cases_free(cases, n);
    return RNNCK_OK;
}

static void free_side(diag_side *s, int owned) {
    rnnck__run_out_free(&s->ref_a);
    rnnck__run_out_free(&s->ref_b);
    if (owned) {
        rnnck_model_free(s->a);
        rnnck_model_free(s->b);
    }
}

rnnck_status rnnck__diagnose(rnnck_model *a, size_t ma, rnnck_model *b, size_t mb, const rnnck_validate_opts *o,
                             rnnck_dtype compute, int64_t first_layer, unsigned dir_mask, rnnck__finding_list *list,
                             int64_t *runs_done) {
    diag g;
    memset(&g, 0, sizeof g);
    g.full = (diag_side){a, b, ma, mb, {0}, {0}};
    g.ia = rnnck_model_module(a, ma);
    g.ib = rnnck_model_module(b, mb);
    g.first_layer = (first_layer >= 0 && first_layer < g.ib->num_layers) ? first_layer : 0;
    g.dir_mask = dir_mask ? dir_mask : 3u;
    g.compute = compute;
    g.fwd = rnnck__validate_fwd(o, compute);
    g.tol = (rnnck__tol){o->atol, o->rtol, compute};
    g.list = list;
    rnnck_status st = make_input(&g, o);
    if (!st) st = rnnck__run_case(a, ma, &g.input, &g.fwd, &g.full.ref_a);
    if (!st) st = rnnck__run_case(b, mb, &g.input, &g.fwd, &g.full.ref_b);
    g.runs = 2;
    if (!st) {
        int pass;
        g.before = run_distance(&g.full.ref_a, &g.full.ref_b, &g.tol, &pass);
    }
    if (!st && g.first_layer + 1 < g.ib->num_layers) st = make_part(&g, g.first_layer + 1);
    if (!st) st = search(&g);
    if (!st && list->n > 1) qsort(list->items, list->n, sizeof *list->items, by_error);
    /* Nothing exact: report the closest candidate if it removes most of the
     * error, as a lead rather than a verdict. */
    if (!st && list->n == 0 && g.have_best && g.best_ratio <= 0.1) st = add_finding(&g, &g.best, g.best_text);
    rnnck__case_free(&g.input);
    free_side(&g.full, 0);
    free_side(&g.part, 1);
    *runs_done = g.runs;
    if (st) rnnck__err_prefix("diagnosing module '%s'", g.ib ? g.ib->name : "?");
    return st;
}
