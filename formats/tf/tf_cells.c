/* TensorFlow cells into rnnck modules: sizes from the shapes, overrides from
 * --set, and the maths (docs/GATES.md, "TensorFlow"):
 *  - TF1 LSTM cells: kernel (I+Hp, 4H) over [x; h] (Hp = num_proj or H),
 *    gates i,j,f,o; weight_ih = kernel[:I]^T, weight_hh = kernel[I:]^T, both
 *    reordered to i,f,g,o; bias -> bias_ih (bias_hh zero); w_{i,f,o}_diag ->
 *    peephole (i,f,o); projection/kernel (H, P) -> weight_hr = its transpose;
 *    forget_bias (not stored: 1.0 for BasicLSTMCell, LSTMCell, LSTMBlockCell,
 *    0 for cuDNN) the module's run-time forget_bias.
 *  - GRUCell: gates (r, u) and candidate kernels over [x; h] / [x; r*h]: one
 *    GRU with linear_before_reset = 0 (blocks r, z=u, n=candidate).
 *  - CudnnCompatibleGRUCell: gates (r, u), candidate input and hidden
 *    projections: PyTorch's GRU (reset after, the hidden projection's bias
 *    is bias_hh's n block).
 *  - BasicRNNCell: kernel (I+H, H), tanh.
 *  - cuDNN opaque buffers: the canonical layout (all weights, layer by layer,
 *    fw before bw, G input matrices (H, I_l) then G recurrent (H, H), then
 *    all biases in the same order, G input-side then G recurrent-side), i.e.
 *    PyTorch's own parameters.
 *  - TF2 Keras layers: the Keras rows of the gate-layout table, TF 2's
 *    defaults (sigmoid recurrent activation; GRU reset_after from the bias). */
#include "tf/tf_cells.h"

#include "common/gate_layout.h"
#include "tf/tf_cells_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static rnnck_tensor *var(const tf_ctx *ctx, const tf_inst *in, tf_role r) {
    return in->var[r] >= 0 ? ctx->vars->items[in->var[r]].t : NULL;
}
static const char *vname(const tf_ctx *ctx, const tf_inst *in, tf_role r) {
    return in->var[r] >= 0 ? ctx->vars->items[in->var[r]].name : "?";
}

/* Checks variable r of a cell: present (when `need`), float, the module's
 * dtype, and of shape (d0) or (d0, d1) (d1 < 0: 1-D). */
static rnnck_status check_var(const tf_ctx *ctx, const tf_mod *m, const tf_inst *in, tf_role r, bool need,
                              int64_t d0, int64_t d1, const char *what) {
    rnnck_tensor *t = var(ctx, in, r);
    if (!t) {
        if (!need) return RNNCK_OK;
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: cell %.300s (%s) lacks its %s", ctx->label, m->name,
                          in->scope, in->what, what);
    }
    int nd = d1 < 0 ? 1 : 2;
    int64_t want[2] = {d0, d1};
    char w[64], g[64];
    int64_t s[RNNCK_MAX_DIMS];
    for (int i = 0; i < rnnck_tensor_ndim(t); i++) s[i] = rnnck_tensor_dim(t, i);
    if (rnnck_tensor_ndim(t) != nd || s[0] != d0 || (nd == 2 && s[1] != d1))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s has shape %s, but the %s of module %s needs %s", ctx->label,
                          vname(ctx, in, r), rnnck__shape_str(rnnck_tensor_ndim(t), s, g, sizeof g), what, m->name,
                          rnnck__shape_str(nd, want, w, sizeof w));
    if (rnnck_tensor_dtype(t) != m->info.dtype)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s is %s but module %s's parameters are %s", ctx->label,
                          vname(ctx, in, r), rnnck_dtype_name(rnnck_tensor_dtype(t)), m->name,
                          rnnck_dtype_name(m->info.dtype));
    if (!rnnck_tensor_is_contiguous(t) || !rnnck_tensor_cdata(t))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s is not loaded", ctx->label, vname(ctx, in, r));
    return RNNCK_OK;
}

/* Dimension i of a 2-D variable, or -1. */
static int64_t dim2(const rnnck_tensor *t, int i) { return t && rnnck_tensor_ndim(t) == 2 ? rnnck_tensor_dim(t, i) : -1; }

/* ------------------------------------------------------------ overrides */

static bool parse_size(const char *v, int64_t *out) {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || x < 1 || x > RNNCK__MAX_SIZE) return false;
    *out = x;
    return true;
}

static const char SET_KEYS[] = "forget_bias, batch_first, nonlinearity, recurrent_activation, cell_clip, proj_clip; "
                               "for cuDNN opaque buffers hidden_size, input_size, num_layers, bidirectional";

/* cell_clip / proj_clip: constructor arguments of LSTMCell (both),
 * LSTMBlockCell and LSTMBlockFusedCell (cell_clip), never stored in the
 * checkpoint. V > 0; proj_clip needs num_proj, checked when the sizes are
 * known (finish_info). */
static rnnck_status set_clip(const tf_ctx *ctx, tf_mod *m, const char *set, const char *attr, const char *value) {
    const char *label = ctx->label;
    if (m->cell != RNNCK_CELL_LSTM || m->variant != TFV_LSTM)
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': module %s is not a TF LSTMCell, LSTMBlockCell or "
                          "LSTMBlockFusedCell (only those take %s)", label, set, m->name, attr);
    char *end;
    double x = strtod(value, &end);
    if (!*value || *end || !isfinite(x) || !(x > 0))
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': %s must be a finite number > 0 (TF clips to "
                          "[-%s, %s]; leave it unset for no clipping)", label, set, attr, attr, attr);
    *(attr[0] == 'c' ? &m->cell_clip : &m->proj_clip) = x;
    return RNNCK_OK;
}

