/* One Keras layer into the model: LSTM / GRU / SimpleRNN (alone or inside
 * Bidirectional) become one rnnck module named after the layer, through the
 * gate-layout table's "keras" rows (kernel (in, G*H) transposed, gate blocks
 * i,f,c,o / z,r,h reordered); Dense and Embedding become name.weight /
 * name.bias in torch.nn.Linear / Embedding layout; other layers keep their
 * weights under their own names. Shapes are checked against the config. */
#include "common/gate_layout.h"
#include "keras/keras_internal.h"

#include <stdlib.h>
#include <string.h>

#define LERR(st, ...) layer_err(ctx, name, st, __VA_ARGS__)
static rnnck_status layer_err(const rnnck__kctx *ctx, const char *name, rnnck_status st, const char *fmt, ...)
    RNNCK_PRINTF(4, 5);
static rnnck_status layer_err(const rnnck__kctx *ctx, const char *name, rnnck_status st, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rnnck__err(st, "%s: layer '%.255s': %s", ctx->file, name, msg);
}

rnnck_status rnnck__keras_load(rnnck__kctx *ctx, const char *layer, const rnnck__kweight *w, rnnck_tensor **out) {
    const rnnck__h5t_node *n = w->ds;
    if (n->problem) return rnnck__err(n->problem_status, "%s (weight of layer '%.255s')", n->problem, layer);
    rnnck_tensor *t;
    rnnck_status st = rnnck_tensor_new(n->dtype, n->ndim, n->shape, &t);
    if (st) return st;
    st = rnnck__h5_tree_read(ctx->tree, n, rnnck_tensor_data(t), rnnck_tensor_nbytes(t));
    if (st) {
        rnnck_tensor_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

/* "lstm_1/lstm_cell/kernel:0" -> "kernel"; "vars/0" -> "0". */
static void last_part(const char *wname, char *buf, size_t cap) {
    const char *s = strrchr(wname, '/');
    s = s ? s + 1 : wname;
    size_t len = strlen(s);
    const char *colon = strrchr(s, ':');
    if (colon && colon[1]) {
        bool digits = true;
        for (const char *p = colon + 1; *p; p++) digits = digits && *p >= '0' && *p <= '9';
        if (digits) len = (size_t)(colon - s);
    }
    if (len >= cap) len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
}

static bool is_index_name(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* Whether weight w is the one called `want` (Keras 3 vars are numbered, not
 * named: their order is the check). */
static bool named(const rnnck__kweight *w, const char *want) {
    char part[RNNCK__KERAS_MAX_NAME + 1];
    last_part(w->name, part, sizeof part);
    return is_index_name(part) || !strcmp(part, want);
}

static bool has_weight(const rnnck__kweight *w, size_t nw, const char *want) {
    char part[RNNCK__KERAS_MAX_NAME + 1];
    for (size_t i = 0; i < nw; i++) {
        last_part(w[i].name, part, sizeof part);
        if (!strcmp(part, want)) return true;
    }
    return false;
}

static const char *shape_of(const rnnck_tensor *t, char *buf, size_t cap) {
    int64_t s[RNNCK_MAX_DIMS];
    int nd = rnnck_tensor_ndim(t);
    for (int i = 0; i < nd; i++) s[i] = rnnck_tensor_dim(t, i);
    return rnnck__shape_str(nd, s, buf, cap);
}

/* ---------------------------------------------------------- recurrent */

typedef struct rec_spec {
    rnnck_cell cell;       /* LSTM, GRU, RNN_TANH */
    const char *cls;       /* "LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU" */
    const cJSON *cfg;      /* the cell layer's config, or NULL */
    int cudnn;             /* CuDNNLSTM / CuDNNGRU: input kernel blocks reshaped, two biases */
    rnnck_merge_mode merge; /* Bidirectional's merge_mode */
} rec_spec;

static rnnck_status rec_class(const rnnck__kctx *ctx, const char *name, const char *cls, rec_spec *r) {
    if (!strcmp(cls, "LSTM") || !strcmp(cls, "LSTMV1")) r->cell = RNNCK_CELL_LSTM, r->cls = "LSTM";
    else if (!strcmp(cls, "GRU") || !strcmp(cls, "GRUV1")) r->cell = RNNCK_CELL_GRU, r->cls = "GRU";
    else if (!strcmp(cls, "SimpleRNN")) r->cell = RNNCK_CELL_RNN_TANH, r->cls = "SimpleRNN";
    else if (!strcmp(cls, "CuDNNLSTM")) r->cell = RNNCK_CELL_LSTM, r->cls = "CuDNNLSTM", r->cudnn = 1;
    else if (!strcmp(cls, "CuDNNGRU")) r->cell = RNNCK_CELL_GRU, r->cls = "CuDNNGRU", r->cudnn = 1;
    else
        return LERR(RNNCK_E_UNSUPPORTED, "recurrent class '%.60s' is not supported (LSTM, GRU, SimpleRNN, "
                    "Bidirectional around them)", cls);
    return RNNCK_OK;
}

/* Semantics from the config (or the version's defaults) into info. */
static rnnck_status rec_semantics(const rnnck__kctx *ctx, const char *name, const rec_spec *r, int dirs,
                                  rnnck_module_info *info, int *use_bias, int *reset_after, int64_t *units) {
    const cJSON *c = r->cfg;
    rnnck_status st;
    bool have_units = false;
    if (c && (st = rnnck__keras_cfg_int(ctx, name, c, "units", units, &have_units))) return st;
    if (!have_units) *units = 0;
    if (c && (st = rnnck__keras_cfg_bool(ctx, name, c, "use_bias", 1, use_bias))) return st;
    int go_backwards = 0, time_major = 0;
    if (c && (st = rnnck__keras_cfg_bool(ctx, name, c, "go_backwards", 0, &go_backwards))) return st;
    if (c && (st = rnnck__keras_cfg_bool(ctx, name, c, "time_major", 0, &time_major))) return st;
    /* Keras's Bidirectional around a go_backwards layer runs its forward
     * layer backwards and reverses only the backward layer's output: two
     * directions one module of the schema cannot pair. */
    if (go_backwards && dirs != 1)
        return LERR(RNNCK_E_UNSUPPORTED, "Bidirectional around a go_backwards=true layer has no equivalent in the "
                    "rnnck schema");
    /* Keras before 2.3 defaulted recurrent_activation to hard_sigmoid. */
    const char *rec_default = ctx->major < 2 || (ctx->major == 2 && ctx->minor < 3) ? "hard_sigmoid" : "sigmoid";
    rnnck_activation act, rec;
    const cJSON *av = c ? cJSON_GetObjectItemCaseSensitive(c, "activation") : NULL;
    const cJSON *rv = c ? cJSON_GetObjectItemCaseSensitive(c, "recurrent_activation") : NULL;
    if (r->cudnn) av = rv = NULL, rec_default = "sigmoid"; /* cuDNN's cells: sigmoid gates, tanh */
    if ((st = rnnck__keras_activation(ctx, name, "activation", av, "tanh", &act))) return st;
    if (r->cell != RNNCK_CELL_RNN_TANH &&
        (st = rnnck__keras_activation(ctx, name, "recurrent_activation", rv, rec_default, &rec)))
        return st;
    rnnck_module_info_init(info, r->cell);
    for (int d = 0; d < 2; d++) {
        if (r->cell == RNNCK_CELL_LSTM) {
            info->act[d][0] = rec;
            info->act[d][1] = act;
            info->act[d][2] = act;
        } else if (r->cell == RNNCK_CELL_GRU) {
            info->act[d][0] = rec;
            info->act[d][1] = act;
        } else {
            info->act[d][0] = act;
        }
    }
    if (r->cell == RNNCK_CELL_RNN_TANH && act.kind == RNNCK_ACT_RELU) info->cell = RNNCK_CELL_RNN_RELU;
    *reset_after = -1; /* unknown: decided by the bias shape */
    if (r->cudnn) *reset_after = r->cell == RNNCK_CELL_GRU ? 1 : -1, *use_bias = 1;
    if (r->cell == RNNCK_CELL_GRU && c && !r->cudnn) {
        const cJSON *ra = cJSON_GetObjectItemCaseSensitive(c, "reset_after");
        /* Keras 2.0-2.1 had no reset_after: their GRUs are reset-before. */
        if (!ra) *reset_after = 0;
        else if ((st = rnnck__keras_cfg_bool(ctx, name, c, "reset_after", 0, reset_after))) return st;
    }
    info->batch_first = !time_major;
    /* go_backwards: one direction from the last step, its return_sequences
     * output in that processing order (Keras does not reverse it back). */
    if (go_backwards) info->reverse = info->output_reversed = 1;
    return RNNCK_OK;
}

/* Writes a Keras kernel (in, G*H) as a PyTorch weight (G*H, in) in PyTorch's
 * gate order, through the gate-layout row. */
static rnnck_status put_matrix(const rnnck__gate_layout *lay, rnnck_cell cell, const rnnck_tensor *k,
                               rnnck_tensor *dst, int64_t H) {
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(k));
    size_t rows = (size_t)rnnck_tensor_dim(k, 0), cols = (size_t)rnnck_tensor_dim(k, 1);
    void *tmp = malloc(rnnck_tensor_nbytes(k) ? rnnck_tensor_nbytes(k) : 1);
    if (!tmp) return rnnck__oom();
    const void *src = rnnck_tensor_cdata(k);
    if (lay->transposed) {
        rnnck__transpose_bytes(tmp, src, rows, cols, es);
        src = tmp;
        size_t t = rows;
        rows = cols;
        cols = t;
    }
    rnnck_status st = rnnck__gate_reorder(rnnck_tensor_data(dst), src, lay->order, rnnck_cell_gate_order(cell),
                                          (size_t)H, cols * es);
    free(tmp);
    return st;
}

/* CuDNNLSTM / CuDNNGRU (Keras's _convert_rnn_weights): input kernel block g,
 * the (in, H) columns [g*H, (g+1)*H), holds the cuDNN (H, in) matrix's bytes
 * in C order: PyTorch's block is that memory read as (H, in), a reshape;
 * recurrent kernel blocks (H, H) are PyTorch's blocks as they stand. Then
 * the blocks move from the keras row's order. */
static rnnck_status put_cudnn(const rnnck__gate_layout *lay, rnnck_cell cell, const rnnck_tensor *k,
                              rnnck_tensor *dst, int64_t H, bool input) {
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(k));
    size_t rows = (size_t)rnnck_tensor_dim(k, 0), G = (size_t)rnnck_cell_gates(cell), h = (size_t)H;
    char *tmp = malloc(rnnck_tensor_nbytes(k) ? rnnck_tensor_nbytes(k) : 1);
    if (!tmp) return rnnck__oom();
    const char *src = rnnck_tensor_cdata(k);
    for (size_t g = 0; g < G; g++)
        for (size_t r = 0; r < rows; r++) /* block g as a C-order (rows, H) array, rows after rows */
            memcpy(tmp + (g * rows * h + r * h) * es, src + (r * G * h + g * h) * es, h * es);
    (void)input; /* both kinds: block g's C-order bytes are PyTorch's block (H, rows) */
    rnnck_status st = rnnck__gate_reorder(rnnck_tensor_data(dst), tmp, lay->order, rnnck_cell_gate_order(cell),
                                          (size_t)H, rows * es);
    free(tmp);
    return st;
}

static rnnck_status put_vector(const rnnck__gate_layout *lay, rnnck_cell cell, const void *src, rnnck_tensor *dst,
                               int64_t H) {
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(dst));
    return rnnck__gate_reorder(rnnck_tensor_data(dst), src, lay->order, rnnck_cell_gate_order(cell), (size_t)H, es);
}

