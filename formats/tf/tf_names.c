/* Which TensorFlow variables are recurrent cells, and how the cells make
 * modules. Names are matched by their last components (the cell's own scope
 * and the variable under it), so any outer scope works:
 *   TF 0.12   .../BasicLSTMCell/Linear/{Matrix,Bias}, .../LSTMCell/{W_0,B,W_*_diag,W_P_0},
 *             .../GRUCell/{Gates,Candidate}/Linear/{Matrix,Bias}, .../BasicRNNCell/Linear/...
 *   TF 1.x    .../{basic_lstm_cell,lstm_cell,cudnn_compatible_lstm_cell}/{kernel,bias}
 *             (TF 1.0 spelt them weights, biases), w_{i,f,o}_diag, projection/kernel;
 *             LSTMBlockCell (TF 1.0 contrib scope LSTMBlockCell/{weights,biases,wci,wcf,wco};
 *             later lstm_cell like LSTMCell); .../gru_cell/{gates,candidate}/{kernel,bias};
 *             .../cudnn_compatible_gru_cell/{gates/..., candidate/{input,hidden}_projection/...};
 *             .../basic_rnn_cell/{kernel,bias}; .../cudnn_{lstm,gru,rnn_tanh,rnn_relu}/opaque_kernel
 *   TF 2      .../cell/{kernel,recurrent_kernel,bias}/.ATTRIBUTES/VARIABLE_VALUE (Keras layers)
 *   tf.keras in TF 1.x graphs: .../{lstm_cell,gru_cell,simple_rnn_cell}/{kernel,recurrent_kernel,bias}
 * Structure, from the components above the cell:
 *   .../MultiRNNCell/CellN, .../multi_rnn_cell/cell_N            layer N of one module
 *   .../bidirectional_rnn/{fw,bw}  (TF 0.12: BiRNN/{FW,BW})       one bidirectional module
 *   .../stack_bidirectional_rnn/cell_N/bidirectional_rnn/{fw,bw}  layer N of one bidirectional module
 *   .../bidirectional_rnn/{fw,bw}/multi_rnn_cell/cell_N           two modules, bw reverse-only
 *   .../{forward_layer,backward_layer}/cell, .../forward_lstm/lstm_cell  Keras Bidirectional
 * Optimizer slots (.../Adam, .../Adam_1, beta1_power, Momentum, RMSProp, TF2
 * .OPTIMIZER_SLOT and optimizer/...) never make a module. */
#include "tf/tf_cells_internal.h"
#include "tf/tf_internal.h" /* rnnck__tf_grow */

#include <stdlib.h>
#include <string.h>

typedef struct pat {
    const char *cell, *tail;
    rnnck_cell kind;
    tf_variant variant;
    tf_role role;
    const char *what;
} pat;

#define L_ RNNCK_CELL_LSTM
#define G_ RNNCK_CELL_GRU
#define R_ RNNCK_CELL_RNN_TANH
#define LSTM1(cell, v, what)                                                                                       \
    {cell, "kernel", L_, v, TFR_KERNEL, what}, {cell, "weights", L_, v, TFR_KERNEL, what},                         \
        {cell, "bias", L_, v, TFR_BIAS, what}, {cell, "biases", L_, v, TFR_BIAS, what},                            \
        {cell, "w_i_diag", L_, v, TFR_WI, what}, {cell, "w_f_diag", L_, v, TFR_WF, what},                          \
        {cell, "w_o_diag", L_, v, TFR_WO, what}, {cell, "projection/kernel", L_, v, TFR_PROJ, what},               \
        {cell, "projection/weights", L_, v, TFR_PROJ, what}