static rnnck_status apply_set(tf_ctx *ctx, const char *set) {
    const char *label = ctx->label;
    char key[RNNCK__SET_MAX];
    const char *module, *attr, *value;
    rnnck_status st = rnnck__split_set(set, label, key, &module, &attr, &value);
    if (st) return st;
    uintptr_t found;
    if (!rnnck__strmap_get(&ctx->mod_by_name, module, &found))
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': no recurrent module named '%s'", label, set,
                          module);
    tf_mod *m = &ctx->mods[found];
    if (m->dead)
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': the layers of %s differ, so each is a module of its "
                          "own (%s.cell_N): name one of them", label, set, m->name, m->name);
    bool opaque = m->variant == TFV_OPAQUE;
    int64_t n;
    int b;
    if (!strcmp(attr, "cell_clip") || !strcmp(attr, "proj_clip")) {
        if ((st = set_clip(ctx, m, set, attr, value))) return st;
    } else if (!strcmp(attr, "forget_bias")) {
        char *end;
        double x = strtod(value, &end);
        if (m->cell != RNNCK_CELL_LSTM)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': module %s is not an LSTM", label, set, m->name);
        if (!*value || *end || !isfinite(x))
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': forget_bias must be a finite number", label, set);
        m->has_fb = 1;
        m->forget_bias = x;
    } else if (!strcmp(attr, "batch_first")) {
        if ((b = rnnck__parse_bool(value)) < 0)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': batch_first must be true or false", label, set);
        m->batch_first = b;
    } else if (!strcmp(attr, "nonlinearity")) {
        if (m->cell != RNNCK_CELL_RNN_TANH && !(m->variant == TFV_KERAS))
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': module %s is not a simple RNN", label, set,
                              m->name);
        if (strcmp(value, "tanh") && strcmp(value, "relu"))
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': nonlinearity must be tanh or relu", label, set);
        m->nonlin = value[0] == 'r' ? RNNCK_CELL_RNN_RELU : RNNCK_CELL_RNN_TANH;
    } else if (!strcmp(attr, "recurrent_activation")) {
        if (m->variant != TFV_KERAS)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': recurrent_activation applies to TF2 Keras "
                              "layers only", label, set);
        if (strcmp(value, "sigmoid") && strcmp(value, "hard_sigmoid"))
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': recurrent_activation must be sigmoid or "
                              "hard_sigmoid", label, set);
        m->rec_act = value[0] == 's' ? RNNCK_ACT_SIGMOID : RNNCK_ACT_HARD_SIGMOID;
    } else if (opaque && (!strcmp(attr, "hidden_size") || !strcmp(attr, "input_size") || !strcmp(attr, "num_layers"))) {
        if (!parse_size(value, &n) || (attr[0] == 'n' && n > RNNCK__MAX_LAYERS))
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': %s must be a positive integer", label, set, attr);
        *(attr[0] == 'h' ? &m->set_hidden : attr[0] == 'i' ? &m->set_input : &m->set_layers) = n;
    } else if (opaque && !strcmp(attr, "bidirectional")) {
        if ((b = rnnck__parse_bool(value)) < 0)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': bidirectional must be true or false", label,
                              set);
        m->set_bidi = b;
    } else {
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': unknown attribute '%s' for module %s (%s)", label,
                          set, attr, m->name, SET_KEYS);
    }
    return RNNCK_OK;
}

/* -------------------------------------------------------------- sizes */