static rnnck_status param(rnnck__kctx *ctx, size_t mod, rnnck_param kind, int reverse, rnnck_tensor **out) {
    rnnck_status st = rnnck_model_param(ctx->m, mod, kind, 0, reverse, out);
    return st ? rnnck__err(RNNCK_E_FORMAT, "%s: internal: module parameter missing", ctx->file) : RNNCK_OK;
}

static rnnck_status recurrent(rnnck__kctx *ctx, const char *name, const rec_spec *r, const rnnck__kweight *w,
                              size_t nw, int dirs) {
    rnnck_module_info info;
    int use_bias = 1, reset_after = -1;
    int64_t units = 0;
    rnnck_status st = rec_semantics(ctx, name, r, dirs, &info, &use_bias, &reset_after, &units);
    if (st) return st;
    if (!r->cfg) use_bias = nw == (size_t)(3 * dirs);
    size_t per = use_bias ? 3 : 2;
    if (nw != per * (size_t)dirs)
        return LERR(RNNCK_E_FORMAT, "%s%s has %zu weights, expected %zu (kernel, recurrent_kernel%s%s)",
                    dirs == 2 ? "Bidirectional " : "", r->cls, nw, per * (size_t)dirs, use_bias ? ", bias" : "",
                    dirs == 2 ? " per direction" : "");
    int64_t G = rnnck_cell_gates(r->cell);
    const rnnck__gate_layout *lay = rnnck__gate_layout_find("keras", r->cell);
    if (!lay) return LERR(RNNCK_E_UNSUPPORTED, "no keras row in the gate-layout table for %s", r->cls);
    rnnck_tensor *t[2][3] = {{NULL}};
    static const char *const wn[3] = {"kernel", "recurrent_kernel", "bias"};
    int64_t H = 0, I = 0;
    rnnck_dtype dt = RNNCK_DTYPE_INVALID;
    char got[160];
    for (int d = 0; d < dirs && !st; d++)
        for (size_t k = 0; k < per && !st; k++) {
            const rnnck__kweight *x = &w[(size_t)d * per + k];
            if (!named(x, wn[k])) {
                char part[RNNCK__KERAS_MAX_NAME + 1];
                last_part(x->name, part, sizeof part);
                st = LERR(RNNCK_E_FORMAT, "weight #%zu is '%.200s' where %s expects %s", (size_t)d * per + k,
                          x->name, r->cls, wn[k]);
                break;
            }
            if ((st = rnnck__keras_load(ctx, name, x, &t[d][k]))) break;
            rnnck_tensor *a = t[d][k];
            if (!rnnck_dtype_is_float(rnnck_tensor_dtype(a))) {
                st = LERR(RNNCK_E_FORMAT, "weight '%.200s' is %s, not a float type", x->name,
                          rnnck_dtype_name(rnnck_tensor_dtype(a)));
                break;
            }
            if (dt == RNNCK_DTYPE_INVALID) dt = rnnck_tensor_dtype(a);
            if (rnnck_tensor_dtype(a) != dt) {
                st = LERR(RNNCK_E_FORMAT, "weight '%.200s' is %s but the kernel is %s", x->name,
                          rnnck_dtype_name(rnnck_tensor_dtype(a)), rnnck_dtype_name(dt));
                break;
            }
            if (k == 1) { /* recurrent_kernel (H, G*H) fixes H */
                int64_t h = rnnck_tensor_ndim(a) == 2 ? rnnck_tensor_dim(a, 0) : -1;
                if (h < 1 || rnnck_tensor_dim(a, 1) != G * h || (units && h != units) || (d == 1 && h != H)) {
                    if (units)
                        st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s but config units=%lld wants (%lld, %lld)",
                                  x->name, shape_of(a, got, sizeof got), (long long)units, (long long)units,
                                  (long long)(G * units));
                    else
                        st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s; %s wants (units, %lld*units)%s",
                                  x->name, shape_of(a, got, sizeof got), r->cls, (long long)G,
                                  d == 1 ? ", as the forward direction" : "");
                    break;
                }
                H = h;
                /* the kernel (loaded before) must agree */
                rnnck_tensor *kk = t[d][0];
                int64_t i = rnnck_tensor_ndim(kk) == 2 ? rnnck_tensor_dim(kk, 0) : -1;
                if (i < 1 || rnnck_tensor_dim(kk, 1) != G * H || (d == 1 && i != I)) {
                    st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s, expected (input_dim, %lld)",
                              w[(size_t)d * per].name, shape_of(kk, got, sizeof got), (long long)(G * H));
                    break;
                }
                I = i;
            }
            if (k == 2) {
                bool two = rnnck_tensor_ndim(a) == 2 && rnnck_tensor_dim(a, 0) == 2 && rnnck_tensor_dim(a, 1) == G * H;
                bool one = rnnck_tensor_ndim(a) == 1 && rnnck_tensor_dim(a, 0) == G * H;
                if (r->cudnn) { /* one flat vector: input biases, then recurrent biases */
                    if (rnnck_tensor_ndim(a) != 1 || rnnck_tensor_dim(a, 0) != 2 * G * H) {
                        st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s, expected (%lld) for %s", x->name,
                                  shape_of(a, got, sizeof got), (long long)(2 * G * H), r->cls);
                        break;
                    }
                    continue;
                }
                int ra = reset_after;
                if (r->cell == RNNCK_CELL_GRU && ra < 0) ra = two ? 1 : 0;
                bool ok = r->cell == RNNCK_CELL_GRU && ra == 1 ? two : one;
                if (!ok) {
                    st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s, expected (%s%lld)%s", x->name,
                              shape_of(a, got, sizeof got), r->cell == RNNCK_CELL_GRU && ra == 1 ? "2, " : "",
                              (long long)(G * H),
                              r->cell == RNNCK_CELL_GRU ? (ra == 1 ? " for reset_after=true" : " for reset_after=false")
                                                        : "");
                    break;
                }
                if (r->cell == RNNCK_CELL_GRU) reset_after = ra;
            }
        }
    if (!st && r->cell == RNNCK_CELL_GRU && reset_after < 0) reset_after = r->cfg ? 0 : 1; /* no bias: config says */
    if (!st) {
        info.name = name;
        info.input_size = I;
        info.hidden_size = H;
        info.num_layers = 1;
        info.bias = use_bias;
        info.bidirectional = dirs == 2;
        if (dirs == 2) info.merge_mode = r->merge;
        info.dtype = dt;
        if (r->cell == RNNCK_CELL_GRU) info.linear_before_reset = reset_after == 1;
        st = rnnck_model_add_module(ctx->m, &info);
        if (st && st != RNNCK_E_NOMEM) {
            char why[400];
            snprintf(why, sizeof why, "%s", rnnck_errmsg());
            st = LERR(RNNCK_E_FORMAT, "cannot become a module: %s", why);
        }
    }
    size_t mod = 0;
    if (!st) st = rnnck_model_find_module(ctx->m, name, &mod);
    size_t es = rnnck_dtype_size(dt);
    for (int d = 0; d < dirs && !st; d++) {
        rnnck_tensor *p;
        if (!(st = param(ctx, mod, RNNCK_PARAM_WEIGHT_IH, d, &p)))
            st = r->cudnn ? put_cudnn(lay, r->cell, t[d][0], p, H, true) : put_matrix(lay, r->cell, t[d][0], p, H);
        if (!st && !(st = param(ctx, mod, RNNCK_PARAM_WEIGHT_HH, d, &p)))
            st = r->cudnn ? put_cudnn(lay, r->cell, t[d][1], p, H, false) : put_matrix(lay, r->cell, t[d][1], p, H);
        if (!st && use_bias) {
            /* One Keras bias is bias_ih (bias_hh stays zero: exact); a GRU
             * with reset_after has two rows, input then recurrent. */
            const char *b = rnnck_tensor_cdata(t[d][2]);
            if (!(st = param(ctx, mod, RNNCK_PARAM_BIAS_IH, d, &p))) st = put_vector(lay, r->cell, b, p, H);
            if (!st && (r->cudnn || (r->cell == RNNCK_CELL_GRU && reset_after == 1)) &&
                !(st = param(ctx, mod, RNNCK_PARAM_BIAS_HH, d, &p)))
                st = put_vector(lay, r->cell, b + (size_t)(G * H) * es, p, H);
        }
    }
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 3; k++) rnnck_tensor_free(t[d][k]);
    return st;
}