static const pat tf1_pats[] = {
    /* TF 0.12 (rnn_cell.py of r0.12: _linear's Matrix/Bias; LSTMCell's W_0, B, W_P_0) */
    {"BasicLSTMCell", "Linear/Matrix", L_, TFV_BASIC, TFR_KERNEL, "BasicLSTMCell"},
    {"BasicLSTMCell", "Linear/Bias", L_, TFV_BASIC, TFR_BIAS, "BasicLSTMCell"},
    {"LSTMCell", "W_0", L_, TFV_LSTM, TFR_KERNEL, "LSTMCell"},
    {"LSTMCell", "B", L_, TFV_LSTM, TFR_BIAS, "LSTMCell"},
    {"LSTMCell", "W_I_diag", L_, TFV_LSTM, TFR_WI, "LSTMCell"},
    {"LSTMCell", "W_F_diag", L_, TFV_LSTM, TFR_WF, "LSTMCell"},
    {"LSTMCell", "W_O_diag", L_, TFV_LSTM, TFR_WO, "LSTMCell"},
    {"LSTMCell", "W_P_0", L_, TFV_LSTM, TFR_PROJ, "LSTMCell"},
    {"LSTMCell", "W_1", L_, TFV_LSTM, TFR_SHARD, "LSTMCell"},
    {"LSTMCell", "W_P_1", L_, TFV_LSTM, TFR_SHARD, "LSTMCell"},
    {"GRUCell", "Gates/Linear/Matrix", G_, TFV_PLAIN, TFR_GK, "GRUCell"},
    {"GRUCell", "Gates/Linear/Bias", G_, TFV_PLAIN, TFR_GB, "GRUCell"},
    {"GRUCell", "Candidate/Linear/Matrix", G_, TFV_PLAIN, TFR_CK, "GRUCell"},
    {"GRUCell", "Candidate/Linear/Bias", G_, TFV_PLAIN, TFR_CB, "GRUCell"},
    {"BasicRNNCell", "Linear/Matrix", R_, TFV_PLAIN, TFR_KERNEL, "BasicRNNCell"},
    {"BasicRNNCell", "Linear/Bias", R_, TFV_PLAIN, TFR_BIAS, "BasicRNNCell"},
    /* TF 1.x */
    LSTM1("basic_lstm_cell", TFV_BASIC, "BasicLSTMCell"),
    LSTM1("lstm_cell", TFV_LSTM, "LSTMCell/LSTMBlockCell"),
    LSTM1("cudnn_compatible_lstm_cell", TFV_CUDNN, "CudnnCompatibleLSTMCell"),
    /* LSTMBlockFusedCell: "variable naming consistent with LSTMCell" under its own scope */
    LSTM1("lstm_fused_cell", TFV_LSTM, "LSTMBlockFusedCell"),
    LSTM1("LSTMBlockFusedCell", TFV_LSTM, "LSTMBlockFusedCell"),
    {"LSTMBlockCell", "weights", L_, TFV_LSTM, TFR_KERNEL, "LSTMBlockCell"},
    {"LSTMBlockCell", "biases", L_, TFV_LSTM, TFR_BIAS, "LSTMBlockCell"},
    {"LSTMBlockCell", "wci", L_, TFV_LSTM, TFR_WI, "LSTMBlockCell"},
    {"LSTMBlockCell", "wcf", L_, TFV_LSTM, TFR_WF, "LSTMBlockCell"},
    {"LSTMBlockCell", "wco", L_, TFV_LSTM, TFR_WO, "LSTMBlockCell"},
    {"gru_cell", "gates/kernel", G_, TFV_PLAIN, TFR_GK, "GRUCell"},
    {"gru_cell", "gates/weights", G_, TFV_PLAIN, TFR_GK, "GRUCell"},
    {"gru_cell", "gates/bias", G_, TFV_PLAIN, TFR_GB, "GRUCell"},
    {"gru_cell", "gates/biases", G_, TFV_PLAIN, TFR_GB, "GRUCell"},
    {"gru_cell", "candidate/kernel", G_, TFV_PLAIN, TFR_CK, "GRUCell"},
    {"gru_cell", "candidate/weights", G_, TFV_PLAIN, TFR_CK, "GRUCell"},
    {"gru_cell", "candidate/bias", G_, TFV_PLAIN, TFR_CB, "GRUCell"},
    {"gru_cell", "candidate/biases", G_, TFV_PLAIN, TFR_CB, "GRUCell"},
    {"cudnn_compatible_gru_cell", "gates/kernel", G_, TFV_CUDNN, TFR_GK, "CudnnCompatibleGRUCell"},
    {"cudnn_compatible_gru_cell", "gates/bias", G_, TFV_CUDNN, TFR_GB, "CudnnCompatibleGRUCell"},
    {"cudnn_compatible_gru_cell", "candidate/input_projection/kernel", G_, TFV_CUDNN, TFR_CIK,
     "CudnnCompatibleGRUCell"},
    {"cudnn_compatible_gru_cell", "candidate/input_projection/bias", G_, TFV_CUDNN, TFR_CIB,
     "CudnnCompatibleGRUCell"},
    {"cudnn_compatible_gru_cell", "candidate/hidden_projection/kernel", G_, TFV_CUDNN, TFR_CHK,
     "CudnnCompatibleGRUCell"},
    {"cudnn_compatible_gru_cell", "candidate/hidden_projection/bias", G_, TFV_CUDNN, TFR_CHB,
     "CudnnCompatibleGRUCell"},
    {"basic_rnn_cell", "kernel", R_, TFV_PLAIN, TFR_KERNEL, "BasicRNNCell"},
    {"basic_rnn_cell", "weights", R_, TFV_PLAIN, TFR_KERNEL, "BasicRNNCell"},
    {"basic_rnn_cell", "bias", R_, TFV_PLAIN, TFR_BIAS, "BasicRNNCell"},
    {"basic_rnn_cell", "biases", R_, TFV_PLAIN, TFR_BIAS, "BasicRNNCell"},
    /* tf.keras layers in a TF 1.x graph (tf.train.Saver): the Keras cell's own scope */
    {"lstm_cell", "recurrent_kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_RK, "tf.keras layer"},
    {"gru_cell", "kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_KERNEL, "tf.keras layer"},
    {"gru_cell", "recurrent_kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_RK, "tf.keras layer"},
    {"gru_cell", "bias", RNNCK_CELL_INVALID, TFV_KERAS, TFR_BIAS, "tf.keras layer"},
    {"simple_rnn_cell", "kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_KERNEL, "tf.keras layer"},
    {"simple_rnn_cell", "recurrent_kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_RK, "tf.keras layer"},
    {"simple_rnn_cell", "bias", RNNCK_CELL_INVALID, TFV_KERAS, TFR_BIAS, "tf.keras layer"},
    {"cudnn_lstm", "opaque_kernel", L_, TFV_OPAQUE, TFR_OPAQUE, "CudnnLSTM"},
    {"cudnn_gru", "opaque_kernel", G_, TFV_OPAQUE, TFR_OPAQUE, "CudnnGRU"},
    {"cudnn_rnn_tanh", "opaque_kernel", R_, TFV_OPAQUE, TFR_OPAQUE, "CudnnRNNTanh"},
    {"cudnn_rnn_relu", "opaque_kernel", RNNCK_CELL_RNN_RELU, TFV_OPAQUE, TFR_OPAQUE, "CudnnRNNRelu"},
};

/* TF2 object-based checkpoints: a Keras recurrent layer's cell. */
static const pat tf2_pats[] = {
    {"cell", "kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_KERNEL, "Keras layer"},
    {"cell", "recurrent_kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_RK, "Keras layer"},
    {"cell", "bias", RNNCK_CELL_INVALID, TFV_KERAS, TFR_BIAS, "Keras layer"},
};

static const char TF2_SUFFIX[] = "/.ATTRIBUTES/VARIABLE_VALUE";

/* Length of the scope if name ends with "<cell>/<tail>" at a component
 * boundary (the cell component included), else 0. */
static size_t match(const char *name, size_t len, const pat *p) {
    size_t t = strlen(p->tail), c = strlen(p->cell);
    if (len < c + 1 + t) return 0;
    if (memcmp(name + len - t, p->tail, t) || name[len - t - 1] != '/') return 0;
    size_t start = len - t - 1 - c;
    if (memcmp(name + start, p->cell, c) || (start > 0 && name[start - 1] != '/')) return 0;
    return start + c;
}

static const char *const slot_names[] = {"Adam",     "Adam_1",     "Momentum", "RMSProp", "RMSProp_1",
                                         "Adagrad",  "Adadelta",   "Adadelta_1", "Ftrl",  "Ftrl_1",
                                         "Nadam",    "Nadam_1",    "AdamW",    "AdamW_1", "AdagradDA",
                                         "ProximalAdagrad", "beta1_power", "beta2_power"};

/* Optimizer state: slots of the TF1 optimizers (named after the optimizer
 * under the variable's own name), Adam's beta powers, TF2's .OPTIMIZER_SLOT
 * and optimizer/ objects. */
static bool is_slot(const char *name) {
    if (strstr(name, "/.OPTIMIZER_SLOT/") || !strncmp(name, "optimizer/", 10)) return true;
    const char *last = strrchr(name, '/');
    last = last ? last + 1 : name;
    for (size_t i = 0; i < sizeof slot_names / sizeof *slot_names; i++)
        if (!strcmp(last, slot_names[i])) return true;
    /* beta1_power_1, ... (a second Adam in one graph) */
    return !strncmp(last, "beta1_power_", 12) || !strncmp(last, "beta2_power_", 12);
}

char *rnnck__tf_schema_name(const char *tf_name, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && tf_name[j] != '/') j++;
        size_t s = i;
        while (s < j && tf_name[s] == '.') s++; /* ".ATTRIBUTES" -> "ATTRIBUTES" */
        if (s < j) {
            if (o) out[o++] = '.';
            for (size_t k = s; k < j; k++) {
                unsigned char ch = (unsigned char)tf_name[k];
                out[o++] = ch < 0x20 || ch == 0x7f ? '_' : (char)ch;
                if (ch == '.' && k + 1 < j && tf_name[k + 1] == '.') o--; /* no doubled dots */
            }
            if (out[o - 1] == '.') o--;
        }
        i = j + 1;
    }
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------ structure */

typedef struct comp {
    const char *s;
    size_t n;
} comp;

static bool is(const comp *c, const char *w) { return c->n == strlen(w) && !memcmp(c->s, w, c->n); }
static bool is_dir(const comp *c, int *dir) {
    if (is(c, "fw") || is(c, "FW")) return *dir = 0, true;
    if (is(c, "bw") || is(c, "BW")) return *dir = 1, true;
    return false;
}
static bool is_bidi(const comp *c) { return is(c, "bidirectional_rnn") || is(c, "BiRNN"); }
static bool is_multi(const comp *c) { return is(c, "multi_rnn_cell") || is(c, "MultiRNNCell"); }
/* "cell_N" (TF 1.x) or "CellN" (TF 0.12), N without leading zeros. */
static bool is_layer(const comp *c, int64_t *layer) {
    size_t k = c->n >= 5 && !memcmp(c->s, "cell_", 5) ? 5 : c->n >= 4 && !memcmp(c->s, "Cell", 4) ? 4 : 0;
    if (!k || k == c->n || c->n - k > 4 || (c->s[k] == '0' && c->n - k > 1)) return false;
    int64_t v = 0;
    for (size_t i = k; i < c->n; i++) {
        if (c->s[i] < '0' || c->s[i] > '9') return false;
        v = v * 10 + (c->s[i] - '0');
    }
    *layer = v;
    return true;
}

/* Bytes of the TF path from the start through component k (exclusive end). */
static size_t upto(const comp *cs, size_t k) { return (size_t)(cs[k].s + cs[k].n - cs[0].s); }

typedef struct placement {
    size_t mod_len;  /* TF path of the module: scope[0, mod_len) */
    int64_t layer;
    int dir, bidirectional, stacked, reverse;
    size_t bidi_len; /* fw/bw stacks: the bidirectional_rnn scope; else 0 */
    int opaque;      /* name + ".opaque_kernel" */
    int multi;       /* a MultiRNNCell layer */
} placement;

static void place(const tf_inst *in, const comp *cs, size_t ncomp, placement *p) {
    memset(p, 0, sizeof *p);
    size_t n = ncomp - 1; /* outer components; cs[n] is the cell's own */
    int dir = 0;
    int64_t layer = 0;
    if (in->variant == TFV_OPAQUE) { /* the buffer names it: "m/cudnn_lstm/opaque_kernel" (its
                                        canonical copies live under m/cudnn_lstm/) */
        p->mod_len = upto(cs, n);
        p->opaque = 1;
        return;
    }
    if (in->variant == TFV_KERAS) {
        /* the layer's component: TF2 .../LAYER/cell, tf.keras in TF1 .../LAYER/lstm_cell or
         * .../LAYER; Bidirectional's are forward_X / backward_X (TF2: forward_layer) */
        size_t k = in->whole ? n : n - 1;
        bool fwd = n >= 1 && k >= 1 && k <= n && cs[k].n >= 8 && !memcmp(cs[k].s, "forward_", 8);
        bool bwd = n >= 1 && k >= 1 && k <= n && cs[k].n >= 9 && !memcmp(cs[k].s, "backward_", 9);
        if (fwd || bwd) {
            p->dir = bwd;
            p->bidirectional = 1;
            p->mod_len = upto(cs, k - 1);
        } else {
            p->mod_len = n || in->whole ? upto(cs, k) : upto(cs, n);
        }
        return;
    }
    if (n >= 2 && is_bidi(&cs[n - 2]) && is_dir(&cs[n - 1], &dir)) {
        p->dir = dir;
        p->bidirectional = 1;
        if (n >= 4 && is(&cs[n - 4], "stack_bidirectional_rnn") && is_layer(&cs[n - 3], &layer)) {
            p->stacked = 1;
            p->layer = layer;
            p->mod_len = upto(cs, n - 4);
        } else {
            p->mod_len = upto(cs, n - 2);
        }
    } else if (n >= 2 && is_multi(&cs[n - 2]) && is_layer(&cs[n - 1], &layer)) {
        p->layer = layer;
        p->multi = 1;
        p->mod_len = upto(cs, n - 2);
        if (n >= 4 && is_bidi(&cs[n - 4]) && is_dir(&cs[n - 3], &dir)) {
            p->dir = dir;
            p->reverse = dir;
            p->bidi_len = upto(cs, n - 4);
        }
    } else {
        p->mod_len = upto(cs, n); /* a lone cell: its own scope ("rnn/lstm_cell") */
    }
}

/* ------------------------------------------------------------- gather */

static rnnck_status add_inst(tf_ctx *ctx, const char *scope, size_t slen, const pat *p, size_t *out) {
    uintptr_t found;
    if (rnnck__strmap_get_n(&ctx->inst_by_scope, scope, slen, &found)) {
        tf_inst *in = &ctx->insts[found];
        /* lstm_cell/{kernel,bias} are TF1 LSTMCell's names and a tf.keras
         * LSTM's: a recurrent_kernel beside them says Keras */
        bool keras_rk = p->variant == TFV_KERAS && p->role == TFR_RK && in->variant == TFV_LSTM;
        bool to_keras = in->variant == TFV_KERAS && p->variant == TFV_LSTM &&
                        (p->role == TFR_KERNEL || p->role == TFR_BIAS);
        if (keras_rk) {
            for (int r = TFR_WI; r <= TFR_PROJ; r++)
                if (in->var[r] >= 0)
                    return rnnck__err(RNNCK_E_FORMAT, "%s: cell %.300s has both a Keras recurrent_kernel and "
                                      "LSTMCell variables", ctx->label, in->scope);
            in->cell = RNNCK_CELL_INVALID;
            in->variant = TFV_KERAS;
            in->what = p->what;
        } else if (!to_keras && (in->cell != p->kind || in->variant != p->variant))
            return rnnck__err(RNNCK_E_FORMAT, "%s: scope %.300s holds variables of two cell kinds", ctx->label,
                              in->scope);
        *out = (size_t)found;
        return RNNCK_OK;
    }
    rnnck_status st = rnnck__tf_grow((void **)&ctx->insts, &ctx->instcap, ctx->ninsts, sizeof *ctx->insts);
    if (st) return st;
    tf_inst *in = &ctx->insts[ctx->ninsts];
    memset(in, 0, sizeof *in);
    for (int r = 0; r < TFR_COUNT_; r++) in->var[r] = -1;
    in->scope = malloc(slen + 1);
    if (!in->scope) return rnnck__oom();
    memcpy(in->scope, scope, slen);
    in->scope[slen] = 0;
    in->cell = p->kind;
    in->variant = p->variant;
    in->what = p->what;
    st = rnnck__strmap_add(&ctx->inst_by_scope, in->scope, ctx->ninsts, NULL);
    if (st) {
        free(in->scope);
        return st;
    }
    *out = ctx->ninsts++;
    return RNNCK_OK;
}

static rnnck_status new_mod(tf_ctx *ctx, char *name, size_t *out) {
    rnnck_status st = rnnck__tf_grow((void **)&ctx->mods, &ctx->modcap, ctx->nmods, sizeof *ctx->mods);
    if (st) {
        free(name);
        return st;
    }
    tf_mod *m = &ctx->mods[ctx->nmods];
    memset(m, 0, sizeof *m);
    m->name = name;
    m->set_bidi = m->batch_first = m->rec_act = m->nonlin = -1;
    st = rnnck__strmap_add(&ctx->mod_by_name, name, ctx->nmods, NULL);
    if (st) {
        free(name);
        return st;
    }
    *out = ctx->nmods++;
    return RNNCK_OK;
}

/* Splits a scope into components (at most RNNCK__MAX_LAYERS + a few is
 * plenty; names are bounded by the caller). */
static rnnck_status split(const char *s, comp **out, size_t *n) {
    size_t k = 1;
    for (const char *p = s; *p; p++) k += *p == '/';
    comp *cs = malloc(k * sizeof *cs);
    if (!cs) return rnnck__oom();
    size_t i = 0;
    const char *start = s;
    for (const char *p = s;; p++)
        if (*p == '/' || !*p) {
            cs[i++] = (comp){start, (size_t)(p - start)};
            if (!*p) break;
            start = p + 1;
        }
    *out = cs;
    *n = i;
    return RNNCK_OK;
}

/* Places instance i into its module (created on first sight). */
static rnnck_status assign(tf_ctx *ctx, size_t i) {
    tf_inst *in = &ctx->insts[i];
    comp *cs = NULL;
    size_t ncomp = 0;
    rnnck_status st = split(in->scope, &cs, &ncomp);
    if (st) return st;
    placement p;
    place(in, cs, ncomp, &p);
    free(cs);
    char *name = rnnck__tf_schema_name(in->scope, p.mod_len);
    if (name && p.opaque) {
        char *o = *name ? rnnck__asprintf("%s.opaque_kernel", name) : NULL;
        free(name);
        name = o;
    }
    if (!name) return rnnck__oom();
    if (!*name) {
        free(name);
        return rnnck__err(RNNCK_E_FORMAT, "%s: cell scope %.300s gives no module name", ctx->label, in->scope);
    }
    uintptr_t found;
    size_t mi;
    if (rnnck__strmap_get(&ctx->mod_by_name, name, &found)) {
        free(name);
        mi = (size_t)found;
    } else {
        if ((st = new_mod(ctx, name, &mi))) return st;
        tf_mod *m = &ctx->mods[mi];
        m->cell = in->cell;
        m->variant = in->variant;
        m->bidirectional = p.bidirectional;
        m->stacked = p.stacked;
        m->reverse = p.reverse;
        m->dir = p.dir;
        m->multi = p.multi;
        if (p.bidi_len) {
            m->bidi_scope = rnnck__tf_schema_name(in->scope, p.bidi_len);
            if (!m->bidi_scope) return rnnck__oom();
        }
    }
    tf_mod *m = &ctx->mods[mi];
    if (m->multi && p.multi && (m->cell != in->cell || m->variant != in->variant))
        m->unlike = 1; /* a MultiRNNCell of different cells: one module per layer */
    else if (m->cell != in->cell || m->variant != in->variant)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s mixes cells (%s under %.300s): rnnck makes one module of "
                          "like cells only", ctx->label, m->name, in->what, in->scope);
    if (m->bidirectional != p.bidirectional || m->stacked != p.stacked || m->reverse != p.reverse)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: cell %.300s is placed unlike the module's other cells",
                          ctx->label, m->name, in->scope);
    if (p.layer >= RNNCK__MAX_LAYERS)
        return rnnck__err(RNNCK_E_FORMAT, "%s: cell %.300s: layer %lld (at most %d)", ctx->label, in->scope,
                          (long long)p.layer, RNNCK__MAX_LAYERS);
    in->module = mi;
    in->layer = p.layer;
    in->dir = p.bidirectional ? p.dir : 0;
    if (p.layer + 1 > m->nlayers) m->nlayers = p.layer + 1;
    m->ninst++;
    return RNNCK_OK;
}

/* The bw twin of a fw stack: the same name with the direction component
 * swapped. */
static char *twin_name(const tf_mod *m) {
    size_t b = strlen(m->bidi_scope);
    const char *dirc = m->name + b + 1; /* "fw.multi_rnn_cell" */
    const char *rest = strchr(dirc, '.');
    const char *other = dirc[0] == 'f' ? "bw" : dirc[0] == 'F' ? "BW" : dirc[0] == 'b' ? "fw" : "FW";
    return rnnck__asprintf("%s.%s%s", m->bidi_scope, other, rest ? rest : "");
}

/* What must agree between the layers of one module: cell, variant, the
 * hidden width, the projection, peepholes. */
static void signature(const tf_ctx *ctx, const tf_inst *in, int64_t sig[5]) {
    tf_role h = in->cell == RNNCK_CELL_GRU ? (in->variant == TFV_CUDNN ? TFR_CHK : TFR_CK) : TFR_KERNEL;
    const rnnck_tensor *t = in->var[h] >= 0 ? ctx->vars->items[in->var[h]].t : NULL;
    const rnnck_tensor *p = in->var[TFR_PROJ] >= 0 ? ctx->vars->items[in->var[TFR_PROJ]].t : NULL;
    sig[0] = in->cell;
    sig[1] = in->variant;
    sig[2] = t && rnnck_tensor_ndim(t) == 2 ? rnnck_tensor_dim(t, 1) : -1;
    sig[3] = p && rnnck_tensor_ndim(p) == 2 ? rnnck_tensor_dim(p, 1) : 0;
    sig[4] = in->var[TFR_WI] >= 0;
}

/* A MultiRNNCell whose layers differ (kind or sizes) is no multi-layer
 * module: each layer becomes a module named after its own scope
 * ("rnn.multi_rnn_cell.cell_1"), fed one into the next. */
static rnnck_status split_unlike(tf_ctx *ctx) {
    size_t n0 = ctx->nmods;
    for (size_t mi = 0; mi < n0; mi++) {
        tf_mod *m = &ctx->mods[mi];
        if (!m->multi || m->nlayers < 2) continue;
        bool same = !m->unlike;
        int64_t s0[5], s[5];
        signature(ctx, &ctx->insts[m->slot[0]], s0);
        for (int64_t l = 1; l < m->nlayers && same; l++) {
            signature(ctx, &ctx->insts[m->slot[l * 2]], s);
            same = !memcmp(s, s0, sizeof s);
        }
        if (same) continue;
        if (m->bidi_scope)
            return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: module %s: bidirectional_rnn around MultiRNNCells of unlike "
                              "layers is not supported", ctx->label, m->name);
        m->dead = 1;
        for (int64_t l = 0; l < m->nlayers; l++) {
            long ii = ctx->mods[mi].slot[l * 2];
            tf_inst *in = &ctx->insts[ii];
            const char *end = strrchr(in->scope, '/'), *beg = end; /* the layer's component */
            while (beg > in->scope && beg[-1] != '/') beg--;
            char *nm = rnnck__asprintf("%s.%.*s", ctx->mods[mi].name, (int)(end - beg), beg);
            if (!nm) return rnnck__oom();
            if (rnnck__strmap_get(&ctx->mod_by_name, nm, NULL)) {
                rnnck_status st = rnnck__err(RNNCK_E_FORMAT, "%s: module name %s is taken twice", ctx->label, nm);
                free(nm);
                return st;
            }
            size_t ni;
            rnnck_status st = new_mod(ctx, nm, &ni);
            if (st) return st;
            tf_mod *t = &ctx->mods[ni];
            t->cell = in->cell;
            t->variant = in->variant;
            t->reverse = ctx->mods[mi].reverse;
            t->nlayers = 1;
            t->ninst = 1;
            t->slot = malloc(2 * sizeof *t->slot);
            if (!t->slot) return rnnck__oom();
            t->slot[0] = ii;
            t->slot[1] = -1;
            in->module = ni;
            in->layer = 0;
        }
    }
    return RNNCK_OK;
}

static rnnck_status fill_slots(tf_ctx *ctx) {
    for (size_t mi = 0; mi < ctx->nmods; mi++) {
        tf_mod *m = &ctx->mods[mi];
        /* every layer needs a cell: checked before the table is sized by
         * the highest layer number the names claim */
        if ((size_t)m->nlayers > m->ninst)
            return rnnck__err(RNNCK_E_FORMAT, "%s: module %s names layer %lld but has %zu cells: a layer has no cell",
                              ctx->label, m->name, (long long)(m->nlayers - 1), m->ninst);
        m->slot = malloc((size_t)m->nlayers * 2 * sizeof *m->slot);
        if (!m->slot) return rnnck__oom();
        for (int64_t k = 0; k < m->nlayers * 2; k++) m->slot[k] = -1;
    }
    for (size_t i = 0; i < ctx->ninsts; i++) {
        tf_inst *in = &ctx->insts[i];
        tf_mod *m = &ctx->mods[in->module];
        long *s = &m->slot[in->layer * 2 + in->dir];
        if (*s >= 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: layer %lld%s is given twice (%.300s and %.300s)",
                              ctx->label, m->name, (long long)in->layer, in->dir ? " (bw)" : "",
                              ctx->insts[*s].scope, in->scope);
        *s = (long)i;
    }
    for (size_t mi = 0; mi < ctx->nmods; mi++)
        if (ctx->mods[mi].slot[0] < 0) /* sizes are read from layer 0's forward cell */
            return rnnck__err(RNNCK_E_FORMAT, "%s: module %s has no forward cell for layer 0 (only backward ones)",
                              ctx->label, ctx->mods[mi].name);
    rnnck_status st = split_unlike(ctx);
    if (st) return st;
    /* bidirectional with fw variables only: one cell object was passed as
     * both directions, so both run the same weights */
    size_t n0 = ctx->nmods;
    for (size_t mi = 0; mi < n0; mi++) {
        tf_mod *m = &ctx->mods[mi];
        if (m->bidirectional) {
            bool any_bw = false;
            for (int64_t k = 0; k < m->nlayers; k++) any_bw |= m->slot[k * 2 + 1] >= 0;
            if (!any_bw) {
                m->shared = 1;
                for (int64_t k = 0; k < m->nlayers; k++) m->slot[k * 2 + 1] = m->slot[k * 2];
            }
        } else if (m->bidi_scope && m->dir == 0) {
            char *tw = twin_name(m);
            if (!tw) return rnnck__oom();
            if (rnnck__strmap_get(&ctx->mod_by_name, tw, NULL)) {
                free(tw);
                continue;
            }
            size_t ti;
            if ((st = new_mod(ctx, tw, &ti))) return st;
            m = &ctx->mods[mi]; /* may have moved */
            tf_mod *t = &ctx->mods[ti];
            t->cell = m->cell;
            t->variant = m->variant;
            t->reverse = 1;
            t->dir = 1;
            t->shared = 1;
            t->shared_from = mi;
            t->nlayers = m->nlayers;
            t->slot = malloc((size_t)m->nlayers * 2 * sizeof *t->slot);
            if (!t->slot) return rnnck__oom();
            memcpy(t->slot, m->slot, (size_t)m->nlayers * 2 * sizeof *t->slot);
            m->shared = 1;
        }
    }
    return RNNCK_OK;
}

/* Length of the scope when name ends with "/<tail>" (or is "<tail>"
 * alone: 0 with *hit), else 0. */
static size_t tail_scope(const char *name, size_t len, const char *tail, bool *hit) {
    size_t t = strlen(tail);
    *hit = len > t && !strcmp(name + len - t, tail) && name[len - t - 1] == '/';
    return *hit ? len - t - 1 : 0;
}

/* tf.keras layers whose weights sit right under the layer's scope
 * ("lstm/kernel", "lstm/recurrent_kernel", "lstm/bias"): a scope with a
 * recurrent_kernel makes its kernel and bias a Keras layer's too, where
 * alone they would be a Dense layer's. */
static rnnck_status gather_bare_keras(tf_ctx *ctx) {
    static const pat keras[3] = {{"", "kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_KERNEL, "tf.keras layer"},
                                 {"", "recurrent_kernel", RNNCK_CELL_INVALID, TFV_KERAS, TFR_RK, "tf.keras layer"},
                                 {"", "bias", RNNCK_CELL_INVALID, TFV_KERAS, TFR_BIAS, "tf.keras layer"}};
    rnnck__strmap rk;
    rnnck_status st = rnnck__strmap_init(&rk, 8, true);
    bool hit;
    for (size_t v = 0; v < ctx->vars->n && !st; v++) {
        const char *name = ctx->names[v];
        size_t s = tail_scope(name, strlen(name), "recurrent_kernel", &hit);
        if (ctx->kind[v] || !hit || !s) continue;
        char *scope = malloc(s + 1);
        if (!scope) {
            st = rnnck__oom();
            break;
        }
        memcpy(scope, name, s);
        scope[s] = 0;
        st = rnnck__strmap_add(&rk, scope, 0, NULL); /* the map copies it */
        free(scope);
    }
    for (size_t v = 0; v < ctx->vars->n && !st; v++) {
        const char *name = ctx->names[v];
        size_t len = strlen(name);
        for (int k = 0; k < 3 && !st && !ctx->kind[v]; k++) {
            size_t s = tail_scope(name, len, keras[k].tail, &hit);
            if (!hit || !s || !rnnck__strmap_get_n(&rk, name, s, NULL)) continue;
            size_t ii = 0;
            if ((st = add_inst(ctx, name, s, &keras[k], &ii))) break;
            tf_inst *in = &ctx->insts[ii];
            in->whole = 1;
            if (in->var[keras[k].role] >= 0)
                st = rnnck__err(RNNCK_E_FORMAT, "%s: layer %.300s has two %s variables", ctx->label, in->scope,
                                keras[k].tail);
            in->var[keras[k].role] = (long)v;
            ctx->kind[v] = 2;
        }
    }
    rnnck__strmap_free(&rk);
    return st;
}

rnnck_status rnnck__tf_gather(tf_ctx *ctx) {
    rnnck__sd *sd = ctx->vars;
    rnnck_status st;
    if ((st = rnnck__strmap_init(&ctx->inst_by_scope, 64, false))) return st;
    if ((st = rnnck__strmap_init(&ctx->mod_by_name, 16, false))) return st;
    ctx->names = calloc(sd->n ? sd->n : 1, sizeof *ctx->names);
    ctx->kind = calloc(sd->n ? sd->n : 1, 1);
    if (!ctx->names || !ctx->kind) return rnnck__oom();
    size_t sfx = sizeof TF2_SUFFIX - 1;
    for (size_t v = 0; v < sd->n; v++) {
        const char *full = sd->items[v].name;
        size_t len = strlen(full);
        if (len > 4096)
            return rnnck__err(RNNCK_E_FORMAT, "%s: variable name of %zu bytes (at most 4096): %.60s...", ctx->label,
                              len, full);
        bool tf2 = len > sfx && !strcmp(full + len - sfx, TF2_SUFFIX);
        if (tf2) len -= sfx;
        ctx->names[v] = malloc(len + 1);
        if (!ctx->names[v]) return rnnck__oom();
        memcpy(ctx->names[v], full, len);
        ctx->names[v][len] = 0;
        const char *name = ctx->names[v];
        if (is_slot(full)) {
            ctx->kind[v] = 1;
            continue;
        }
        const pat *pats = tf2 ? tf2_pats : tf1_pats;
        size_t np = tf2 ? sizeof tf2_pats / sizeof *tf2_pats : sizeof tf1_pats / sizeof *tf1_pats;
        for (size_t k = 0; k < np; k++) {
            size_t slen = match(name, len, &pats[k]);
            if (!slen) continue;
            if (pats[k].role == TFR_SHARD)
                return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %.300s: a TF 0.12 LSTMCell kernel in several shards "
                                  "(num_unit_shards > 1) is not supported", ctx->label, full);
            size_t ii = 0;
            if ((st = add_inst(ctx, name, slen, &pats[k], &ii))) return st;
            tf_inst *in = &ctx->insts[ii];
            if (in->var[pats[k].role] >= 0)
                return rnnck__err(RNNCK_E_FORMAT, "%s: cell %.300s has two variables for one role (%.300s and "
                                  "%.300s)", ctx->label, in->scope, sd->items[in->var[pats[k].role]].name, full);
            in->var[pats[k].role] = (long)v;
            ctx->kind[v] = 2;
            break;
        }
    }
    if ((st = gather_bare_keras(ctx))) return st;
    for (size_t i = 0; i < ctx->ninsts; i++)
        if ((st = assign(ctx, i))) return st;
    return fill_slots(ctx);
}

void rnnck__tf_ctx_free(tf_ctx *ctx) {
    for (size_t v = 0; ctx->names && v < ctx->vars->n; v++) free(ctx->names[v]);
    free(ctx->names);
    free(ctx->kind);
    for (size_t i = 0; i < ctx->ninsts; i++) free(ctx->insts[i].scope);
    free(ctx->insts);
    for (size_t i = 0; i < ctx->nmods; i++) {
        free(ctx->mods[i].name);
        free(ctx->mods[i].slot);
        free(ctx->mods[i].bidi_scope);
    }
    free(ctx->mods);
    rnnck__strmap_free(&ctx->inst_by_scope);
    rnnck__strmap_free(&ctx->mod_by_name);
}