/* Sizes and checks of a TF1 cell module; fills m->info. */
static rnnck_status size_tf1(tf_ctx *ctx, tf_mod *m) {
    const tf_inst *first = &ctx->insts[m->slot[0]];
    rnnck_cell cell = m->cell;
    int G = rnnck_cell_gates(cell);
    rnnck_tensor *k0 = cell == RNNCK_CELL_GRU ? var(ctx, first, m->variant == TFV_CUDNN ? TFR_CHK : TFR_CK)
                                              : var(ctx, first, TFR_KERNEL);
    rnnck_tensor *any = k0;
    if (!k0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: cell %.300s (%s) lacks its %s", ctx->label, m->name,
                          first->scope, first->what,
                          cell == RNNCK_CELL_GRU ? (m->variant == TFV_CUDNN ? "candidate/hidden_projection/kernel"
                                                                            : "candidate kernel")
                                                 : "kernel");
    int64_t H = cell == RNNCK_CELL_GRU ? dim2(k0, 1) : dim2(k0, 1) / G;
    if (H < 1 || (cell != RNNCK_CELL_GRU && dim2(k0, 1) % G))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: a %s kernel must be 2-D with a multiple of %d columns",
                          ctx->label, vname(ctx, first, cell == RNNCK_CELL_GRU ? TFR_CK : TFR_KERNEL), first->what, G);
    rnnck_tensor *proj = var(ctx, first, TFR_PROJ);
    int64_t P = proj ? dim2(proj, 1) : 0;
    if (proj && P < 1)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: projection kernel must be 2-D", ctx->label,
                          vname(ctx, first, TFR_PROJ));
    int64_t Hp = P ? P : H;
    int64_t I0 = m->variant == TFV_CUDNN && cell == RNNCK_CELL_GRU ? dim2(var(ctx, first, TFR_CIK), 0)
                                                                   : dim2(k0, 0) - Hp;
    tf_role in_role = cell != RNNCK_CELL_GRU ? TFR_KERNEL : m->variant == TFV_CUDNN ? TFR_CIK : TFR_CK;
    if (!var(ctx, first, in_role))
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: cell %.300s (%s) lacks its candidate input projection kernel",
                          ctx->label, m->name, first->scope, first->what);
    if (I0 < 1)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: kernel rows leave no input (hidden %lld)", ctx->label,
                          vname(ctx, first, in_role), (long long)Hp);
    bool peep = var(ctx, first, TFR_WI) || var(ctx, first, TFR_WF) || var(ctx, first, TFR_WO);
    rnnck_module_info *info = &m->info;
    rnnck_module_info_init(info, cell);
    info->dtype = rnnck_tensor_dtype(any);
    info->hidden_size = H;
    info->input_size = I0;
    info->proj_size = P;
    info->num_layers = m->nlayers;
    info->bidirectional = m->bidirectional;
    info->peepholes = peep;
    info->reverse = m->reverse;
    if (cell == RNNCK_CELL_LSTM) info->forget_bias = m->variant == TFV_CUDNN ? 0.0 : 1.0;
    if (cell == RNNCK_CELL_GRU) info->linear_before_reset = m->variant == TFV_CUDNN;
    int D = m->bidirectional ? 2 : 1;
    rnnck_status st = RNNCK_OK;
    for (int64_t l = 0; l < m->nlayers && !st; l++)
        for (int d = 0; d < D && !st; d++) {
            long s = m->slot[l * 2 + d];
            if (s < 0)
                return rnnck__err(RNNCK_E_FORMAT, "%s: module %s has no cell for layer %lld%s", ctx->label, m->name,
                                  (long long)l, d ? " (bw)" : m->bidirectional ? " (fw)" : "");
            const tf_inst *in = &ctx->insts[s];
            int64_t I = l == 0 ? I0 : (m->stacked ? 2 : 1) * Hp;
            if (cell == RNNCK_CELL_LSTM) {
                if (!(st = check_var(ctx, m, in, TFR_KERNEL, true, I + Hp, 4 * H, "kernel")))
                    st = check_var(ctx, m, in, TFR_BIAS, true, 4 * H, -1, "bias");
                for (int r = TFR_WI; r <= TFR_WO && !st; r++)
                    st = check_var(ctx, m, in, (tf_role)r, peep, H, -1, "peephole weights");
                if (!st && !peep && (var(ctx, in, TFR_WI) || var(ctx, in, TFR_WF) || var(ctx, in, TFR_WO)))
                    st = rnnck__err(RNNCK_E_FORMAT, "%s: module %s: only some cells have peepholes", ctx->label,
                                    m->name);
                if (!st) st = check_var(ctx, m, in, TFR_PROJ, P > 0, H, P, "projection kernel");
                if (!st && !P && var(ctx, in, TFR_PROJ))
                    st = rnnck__err(RNNCK_E_FORMAT, "%s: module %s: only some cells have a projection", ctx->label,
                                    m->name);
            } else if (cell == RNNCK_CELL_GRU && m->variant == TFV_CUDNN) {
                if (!(st = check_var(ctx, m, in, TFR_GK, true, I + H, 2 * H, "gates kernel")))
                    st = check_var(ctx, m, in, TFR_GB, true, 2 * H, -1, "gates bias");
                if (!st) st = check_var(ctx, m, in, TFR_CIK, true, I, H, "candidate input projection kernel");
                if (!st) st = check_var(ctx, m, in, TFR_CIB, true, H, -1, "candidate input projection bias");
                if (!st) st = check_var(ctx, m, in, TFR_CHK, true, H, H, "candidate hidden projection kernel");
                if (!st) st = check_var(ctx, m, in, TFR_CHB, true, H, -1, "candidate hidden projection bias");
            } else if (cell == RNNCK_CELL_GRU) {
                if (!(st = check_var(ctx, m, in, TFR_GK, true, I + H, 2 * H, "gates kernel")))
                    st = check_var(ctx, m, in, TFR_GB, true, 2 * H, -1, "gates bias");
                if (!st) st = check_var(ctx, m, in, TFR_CK, true, I + H, H, "candidate kernel");
                if (!st) st = check_var(ctx, m, in, TFR_CB, true, H, -1, "candidate bias");
            } else {
                if (!(st = check_var(ctx, m, in, TFR_KERNEL, true, I + H, H, "kernel")))
                    st = check_var(ctx, m, in, TFR_BIAS, true, H, -1, "bias");
            }
        }
    return st;
}

/* A Keras layer of a TF2 object checkpoint: the kind from the shapes. */
static rnnck_status size_keras(tf_ctx *ctx, tf_mod *m) {
    const tf_inst *first = &ctx->insts[m->slot[0]];
    rnnck_tensor *rk = var(ctx, first, TFR_RK), *k = var(ctx, first, TFR_KERNEL), *b = var(ctx, first, TFR_BIAS);
    if (!rk || !k)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: Keras layer %.300s lacks its %s", ctx->label, m->name,
                          first->scope, rk ? "kernel" : "recurrent_kernel");
    int64_t H = dim2(rk, 0), GH = dim2(rk, 1);
    int64_t G = H > 0 && GH > 0 && GH % H == 0 ? GH / H : 0;
    m->cell = G == 4 ? RNNCK_CELL_LSTM : G == 3 ? RNNCK_CELL_GRU : G == 1 ? RNNCK_CELL_RNN_TANH : RNNCK_CELL_INVALID;
    if (!m->cell)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: recurrent_kernel of shape (%lld, %lld) is not (H, 4H), "
                          "(H, 3H) or (H, H)", ctx->label, vname(ctx, first, TFR_RK), (long long)H, (long long)GH);
    int64_t I = dim2(k, 0);
    if (I < 1)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: kernel must be 2-D", ctx->label, vname(ctx, first, TFR_KERNEL));
    rnnck_module_info *info = &m->info;
    rnnck_module_info_init(info, m->cell);
    info->dtype = rnnck_tensor_dtype(k);
    info->hidden_size = H;
    info->input_size = I;
    info->bidirectional = m->bidirectional;
    info->bias = b != NULL;
    info->batch_first = 1; /* Keras layers are batch-major (time_major=False) */
    /* tf.keras in TF 1.x defaulted recurrent_activation to hard_sigmoid
     * (clip(0.2x + 0.5)); TF 2 to sigmoid. Object-based names are TF 2's. */
    const char *kname = ctx->vars->items[first->var[TFR_KERNEL]].name;
    size_t kl = strlen(kname), sl = strlen("/.ATTRIBUTES/VARIABLE_VALUE");
    bool tf2 = kl > sl && !strcmp(kname + kl - sl, "/.ATTRIBUTES/VARIABLE_VALUE");
    if (!tf2 && m->cell != RNNCK_CELL_RNN_TANH)
        for (int d = 0; d < 2; d++) info->act[d][0] = (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    /* TF 2's GRU default is reset_after=True: a (2, 3H) bias; (3H) is reset_after=False */
    if (m->cell == RNNCK_CELL_GRU) info->linear_before_reset = !b || rnnck_tensor_ndim(b) == 2;
    int D = m->bidirectional ? 2 : 1;
    rnnck_status st = RNNCK_OK;
    for (int d = 0; d < D && !st; d++) {
        long s = m->slot[d];
        if (s < 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: module %s has no %s layer", ctx->label, m->name,
                              d ? "backward" : "forward");
        const tf_inst *in = &ctx->insts[s];
        if (!(st = check_var(ctx, m, in, TFR_KERNEL, true, I, G * H, "kernel")))
            st = check_var(ctx, m, in, TFR_RK, true, H, G * H, "recurrent_kernel");
        if (!st && m->cell == RNNCK_CELL_GRU && info->linear_before_reset)
            st = check_var(ctx, m, in, TFR_BIAS, info->bias, 2, G * H, "bias (reset_after=True)");
        else if (!st)
            st = check_var(ctx, m, in, TFR_BIAS, info->bias, G * H, -1, "bias");
        if (!st && !info->bias && var(ctx, in, TFR_BIAS))
            st = rnnck__err(RNNCK_E_FORMAT, "%s: module %s: only one direction has a bias", ctx->label, m->name);
    }
    if (m->nlayers != 1)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: internal: Keras layer with layers", ctx->label, m->name);
    return st;
}