/* Bidirectional(layer, merge_mode="concat") -> one bidirectional module. */
static rnnck_status bidirectional(rnnck__kctx *ctx, const char *name, const cJSON *cfg, const rnnck__kweight *w,
                                  size_t nw) {
    rec_spec r = {0};
    const char *inner_cls = NULL;
    if (cfg) {
        const char *merge = NULL;
        const cJSON *mm = cJSON_GetObjectItemCaseSensitive(cfg, "merge_mode");
        rnnck_status st = RNNCK_OK;
        if (mm && cJSON_IsNull(mm)) {
            r.merge = RNNCK_MERGE_NONE; /* the two outputs as a list */
        } else {
            if ((st = rnnck__keras_cfg_string(ctx, name, cfg, "merge_mode", &merge))) return st;
            r.merge = merge ? rnnck_merge_mode_from_name(merge) : RNNCK_MERGE_CONCAT;
            if (r.merge == RNNCK_MERGE_COUNT_ || r.merge == RNNCK_MERGE_NONE) /* "none" is spelt null */
                return LERR(RNNCK_E_FORMAT, "merge_mode '%.40s' is not one of Keras's (concat, sum, mul, ave, "
                            "null)", merge);
        }
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(cfg, "layer");
        const cJSON *icfg = cJSON_GetObjectItemCaseSensitive(inner, "config");
        const cJSON *icls = cJSON_GetObjectItemCaseSensitive(inner, "class_name");
        if (!cJSON_IsObject(inner) || !cJSON_IsString(icls) || !cJSON_IsObject(icfg))
            return LERR(RNNCK_E_FORMAT, "config field layer is not a layer object with class_name and config");
        inner_cls = icls->valuestring;
        r.cfg = icfg;
        const cJSON *back = cJSON_GetObjectItemCaseSensitive(cfg, "backward_layer");
        if (back && !cJSON_IsNull(back)) {
            /* A separate backward layer must be the forward one reversed:
             * same class, units, activations, bias and reset placement. */
            const cJSON *bcfg = cJSON_GetObjectItemCaseSensitive(back, "config");
            const cJSON *bcls = cJSON_GetObjectItemCaseSensitive(back, "class_name");
            static const char *const same[] = {"units", "activation", "recurrent_activation", "use_bias",
                                               "reset_after", "time_major"};
            bool ok = cJSON_IsString(bcls) && !strcmp(bcls->valuestring, inner_cls) && cJSON_IsObject(bcfg);
            for (size_t i = 0; ok && i < sizeof same / sizeof *same; i++) {
                const cJSON *a = cJSON_GetObjectItemCaseSensitive(icfg, same[i]);
                const cJSON *b = cJSON_GetObjectItemCaseSensitive(bcfg, same[i]);
                ok = (!a && !b) || (a && b && cJSON_Compare(a, b, 1));
            }
            if (!ok)
                return LERR(RNNCK_E_UNSUPPORTED, "backward_layer differs from the forward layer (class, units, "
                            "activations or bias): one module cannot hold both");
        }
    } else {
        /* No config: the cell from the recurrent kernel's shape. */
        inner_cls = NULL;
        if (nw >= 2 && w[1].ds->ndim == 2 && w[1].ds->shape[0] > 0) {
            int64_t g = w[1].ds->shape[1] / w[1].ds->shape[0];
            inner_cls = g == 4 ? "LSTM" : g == 3 ? "GRU" : g == 1 ? "SimpleRNN" : NULL;
        }
        if (!inner_cls) return LERR(RNNCK_E_FORMAT, "Bidirectional weights do not look like an LSTM, GRU or SimpleRNN");
    }
    rnnck_status st = rec_class(ctx, name, inner_cls, &r);
    if (st) return st;
    return recurrent(ctx, name, &r, w, nw, 2);
}