/* Elements of a cuDNN canonical buffer for these sizes (0 on overflow). */
static int64_t opaque_count(int G, int64_t L, int D, int64_t H, int64_t I) {
    double c = 0;
    for (int64_t l = 0; l < L; l++) {
        int64_t in = l ? D * H : I;
        c += (double)D * G * H * ((double)in + (double)H + 2);
    }
    return c > 9e15 ? 0 : (int64_t)c;
}

/* Sizes of an opaque buffer: --set, else the sibling module whose canonical
 * copy has exactly this many elements, else refused. */
static rnnck_status size_opaque(tf_ctx *ctx, tf_mod *m) {
    const tf_inst *in = &ctx->insts[m->slot[0]];
    rnnck_tensor *t = var(ctx, in, TFR_OPAQUE);
    int G = rnnck_cell_gates(m->cell);
    if (rnnck_tensor_ndim(t) != 1 || !rnnck_dtype_is_float(rnnck_tensor_dtype(t)))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: an opaque cuDNN buffer must be a 1-D float tensor", ctx->label,
                          vname(ctx, in, TFR_OPAQUE));
    int64_t N = rnnck_tensor_numel(t);
    int64_t H = m->set_hidden, I = m->set_input, L = m->set_layers ? m->set_layers : 1;
    int D = m->set_bidi == 1 ? 2 : 1;
    const char *from = "--set";
    if (!H || !I) {
        const tf_mod *pick = NULL;
        for (size_t j = 0; j < ctx->nmods; j++) {
            const tf_mod *o = &ctx->mods[j];
            if (!o->ready || o->variant == TFV_OPAQUE || o->info.cell != m->cell) continue;
            if (m->set_bidi >= 0 && o->info.bidirectional != m->set_bidi) continue;
            if (m->set_layers && o->info.num_layers != m->set_layers) continue;
            if ((H && o->info.hidden_size != H) || (I && o->info.input_size != I)) continue;
            if (o->info.proj_size || o->info.peepholes) continue;
            int od = o->info.bidirectional ? 2 : 1;
            if (od == 2 && o->info.num_layers > 1 && !o->stacked) continue;
            if (opaque_count(G, o->info.num_layers, od, o->info.hidden_size, o->info.input_size) != N) continue;
            if (pick && (pick->info.hidden_size != o->info.hidden_size || pick->info.input_size != o->info.input_size ||
                         pick->info.num_layers != o->info.num_layers ||
                         pick->info.bidirectional != o->info.bidirectional))
                return rnnck__err(RNNCK_E_USAGE, "%s: module %s: opaque cuDNN buffer of %lld elements fits both "
                                  "module %s and module %s; give its sizes with --set %s.hidden_size=... "
                                  "%s.input_size=... (num_layers, bidirectional)", ctx->label, m->name, (long long)N,
                                  pick->name, o->name, m->name, m->name);
            if (!pick) pick = o;
        }
        if (!pick)
            return rnnck__err(RNNCK_E_USAGE, "%s: module %s: the sizes of an opaque cuDNN buffer (%lld elements) "
                              "cannot be inferred from the checkpoint; give them with --set %s.hidden_size=... "
                              "--set %s.input_size=... (and num_layers, bidirectional when not 1 and false)",
                              ctx->label, m->name, (long long)N, m->name, m->name);
        H = pick->info.hidden_size;
        I = pick->info.input_size;
        L = pick->info.num_layers;
        D = pick->info.bidirectional ? 2 : 1;
        from = pick->name;
    }
    int64_t want = opaque_count(G, L, D, H, I);
    if (want != N)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %.300s: a %s with num_layers=%lld, bidirectional=%s, hidden_size=%lld, "
                          "input_size=%lld (from %s) has %lld parameters, the buffer has %lld", ctx->label,
                          vname(ctx, in, TFR_OPAQUE), in->what, (long long)L, D == 2 ? "true" : "false", (long long)H,
                          (long long)I, from, (long long)want, (long long)N);
    rnnck_module_info *info = &m->info;
    rnnck_module_info_init(info, m->cell);
    info->dtype = rnnck_tensor_dtype(t);
    info->hidden_size = H;
    info->input_size = I;
    info->num_layers = L;
    info->bidirectional = D == 2;
    return RNNCK_OK; /* cuDNN's maths is PyTorch's: forget_bias 0, GRU reset after */
}