/* ---------------------------------------------------------- other layers */

static rnnck_status add_named(rnnck__kctx *ctx, const char *name, const char *suffix, rnnck_tensor *t) {
    char *full = rnnck__asprintf("%s.%s", name, suffix);
    if (!full) return rnnck__oom();
    rnnck_status st = rnnck_model_add_tensor(ctx->m, full, t);
    if (st && st != RNNCK_E_NOMEM) {
        char why[400];
        snprintf(why, sizeof why, "%s", rnnck_errmsg());
        st = LERR(RNNCK_E_FORMAT, "tensor '%.300s' cannot be added: %s", full, why);
    }
    free(full);
    return st;
}

/* Dense: kernel (in, out) -> name.weight (out, in); bias -> name.bias. */
static rnnck_status dense(rnnck__kctx *ctx, const char *name, const cJSON *cfg, const rnnck__kweight *w, size_t nw) {
    int use_bias = nw == 2;
    rnnck_status st;
    if (cfg && (st = rnnck__keras_cfg_bool(ctx, name, cfg, "use_bias", 1, &use_bias))) return st;
    if (nw != (size_t)(1 + use_bias) || !named(&w[0], "kernel") || (use_bias && !named(&w[1], "bias")))
        return LERR(RNNCK_E_FORMAT, "Dense has %zu weights, expected kernel%s", nw, use_bias ? " and bias" : "");
    rnnck_tensor *k = NULL, *b = NULL, *wt = NULL;
    char got[160];
    if ((st = rnnck__keras_load(ctx, name, &w[0], &k))) return st;
    int64_t units = 0;
    bool have = false;
    if (cfg) st = rnnck__keras_cfg_int(ctx, name, cfg, "units", &units, &have);
    if (!st && (rnnck_tensor_ndim(k) != 2 || (have && rnnck_tensor_dim(k, 1) != units)))
        st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s, expected (input_dim, %s)", w[0].name,
                  shape_of(k, got, sizeof got), have ? "units" : "output_dim");
    if (!st && use_bias) st = rnnck__keras_load(ctx, name, &w[1], &b);
    if (!st && b && (rnnck_tensor_ndim(b) != 1 || rnnck_tensor_dim(b, 0) != rnnck_tensor_dim(k, 1)))
        st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s, expected (%lld)", w[1].name,
                  shape_of(b, got, sizeof got), (long long)rnnck_tensor_dim(k, 1));
    if (!st) {
        int64_t shape[2] = {rnnck_tensor_dim(k, 1), rnnck_tensor_dim(k, 0)};
        if (!(st = rnnck_tensor_new(rnnck_tensor_dtype(k), 2, shape, &wt)))
            rnnck__transpose_bytes(rnnck_tensor_data(wt), rnnck_tensor_cdata(k), (size_t)shape[1], (size_t)shape[0],
                                   rnnck_dtype_size(rnnck_tensor_dtype(k)));
    }
    if (!st) st = add_named(ctx, name, "weight", wt);
    if (!st && b) st = add_named(ctx, name, "bias", b);
    rnnck_tensor_free(k);
    rnnck_tensor_free(b);
    rnnck_tensor_free(wt);
    return st;
}