/* --------------------------------------------------------------- maths */

typedef struct part {
    const rnnck_tensor *t; /* (R, C): rows [row0, row0 + nrows) give C rows after transposing */
    int64_t row0, nrows;
} part;

/* dst (G*H, n) = the parts transposed and stacked, in the layout's foreign
 * gate order, then moved into PyTorch's order. */
static rnnck_status put_weight(rnnck_tensor *dst, const rnnck__gate_layout *lay, rnnck_cell cell, int64_t H,
                               const part *ps, int np) {
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(dst));
    size_t n = (size_t)ps[0].nrows, total = (size_t)rnnck_tensor_dim(dst, 0);
    size_t bytes = total * n * es;
    char *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return rnnck__oom();
    size_t off = 0;
    for (int k = 0; k < np; k++) {
        size_t cols = (size_t)rnnck_tensor_dim(ps[k].t, 1);
        const char *src = (const char *)rnnck_tensor_cdata(ps[k].t) + (size_t)ps[k].row0 * cols * es;
        rnnck__transpose_bytes(tmp + off * n * es, src, n, cols, es);
        off += cols;
    }
    rnnck_status st = rnnck__gate_reorder(rnnck_tensor_data(dst), tmp, lay->order, rnnck_cell_gate_order(cell),
                                          (size_t)H, n * es);
    free(tmp);
    return st;
}

/* dst (G*H) = the vectors (or the first `count` elements at `at`) stacked,
 * moved into PyTorch's order. */
static rnnck_status put_vector(rnnck_tensor *dst, const rnnck__gate_layout *lay, rnnck_cell cell, int64_t H,
                               const void *const *src, const int64_t *count, int np) {
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(dst));
    size_t total = (size_t)rnnck_tensor_numel(dst);
    size_t bytes = total * es;
    char *tmp = malloc(bytes ? bytes : 1);
    if (!tmp) return rnnck__oom();
    size_t off = 0;
    for (int k = 0; k < np; k++) {
        memcpy(tmp + off * es, src[k], (size_t)count[k] * es);
        off += (size_t)count[k];
    }
    rnnck_status st = rnnck__gate_reorder(rnnck_tensor_data(dst), tmp, lay->order, rnnck_cell_gate_order(cell),
                                          (size_t)H, es);
    free(tmp);
    return st;
}

static rnnck_status param(rnnck_model *model, size_t mod, rnnck_param kind, int64_t layer, int d, rnnck_tensor **p) {
    rnnck_status st = rnnck_model_param(model, mod, kind, layer, d, p);
    return st ? rnnck__err(RNNCK_E_FORMAT, "internal: module parameter missing") : RNNCK_OK;
}

/* One TF1 cell into layer l, direction d of module `mod`. */
static rnnck_status fill_tf1(const tf_ctx *ctx, const tf_mod *m, rnnck_model *model, size_t mod, int64_t l, int d,
                             const tf_inst *in) {
    const rnnck_module_info *info = &m->info;
    rnnck_cell cell = info->cell == RNNCK_CELL_RNN_RELU ? RNNCK_CELL_RNN_TANH : info->cell;
    int64_t H = info->hidden_size, I = rnnck__layer_input(info, l), Hp = rnnck__h_out(info);
    const rnnck__gate_layout *lay = rnnck__gate_layout_find("tf1", cell);
    if (!lay) return rnnck__err(RNNCK_E_FORMAT, "internal: no tf1 gate layout for %s", rnnck_cell_name(cell));
    rnnck_tensor *wih, *whh, *bih, *bhh = NULL, *p;
    rnnck_status st;
    if ((st = param(model, mod, RNNCK_PARAM_WEIGHT_IH, l, d, &wih)) ||
        (st = param(model, mod, RNNCK_PARAM_WEIGHT_HH, l, d, &whh)) ||
        (st = param(model, mod, RNNCK_PARAM_BIAS_IH, l, d, &bih)) ||
        (st = param(model, mod, RNNCK_PARAM_BIAS_HH, l, d, &bhh)))
        return st;
    if (cell == RNNCK_CELL_GRU) {
        const rnnck_tensor *gk = var(ctx, in, TFR_GK), *gb = var(ctx, in, TFR_GB);
        if (m->variant == TFV_CUDNN) {
            const rnnck_tensor *cik = var(ctx, in, TFR_CIK), *chk = var(ctx, in, TFR_CHK);
            part xi[2] = {{gk, 0, I}, {cik, 0, I}}, hh[2] = {{gk, I, H}, {chk, 0, H}};
            if ((st = put_weight(wih, lay, cell, H, xi, 2)) || (st = put_weight(whh, lay, cell, H, hh, 2))) return st;
            const void *bi[2] = {rnnck_tensor_cdata(gb), rnnck_tensor_cdata(var(ctx, in, TFR_CIB))};
            int64_t bn[2] = {2 * H, H};
            if ((st = put_vector(bih, lay, cell, H, bi, bn, 2))) return st;
            /* the hidden projection's bias sits inside r * (...): bias_hh's n
             * block; the rest of bias_hh stays zero */
            size_t es = rnnck_dtype_size(info->dtype);
            memcpy((char *)rnnck_tensor_data(bhh) + (size_t)(2 * H) * es, rnnck_tensor_cdata(var(ctx, in, TFR_CHB)),
                   (size_t)H * es);
            return RNNCK_OK;
        }
        const rnnck_tensor *ck = var(ctx, in, TFR_CK);
        part xi[2] = {{gk, 0, I}, {ck, 0, I}}, hh[2] = {{gk, I, H}, {ck, I, H}};
        if ((st = put_weight(wih, lay, cell, H, xi, 2)) || (st = put_weight(whh, lay, cell, H, hh, 2))) return st;
        const void *bi[2] = {rnnck_tensor_cdata(gb), rnnck_tensor_cdata(var(ctx, in, TFR_CB))};
        int64_t bn[2] = {2 * H, H};
        return put_vector(bih, lay, cell, H, bi, bn, 2);
    }
    const rnnck_tensor *k = var(ctx, in, TFR_KERNEL);
    part xi = {k, 0, I}, hh = {k, I, Hp};
    if ((st = put_weight(wih, lay, cell, H, &xi, 1)) || (st = put_weight(whh, lay, cell, H, &hh, 1))) return st;
    const void *bi = rnnck_tensor_cdata(var(ctx, in, TFR_BIAS));
    int64_t bn = rnnck_cell_gates(cell) * H;
    if ((st = put_vector(bih, lay, cell, H, &bi, &bn, 1))) return st;
    if (info->peepholes) { /* schema peephole: i, f, o */
        if ((st = param(model, mod, RNNCK_PARAM_PEEPHOLE, l, d, &p))) return st;
        size_t es = rnnck_dtype_size(info->dtype);
        static const tf_role order[3] = {TFR_WI, TFR_WF, TFR_WO};
        for (int g = 0; g < 3; g++)
            memcpy((char *)rnnck_tensor_data(p) + (size_t)(g * H) * es, rnnck_tensor_cdata(var(ctx, in, order[g])),
                   (size_t)H * es);
    }
    if (info->proj_size) { /* weight_hr (P, H) = projection kernel (H, P) transposed */
        if ((st = param(model, mod, RNNCK_PARAM_WEIGHT_HR, l, d, &p))) return st;
        const rnnck_tensor *pk = var(ctx, in, TFR_PROJ);
        rnnck__transpose_bytes(rnnck_tensor_data(p), rnnck_tensor_cdata(pk), (size_t)H, (size_t)info->proj_size,
                               rnnck_dtype_size(info->dtype));
    }
    return RNNCK_OK;
}

static rnnck_status fill_keras(const tf_ctx *ctx, const tf_mod *m, rnnck_model *model, size_t mod, int d,
                               const tf_inst *in) {
    const rnnck_module_info *info = &m->info;
    rnnck_cell cell = info->cell == RNNCK_CELL_RNN_RELU ? RNNCK_CELL_RNN_TANH : info->cell;
    const rnnck__gate_layout *lay = rnnck__gate_layout_find("keras", cell);
    int64_t H = info->hidden_size, G = rnnck_cell_gates(cell);
    rnnck_tensor *p;
    rnnck_status st;
    part x = {var(ctx, in, TFR_KERNEL), 0, info->input_size}, h = {var(ctx, in, TFR_RK), 0, H};
    if ((st = param(model, mod, RNNCK_PARAM_WEIGHT_IH, 0, d, &p)) || (st = put_weight(p, lay, cell, H, &x, 1)))
        return st;
    if ((st = param(model, mod, RNNCK_PARAM_WEIGHT_HH, 0, d, &p)) || (st = put_weight(p, lay, cell, H, &h, 1)))
        return st;
    if (!info->bias) return RNNCK_OK;
    const char *b = rnnck_tensor_cdata(var(ctx, in, TFR_BIAS));
    const void *src = b;
    int64_t n = G * H;
    if ((st = param(model, mod, RNNCK_PARAM_BIAS_IH, 0, d, &p)) || (st = put_vector(p, lay, cell, H, &src, &n, 1)))
        return st;
    if (cell == RNNCK_CELL_GRU && info->linear_before_reset) { /* row 1: the recurrent bias */
        src = b + (size_t)n * rnnck_dtype_size(info->dtype);
        if ((st = param(model, mod, RNNCK_PARAM_BIAS_HH, 0, d, &p)) || (st = put_vector(p, lay, cell, H, &src, &n, 1)))
            return st;
    }
    return RNNCK_OK;
}

/* The canonical cuDNN layout: PyTorch's parameters, weights of every
 * layer/direction first, then their biases. */
static rnnck_status fill_opaque(const tf_ctx *ctx, const tf_mod *m, rnnck_model *model, size_t mod) {
    const rnnck_module_info *info = &m->info;
    const tf_inst *in = &ctx->insts[m->slot[0]];
    const char *buf = rnnck_tensor_cdata(var(ctx, in, TFR_OPAQUE));
    rnnck_cell cell = info->cell == RNNCK_CELL_RNN_RELU ? RNNCK_CELL_RNN_TANH : info->cell;
    const rnnck__gate_layout *lay = rnnck__gate_layout_find("cudnn", cell);
    size_t es = rnnck_dtype_size(info->dtype);
    int64_t H = info->hidden_size;
    int D = info->bidirectional ? 2 : 1;
    size_t off = 0;
    rnnck_status st = RNNCK_OK;
    for (int pass = 0; pass < 2 && !st; pass++)
        for (int64_t l = 0; l < info->num_layers && !st; l++)
            for (int d = 0; d < D && !st; d++) {
                rnnck_tensor *a, *b;
                rnnck_param ka = pass ? RNNCK_PARAM_BIAS_IH : RNNCK_PARAM_WEIGHT_IH;
                rnnck_param kb = pass ? RNNCK_PARAM_BIAS_HH : RNNCK_PARAM_WEIGHT_HH;
                if ((st = param(model, mod, ka, l, d, &a)) || (st = param(model, mod, kb, l, d, &b))) break;
                size_t ra = pass ? 1 : (size_t)rnnck__layer_input(info, l), rb = pass ? 1 : (size_t)H;
                if ((st = rnnck__gate_reorder(rnnck_tensor_data(a), buf + off, lay->order, rnnck_cell_gate_order(cell),
                                              (size_t)H, ra * es)))
                    break;
                off += rnnck_tensor_nbytes(a);
                st = rnnck__gate_reorder(rnnck_tensor_data(b), buf + off, lay->order, rnnck_cell_gate_order(cell),
                                         (size_t)H, rb * es);
                off += rnnck_tensor_nbytes(b);
            }
    return st;
}