static rnnck_status embedding(rnnck__kctx *ctx, const char *name, const rnnck__kweight *w, size_t nw) {
    if (nw != 1 || !named(&w[0], "embeddings"))
        return LERR(RNNCK_E_FORMAT, "Embedding has %zu weights, expected embeddings", nw);
    rnnck_tensor *e = NULL;
    rnnck_status st = rnnck__keras_load(ctx, name, &w[0], &e);
    char got[160];
    if (!st && rnnck_tensor_ndim(e) != 2)
        st = LERR(RNNCK_E_FORMAT, "weight '%.200s' has shape %s, expected (input_dim, output_dim)", w[0].name,
                  shape_of(e, got, sizeof got));
    if (!st) st = add_named(ctx, name, "weight", e);
    rnnck_tensor_free(e);
    return st;
}

/* Any other layer: "bn/gamma:0" -> name.gamma, "vars/0" -> name.0. */
static rnnck_status other(rnnck__kctx *ctx, const char *name, const rnnck__kweight *w, size_t nw) {
    for (size_t i = 0; i < nw; i++) {
        char part[RNNCK__KERAS_MAX_NAME + 1];
        last_part(w[i].name, part, sizeof part);
        for (char *p = part; *p; p++)
            if (*p == '.') *p = '_';
        rnnck_tensor *t = NULL;
        rnnck_status st = rnnck__keras_load(ctx, name, &w[i], &t);
        if (!st) st = add_named(ctx, name, part, t);
        rnnck_tensor_free(t);
        if (st) return st;
    }
    return RNNCK_OK;
}