/* -------------------------------------------------------------- build */

static rnnck_status size_module(tf_ctx *ctx, tf_mod *m) {
    rnnck_status st = m->variant == TFV_KERAS ? size_keras(ctx, m) : size_tf1(ctx, m);
    if (st) return st;
    rnnck_module_info *info = &m->info;
    info->name = m->name;
    if (m->nonlin >= 0) {
        if (info->cell != RNNCK_CELL_RNN_TANH)
            return rnnck__err(RNNCK_E_USAGE, "%s: override %s.nonlinearity: module %s is a %s", ctx->label, m->name,
                              m->name, rnnck_cell_name(info->cell));
        info->cell = (rnnck_cell)m->nonlin;
        for (int d = 0; d < 2; d++) info->act[d][0].kind = m->nonlin == RNNCK_CELL_RNN_RELU ? RNNCK_ACT_RELU : RNNCK_ACT_TANH;
    }
    if (m->rec_act >= 0) {
        if (info->cell != RNNCK_CELL_LSTM && info->cell != RNNCK_CELL_GRU)
            return rnnck__err(RNNCK_E_USAGE, "%s: override %s.recurrent_activation: module %s is a %s", ctx->label,
                              m->name, m->name, rnnck_cell_name(info->cell));
        for (int d = 0; d < 2; d++) /* tf.keras 2's hard_sigmoid: max(0, min(1, 0.2 x + 0.5)) */
            info->act[d][0] = m->rec_act == RNNCK_ACT_SIGMOID ? (rnnck_activation){RNNCK_ACT_SIGMOID, 0, 0}
                                                               : (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, 0.2, 0.5};
    }
    return RNNCK_OK;
}

static rnnck_status finish_info(tf_ctx *ctx, tf_mod *m) {
    rnnck_module_info *info = &m->info;
    info->name = m->name;
    if (m->has_fb) info->forget_bias = m->forget_bias;
    info->cell_clip = m->cell_clip;
    info->proj_clip = m->proj_clip;
    if (info->proj_clip > 0 && info->proj_size <= 0)
        return rnnck__err(RNNCK_E_USAGE, "%s: override %s.proj_clip: module %s has no projection (no num_proj: its "
                          "cells have no projection kernel), and TF applies proj_clip only to the projected output",
                          ctx->label, m->name, m->name);
    if (m->batch_first >= 0) info->batch_first = m->batch_first;
    if (m->variant != TFV_OPAQUE && (m->set_hidden || m->set_input || m->set_layers || m->set_bidi >= 0))
        return rnnck__err(RNNCK_E_USAGE, "%s: module %s: sizes come from its variables; only opaque cuDNN buffers "
                          "take hidden_size, input_size, num_layers, bidirectional", ctx->label, m->name);
    if (rnnck_module_info_validate(info)) {
        char why[400];
        snprintf(why, sizeof why, "%s", rnnck_errmsg());
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s is not a valid recurrent module: %s", ctx->label, m->name,
                          why);
    }
    m->ready = 1;
    return RNNCK_OK;
}

static rnnck_status fill_module(tf_ctx *ctx, tf_mod *m, rnnck_model *model) {
    size_t mod;
    rnnck_status st = rnnck_model_add_module(model, &m->info);
    if (st) {
        if (st == RNNCK_E_NOMEM) return st;
        char why[400];
        snprintf(why, sizeof why, "%s", rnnck_errmsg());
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: %s", ctx->label, m->name, why);
    }
    if ((st = rnnck_model_find_module(model, m->name, &mod))) return st;
    if (m->variant == TFV_OPAQUE) return fill_opaque(ctx, m, model, mod);
    int D = m->info.bidirectional ? 2 : 1;
    for (int64_t l = 0; l < m->info.num_layers && !st; l++)
        for (int d = 0; d < D && !st; d++) {
            const tf_inst *in = &ctx->insts[m->slot[l * 2 + d]];
            st = m->variant == TFV_KERAS ? fill_keras(ctx, m, model, mod, d, in) : fill_tf1(ctx, m, model, mod, l, d, in);
        }
    return st;
}

/* Index of the first of sorted[0, n) at or after "<prefix>." in byte order,
 * where the names starting with "<prefix>." begin. */