/* ---------------------------------------------------------- nested models */

typedef struct owner {
    size_t cfg;    /* index into ctx->cfgs */
    size_t weight; /* index into w */
} owner;

static int owner_cmp(const void *a, const void *b) {
    const owner *x = a, *y = b;
    if (x->cfg != y->cfg) return x->cfg < y->cfg ? -1 : 1;
    return x->weight < y->weight ? -1 : x->weight > y->weight;
}

/* Weights of a nested model go to the sub-layer named in their path. */
static rnnck_status nested(rnnck__kctx *ctx, const char *name, const rnnck__kcfg *cfg, const rnnck__kweight *w,
                           size_t nw, int depth) {
    if (depth >= RNNCK__KERAS_MAX_NESTING)
        return LERR(RNNCK_E_FORMAT, "models nested deeper than %d", RNNCK__KERAS_MAX_NESTING);
    owner *o = calloc(nw ? nw : 1, sizeof *o);
    rnnck__kweight *sub = calloc(nw ? nw : 1, sizeof *sub);
    if (!o || !sub) {
        free(o);
        free(sub);
        return rnnck__oom();
    }
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < nw && !st; i++) {
        char part[RNNCK__KERAS_MAX_NAME + 1];
        const char *p = w[i].name;
        const rnnck__kcfg *hit = NULL;
        while (*p && !hit) { /* the first path component naming a deeper layer */
            const char *slash = strchr(p, '/');
            size_t len = slash ? (size_t)(slash - p) : strlen(p);
            if (len < sizeof part) {
                memcpy(part, p, len);
                part[len] = '\0';
                const rnnck__kcfg *c = rnnck__keras_cfg_find(ctx, part);
                if (c && c->depth > cfg->depth) hit = c;
            }
            p += len + (slash ? 1 : 0);
        }
        if (!hit)
            st = LERR(RNNCK_E_FORMAT, "weight '%.200s' names no layer of the nested model's config", w[i].name);
        else
            o[i] = (owner){(size_t)(hit - ctx->cfgs.items), i};
    }
    /* Group by sub-layer (sort), then visit the groups in the order of
     * their first weight: the sub-layers' order in the file. */
    owner *groups = NULL;
    size_t ng = 0;
    if (!st) {
        qsort(o, nw, sizeof *o, owner_cmp);
        if (!(groups = calloc(nw ? nw : 1, sizeof *groups))) st = rnnck__oom();
    }
    for (size_t i = 0; i < nw && !st;) { /* groups[g] = {start in o, first weight} */
        size_t j = i;
        while (j < nw && o[j].cfg == o[i].cfg) j++;
        groups[ng++] = (owner){o[i].weight, i};
        i = j;
    }
    if (!st) qsort(groups, ng, sizeof *groups, owner_cmp);
    for (size_t g = 0; g < ng && !st; g++) {
        size_t i = groups[g].weight, n = 0;
        for (size_t j = i; j < nw && o[j].cfg == o[i].cfg; j++) sub[n++] = w[o[j].weight];
        const rnnck__kcfg *c = &ctx->cfgs.items[o[i].cfg];
        st = rnnck__keras_layer(ctx, c->name, c, NULL, sub, n, depth + 1);
    }
    free(groups);
    free(o);
    free(sub);
    return st;
}