static size_t lower_scope(char *const *sorted, size_t n, const char *prefix) {
    size_t len = strlen(prefix), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = sorted[mid];
        int c = strncmp(m, prefix, len);
        if (c == 0) c = (unsigned char)m[len] < '.' ? -1 : (unsigned char)m[len] > '.' ? 1 : 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool under(const char *name, const char *prefix) {
    size_t len = strlen(prefix);
    return !strncmp(name, prefix, len) && name[len] == '.';
}

typedef struct plain {
    char *name, *moved;
    size_t var, moved_by; /* moved_by: length of the module name that moved it */
} plain;

static int by_plain(const void *a, const void *b) { return strcmp(((const plain *)a)->name, ((const plain *)b)->name); }

/* Variables of no cell: plain tensors under their schema names, optimizer
 * state under "optimizer." (kept apart from the modules' groups). A tensor
 * inside a module's group (".../rnn/dense" beside the cell "rnn/...") moves
 * to "<module>_vars.<rest>", and a variable that is also the scope of others
 * ("x" and "x/y") becomes "x.value": the .h5 schema cannot hold a tensor
 * where a group is. Sorted, so all of it is n log n. */
static rnnck_status add_plain(tf_ctx *ctx, rnnck_model *model, const rnnck_open_opts *opts) {
    bool drop = opts && (opts->flags & RNNCK_OPEN_DROP_OPTIMIZER);
    size_t n = ctx->vars->n, k = 0;
    plain *ps = calloc(n ? n : 1, sizeof *ps);
    char **sorted = calloc(n ? n : 1, sizeof *sorted);
    rnnck_status st = ps && sorted ? RNNCK_OK : rnnck__oom();
    for (size_t v = 0; v < n && !st; v++) {
        if (ctx->kind[v] == 2 || (ctx->kind[v] == 1 && drop)) continue;
        char *nm = rnnck__tf_schema_name(ctx->names[v], strlen(ctx->names[v]));
        if (nm && ctx->kind[v] == 1 && strncmp(nm, "optimizer.", 10)) {
            char *o = rnnck__asprintf("optimizer.%s", nm);
            free(nm);
            nm = o;
        }
        if (!nm) st = rnnck__oom();
        ps[k++] = (plain){nm, NULL, v, 0};
    }
    if (!st) qsort(ps, k, sizeof *ps, by_plain);
    for (size_t i = 0; i < k; i++) sorted[i] = ps[i].name;
    for (size_t mi = 0; mi < ctx->nmods && !st; mi++) {
        const char *mod = ctx->mods[mi].name;
        /* sorted[] (= the names in ps's order) stays intact until every
         * module has looked: the moves are applied after */
        size_t ml = strlen(mod);
        for (size_t i = lower_scope(sorted, k, mod); i < k && under(sorted[i], mod) && !st; i++) {
            if (ps[i].moved && ps[i].moved_by <= ml) continue; /* the outermost module decides */
            free(ps[i].moved);
            if (!(ps[i].moved = rnnck__asprintf("%s_vars%s", mod, sorted[i] + ml))) st = rnnck__oom();
            ps[i].moved_by = ml;
        }
    }
    for (size_t i = 0; i < k; i++)
        if (ps[i].moved) {
            free(ps[i].name);
            ps[i].name = ps[i].moved;
            ps[i].moved = NULL;
        }
    if (!st) qsort(ps, k, sizeof *ps, by_plain);
    for (size_t i = 0; i < k; i++) sorted[i] = ps[i].name;
    for (size_t i = 0; i < k && !st; i++) {
        const char *tfname = ctx->vars->items[ps[i].var].name;
        char *name = ps[i].name, *renamed = NULL;
        size_t j = lower_scope(sorted, k, name);
        if (*name && j < k && under(sorted[j], name) && !(name = renamed = rnnck__asprintf("%s.value", ps[i].name))) {
            st = rnnck__oom();
            break;
        }
        rnnck_tensor *alias = NULL;
        if (!(st = rnnck__tensor_alias(ctx->vars->items[ps[i].var].t, &alias)))
            st = *name ? rnnck__model_add_tensor_ref(model, name, alias) : RNNCK_E_USAGE;
        rnnck_tensor_free(alias);
        if (st == RNNCK_E_USAGE) {
            char why[400];
            snprintf(why, sizeof why, "%s", *name ? rnnck_errmsg() : "empty name");
            st = rnnck__err(RNNCK_E_FORMAT, "%s: variable %.300s as tensor '%.300s': %s", ctx->label, tfname, name,
                            why);
        }
        free(renamed);
    }
    for (size_t i = 0; i < k; i++) free(ps[i].name);
    free(ps);
    free(sorted);
    return st;
}

rnnck_status rnnck__tf_cells_build(rnnck__sd *vars, const char *label, const rnnck_open_opts *opts,
                                   rnnck_model **out) {
    tf_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.label = label ? label : "checkpoint";
    ctx.vars = vars;
    rnnck_model *model = NULL;
    rnnck_status st = rnnck__tf_gather(&ctx);
    for (const char *const *s = opts ? opts->sets : NULL; s && *s && !st; s++) st = apply_set(&ctx, *s);
    /* cells first: opaque buffers may take their sizes from them */
    for (size_t i = 0; i < ctx.nmods && !st; i++)
        if (!ctx.mods[i].dead && ctx.mods[i].variant != TFV_OPAQUE && !(st = size_module(&ctx, &ctx.mods[i])))
            st = finish_info(&ctx, &ctx.mods[i]);
    for (size_t i = 0; i < ctx.nmods && !st; i++)
        if (ctx.mods[i].variant == TFV_OPAQUE && !(st = size_opaque(&ctx, &ctx.mods[i])))
            st = finish_info(&ctx, &ctx.mods[i]);
    if (!st) st = rnnck_model_new(&model);
    for (size_t i = 0; i < ctx.nmods && !st; i++)
        if (!ctx.mods[i].dead) st = fill_module(&ctx, &ctx.mods[i], model);
    for (size_t i = 0; i < ctx.nmods && !st; i++)
        if (ctx.mods[i].dead)
            st = rnnck__model_add_note(model, "%s: the layers of this MultiRNNCell differ (cell kind or sizes), so each "
                                       "layer is a module of its own, %s.<layer>, the output of one feeding the next",
                                       ctx.mods[i].name, ctx.mods[i].name);
    for (size_t i = 0; i < ctx.nmods && !st; i++)
        if (ctx.mods[i].shared) {
            const tf_mod *m = &ctx.mods[i];
            st = rnnck__model_add_note(model, m->reverse ? "module %s runs the weights of module %s: the bidirectional "
                                                           "scope holds only fw variables (one cell passed as both "
                                                           "directions)"
                                                         : "module %s: the bidirectional scope holds only fw variables "
                                                           "(one cell passed as both directions); the bw direction "
                                                           "shares them%s",
                                       m->name, m->reverse ? ctx.mods[m->shared_from].name : "");
        }
    if (!st) st = add_plain(&ctx, model, opts);
    rnnck__tf_ctx_free(&ctx);
    if (st) {
        rnnck_model_free(model);
        return st;
    }
    *out = model;
    return RNNCK_OK;
}