/* ---------------------------------------------------------- dispatch */

static bool looks_recurrent(const char *cls) {
    return strstr(cls, "LSTM") || strstr(cls, "GRU") || strstr(cls, "RNN") || strstr(cls, "Recurrent");
}

rnnck_status rnnck__keras_layer(rnnck__kctx *ctx, const char *name, const rnnck__kcfg *cfg, const char *class_hint,
                                const rnnck__kweight *w, size_t nw, int depth) {
    if (nw == 0) return RNNCK_OK;
    if (strlen(name) > RNNCK__KERAS_MAX_NAME)
        return rnnck__err(RNNCK_E_FORMAT, "%s: a layer name is longer than %d bytes", ctx->file,
                          RNNCK__KERAS_MAX_NAME);
    if (cfg && rnnck__keras_model_layers(cfg)) return nested(ctx, name, cfg, w, nw, depth);
    const char *cls = cfg ? cfg->class_name : class_hint;
    const cJSON *c = cfg ? cfg->config : NULL;
    if (!cls) { /* no config: what the weights say */
        if (has_weight(w, nw, "recurrent_kernel")) {
            if (nw == 4 || nw == 6) return bidirectional(ctx, name, NULL, w, nw);
            int64_t g = nw >= 2 && w[1].ds->ndim == 2 && w[1].ds->shape[0] > 0
                            ? w[1].ds->shape[1] / w[1].ds->shape[0] : 0;
            cls = g == 4 ? "LSTM" : g == 3 ? "GRU" : g == 1 ? "SimpleRNN" : "unknown recurrent layer";
        } else {
            return other(ctx, name, w, nw);
        }
    }
    if (!strcmp(cls, "Bidirectional")) return bidirectional(ctx, name, c, w, nw);
    /* A class guessed from a name (no config): two directions' weights make
     * it a Bidirectional whatever the name says. */
    if (!c && (nw == 4 || nw == 6) && has_weight(w, nw, "recurrent_kernel")) return bidirectional(ctx, name, NULL, w, nw);
    if (!strcmp(cls, "LSTM") || !strcmp(cls, "GRU") || !strcmp(cls, "SimpleRNN") || !strcmp(cls, "LSTMV1") ||
        !strcmp(cls, "GRUV1") || !strcmp(cls, "CuDNNLSTM") || !strcmp(cls, "CuDNNGRU")) {
        rec_spec r = {0};
        rnnck_status st = rec_class(ctx, name, cls, &r);
        r.cfg = c;
        return st ? st : recurrent(ctx, name, &r, w, nw, 1);
    }
    if (!strcmp(cls, "Dense")) return dense(ctx, name, c, w, nw);
    if (!strcmp(cls, "Embedding")) return embedding(ctx, name, w, nw);
    if (looks_recurrent(cls) || has_weight(w, nw, "recurrent_kernel"))
        return LERR(RNNCK_E_UNSUPPORTED, "recurrent class '%.60s' is not supported (LSTM, GRU, SimpleRNN, "
                    "Bidirectional around them)", cls);
    return other(ctx, name, w, nw);
}
