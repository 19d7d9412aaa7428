/* --to keras: a Keras 2 file that model.load_weights accepts. When the model
 * is a plain stack of recurrent layers (keras_stack.c), a full model
 * (model.save('x.h5') layout: model_config at the root, the weights under
 * /model_weights), which also records go_backwards, merge modes and
 * activations; otherwise a weights file (save_weights layout: layer_names,
 * backend, keras_version at the root), which holds no configuration. One
 * group per layer with weight_names and the datasets they name, as tf.keras
 * 2.x names them. Keras loads such files by order (the i-th layer with
 * weights gets the i-th group), so the layers are written in the model's
 * tensor order. Recurrent modules go through the gate-layout table's keras
 * rows (blocks reordered, matrices transposed); the two PyTorch biases are
 * summed into Keras's one (a GRU keeps both, as reset_after=True); tensors
 * P.weight (2-d) + P.bias (1-d) become a Dense layer P (kernel transposed).
 * Maths Keras cannot express is refused with RNNCK_E_INEXACT naming the
 * module and the feature. */
#include "common/gate_layout.h"
#include "keras/keras_internal.h"

#include <stdlib.h>
#include <string.h>



typedef rnnck__klayer klayer;

typedef struct kwriter {
    rnnck_model *m;
    const char *path;
    const char *no_config; /* NULL: a full model is written; else why not */
    const char *root;      /* "", "/model_weights" or "/layers": where layer groups go */
    bool keras3;           /* a Keras 3 .weights.h5 (saving_lib's H5IOStore layout) */
    klayer *layers;
    size_t n, cap;
    unsigned char *done_modules; /* per module: layers emitted */
} kwriter;

static rnnck_status inexact(const kwriter *k, const rnnck_module_info *info, const char *what) {
    return rnnck__err(RNNCK_E_INEXACT, "%s: module %s: %s", k->path, *info->name ? info->name : "(root)", what);
}

/* A feature only a model_config records: refused when the model is not a
 * stack, saying why no config could be written. */
static rnnck_status needs_config(const kwriter *k, const rnnck_module_info *info, const char *what) {
    char msg[512];
    if (k->keras3)
        snprintf(msg, sizeof msg, "%s needs a layer configuration, which a Keras 3 .weights.h5 does not hold (a name "
                 "not ending in .weights.h5 gives a Keras 2 full model)", what);
    else
        snprintf(msg, sizeof msg, "%s needs a full-model file (model_config), which is written only for a plain "
                 "stack of recurrent layers; this model has %s", what, k->no_config);
    return inexact(k, info, msg);
}

static rnnck_status check_module(const kwriter *k, const rnnck_module_info *info) {
    if (info->proj_size > 0) return inexact(k, info, "proj_size (LSTM projection) has no Keras equivalent");
    if (info->reverse && !info->output_reversed)
        return inexact(k, info, "a lone reverse direction with outputs at their time steps (ONNX "
                       "direction=\"reverse\") has no Keras equivalent");
    if (info->peepholes) return inexact(k, info, "peepholes have no Keras equivalent");
    if (info->clip > 0) return inexact(k, info, "clip (gate pre-activation clipping) has no Keras equivalent");
    if (info->cell_clip > 0) return inexact(k, info, "cell_clip (TF cell-state clipping) has no Keras equivalent");
    if (info->input_forget) return inexact(k, info, "input_forget (coupled input and forget gates) has no Keras equivalent");
    if (info->forget_bias != 0) return inexact(k, info, "a run-time forget_bias has no Keras equivalent");
    if (info->dtype != RNNCK_F32 && info->dtype != RNNCK_F64) return inexact(k, info, "parameters other than float32/float64 are not written");
    if (!k->no_config) return RNNCK_OK; /* the config records the rest (keras_stack.c checked it) */
    if (info->reverse) return needs_config(k, info, "go_backwards=True");
    if (info->merge_mode == RNNCK_MERGE_NONE)
        return inexact(k, info, "Bidirectional merge_mode none (two outputs) is not written: rnnck writes Keras "
                       "models as a Sequential stack, whose layers have one output");
    if (info->merge_mode != RNNCK_MERGE_CONCAT) {
        char what[80];
        snprintf(what, sizeof what, "Bidirectional merge_mode %s", rnnck_merge_mode_name(info->merge_mode));
        return needs_config(k, info, what);
    }
    /* Without a config the activations must be the ones a Keras model has
     * by default (sigmoid gates, tanh), so that the file read back means the
     * same. GRU reset placement is told by the bias shape: (2, 3H)
     * reset_after=True, (3H) reset-before. */
    rnnck_module_info plain = *info;
    plain.linear_before_reset = 1;
    if (info->cell == RNNCK_CELL_RNN_RELU) return needs_config(k, info, "activation Relu");
    if (!rnnck_module_info_is_pytorch(&plain)) {
        int slots = info->cell == RNNCK_CELL_LSTM ? 3 : info->cell == RNNCK_CELL_GRU ? 2 : 1;
        for (int d = 0; d < 2; d++)
            for (int s = 0; s < slots; s++) {
                rnnck_activation a = info->act[d][s];
                char what[160];
                snprintf(what, sizeof what, "activation %s(%g, %g) in slot %d", rnnck_act_name(a.kind), a.alpha,
                         a.beta, s);
                bool dflt = s == 0 && info->cell != RNNCK_CELL_RNN_TANH && info->cell != RNNCK_CELL_RNN_RELU
                                ? a.kind == RNNCK_ACT_SIGMOID
                                : a.kind == (info->cell == RNNCK_CELL_RNN_RELU ? RNNCK_ACT_RELU : RNNCK_ACT_TANH);
                if (!dflt) return needs_config(k, info, what);
            }
        return needs_config(k, info, "these semantics");
    }
    return RNNCK_OK;
}

static rnnck_status add_layer(kwriter *k, klayer l) {
    if (k->n == k->cap) {
        size_t c = k->cap ? k->cap * 2 : 16;
        klayer *p = realloc(k->layers, c * sizeof *p);
        if (!p) return rnnck__oom();
        k->layers = p;
        k->cap = c;
    }
    k->layers[k->n++] = l;
    return RNNCK_OK;
}

static const char *cell_stem(rnnck_cell c) {
    return c == RNNCK_CELL_LSTM ? "lstm" : c == RNNCK_CELL_GRU ? "gru" : "simple_rnn";
}

/* The module holding tensor `name` (its prefix names a module), or -1. */
static int64_t owner_module(const rnnck_model *m, const char *name) {
    const char *dot = strrchr(name, '.');
    size_t idx;
    if (!dot) return rnnck_model_find_module(m, "", &idx) == RNNCK_OK ? (int64_t)idx : -1;
    size_t len = (size_t)(dot - name);
    char *prefix = malloc(len + 1);
    if (!prefix) return -1;
    memcpy(prefix, name, len);
    prefix[len] = '\0';
    rnnck_status st = rnnck_model_find_module(m, prefix, &idx);
    free(prefix);
    return st == RNNCK_OK ? (int64_t)idx : -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Keras 3 names a weights file's layer groups after the layer's class in
 * snake case, "_1", "_2"... for repeats, in layer order (saving_lib's
 * _save_container_state), whatever the layers are called: a model loads
 * them by those names. */
static rnnck_status keras3_names(kwriter *k) {
    static const char *const stems[] = {"lstm", "gru", "simple_rnn", "bidirectional", "dense"};
    int used[5] = {0};
    for (size_t i = 0; i < k->n; i++) {
        klayer *l = &k->layers[i];
        size_t s = 4;
        if (l->is_module) {
            const rnnck_module_info *info = rnnck_model_module(k->m, l->module);
            s = info->bidirectional ? 3 : info->cell == RNNCK_CELL_LSTM ? 0 : info->cell == RNNCK_CELL_GRU ? 1 : 2;
        }
        char *name = used[s] ? rnnck__asprintf("%s_%d", stems[s], used[s]) : rnnck__strdup(stems[s]);
        if (!name) return rnnck__oom();
        used[s]++;
        free(l->name);
        l->name = name;
    }
    return RNNCK_OK;
}

static rnnck_status plan(kwriter *k) {
    rnnck_model *m = k->m;
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        const char *name = rnnck_tensor_name(t);
        int64_t mod = owner_module(m, name);
        rnnck_status st = RNNCK_OK;
        if (mod >= 0) {
            if (k->done_modules[mod]) continue;
            k->done_modules[mod] = 1;
            const rnnck_module_info *info = rnnck_model_module(m, (size_t)mod);
            for (int64_t l = 0; l < info->num_layers && !st; l++) {
                const char *base = *info->name ? info->name : info->bidirectional ? "bidirectional" : cell_stem(info->cell);
                char *lname = info->num_layers == 1 ? rnnck__strdup(base)
                                                    : rnnck__asprintf("%s_l%lld", base, (long long)l);
                if (!lname) return rnnck__oom();
                for (char *c = lname; *c; c++)
                    if (*c == '.') *c = '_';
                klayer kl = {lname, 1, (size_t)mod, l, NULL, NULL};
                if ((st = add_layer(k, kl))) free(lname);
            }
            if (st) return st;
            continue;
        }
        /* P.weight (2-d) + P.bias: a Dense layer P; the bias alone is its partner. */
        size_t len = strlen(name);
        if (len > 5 && !strcmp(name + len - 5, ".bias")) {
            char *w = rnnck__asprintf("%.*s.weight", (int)(len - 5), name);
            rnnck_tensor *wt = NULL;
            bool paired = w && rnnck_model_find(m, w, &wt) == RNNCK_OK && rnnck_tensor_ndim(wt) == 2 &&
                          rnnck_tensor_ndim(t) == 1 && rnnck_tensor_dim(t, 0) == rnnck_tensor_dim(wt, 0);
            free(w);
            if (paired) continue;
        } else if (len > 7 && !strcmp(name + len - 7, ".weight") && rnnck_tensor_ndim(t) == 2) {
            char *b = rnnck__asprintf("%.*s.bias", (int)(len - 7), name);
            rnnck_tensor *bt = NULL;
            bool paired = b && rnnck_model_find(m, b, &bt) == RNNCK_OK && rnnck_tensor_ndim(bt) == 1 &&
                          rnnck_tensor_dim(bt, 0) == rnnck_tensor_dim(t, 0) &&
                          rnnck_tensor_dtype(bt) == rnnck_tensor_dtype(t);
            free(b);
            if (paired && (rnnck_tensor_dtype(t) == RNNCK_F32 || rnnck_tensor_dtype(t) == RNNCK_F64)) {
                char *lname = rnnck__asprintf("%.*s", (int)(len - 7), name);
                if (!lname) return rnnck__oom();
                for (char *c = lname; *c; c++)
                    if (*c == '.') *c = '_';
                klayer kl = {lname, 0, 0, 0, t, bt};
                if ((st = add_layer(k, kl))) {
                    free(lname);
                    return st;
                }
                continue;
            }
        }
        return rnnck__err(RNNCK_E_INEXACT,
                          "%s: tensor %s has no Keras layer to hold it (written: recurrent modules, and P.weight + "
                          "P.bias pairs as Dense layers)", k->path, name);
    }
    if (k->n == 0) return rnnck__err(RNNCK_E_INEXACT, "%s: the model has nothing a Keras layer can hold", k->path);
    /* Layer names are group names: they must differ ("a.b" and "a_b" would not). */
    const char **sorted = calloc(k->n, sizeof *sorted);
    if (!sorted) return rnnck__oom();
    for (size_t i = 0; i < k->n; i++) sorted[i] = k->layers[i].name;
    qsort(sorted, k->n, sizeof *sorted, cmp_str);
    rnnck_status st = RNNCK_OK;
    for (size_t i = 1; i < k->n && !st; i++)
        if (!strcmp(sorted[i - 1], sorted[i]))
            st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: two Keras layers would be named '%s'", k->path, sorted[i]);
    free(sorted);
    return st;
}

/* A PyTorch weight (G*H, in) as a Keras kernel (in, G*H): blocks into Keras
 * order, then transposed. */
static rnnck_status keras_kernel(const rnnck__gate_layout *lay, rnnck_cell cell, const rnnck_tensor *w, int64_t H,
                                 rnnck_tensor **out) {
    int64_t rows = rnnck_tensor_dim(w, 0), cols = rnnck_tensor_dim(w, 1), shape[2] = {cols, rows};
    size_t es = rnnck_dtype_size(rnnck_tensor_dtype(w));
    rnnck_tensor *k;
    rnnck_status st = rnnck_tensor_new(rnnck_tensor_dtype(w), 2, shape, &k);
    if (st) return st;
    void *tmp = malloc(rnnck_tensor_nbytes(w) ? rnnck_tensor_nbytes(w) : 1);
    if (!tmp) st = rnnck__oom();
    if (!st) st = rnnck__gate_reorder(tmp, rnnck_tensor_cdata(w), rnnck_cell_gate_order(cell), lay->order, (size_t)H,
                                      (size_t)cols * es);
    if (!st) rnnck__transpose_bytes(rnnck_tensor_data(k), tmp, (size_t)rows, (size_t)cols, es);
    free(tmp);
    if (st) rnnck_tensor_free(k);
    else *out = k;
    return st;
}

/* bias_ih (+ bias_hh) in Keras block order into dst (G*H elements). */
static rnnck_status keras_bias(const rnnck__gate_layout *lay, rnnck_cell cell, const rnnck_tensor *bih,
                               const rnnck_tensor *bhh, int64_t H, void *dst) {
    int64_t n = rnnck_tensor_numel(bih);
    rnnck_dtype dt = rnnck_tensor_dtype(bih);
    size_t es = rnnck_dtype_size(dt);
    void *sum = malloc((size_t)n * es);
    if (!sum) return rnnck__oom();
    const void *a = rnnck_tensor_cdata(bih), *b = bhh ? rnnck_tensor_cdata(bhh) : NULL;
    for (int64_t i = 0; i < n; i++) {
        if (dt == RNNCK_F32) ((float *)sum)[i] = ((const float *)a)[i] + (b ? ((const float *)b)[i] : 0.0f);
        else ((double *)sum)[i] = ((const double *)a)[i] + (b ? ((const double *)b)[i] : 0.0);
    }
    rnnck_status st = rnnck__gate_reorder(dst, sum, rnnck_cell_gate_order(cell), lay->order, (size_t)H, es);
    free(sum);
    return st;
}

static rnnck_status write_module_layer(kwriter *k, rnnck__h5w *h, const klayer *kl) {
    rnnck_model *m = k->m;
    const rnnck_module_info *info = rnnck_model_module(m, kl->module);
    rnnck_cell cell = info->cell == RNNCK_CELL_RNN_RELU ? RNNCK_CELL_RNN_TANH : info->cell;
    const rnnck__gate_layout *lay = rnnck__gate_layout_find("keras", cell);
    const char *cname = cell == RNNCK_CELL_LSTM ? "lstm_cell" : cell == RNNCK_CELL_GRU ? "gru_cell" : "simple_rnn_cell";
    int dirs = info->bidirectional ? 2 : 1, per = info->bias ? 3 : 2;
    int64_t H = info->hidden_size, G = rnnck_cell_gates(cell);
    char *names[6] = {NULL};
    char *group = rnnck__asprintf("%s/%s", k->root, kl->name);
    rnnck_status st = group ? RNNCK_OK : rnnck__oom();
    static const char *const parts[3] = {"kernel:0", "recurrent_kernel:0", "bias:0"};
    /* Dataset paths inside the layer's group: tf.keras 2 names, or Keras 3's
     * vars/N under the cell (and under forward_layer / backward_layer). */
    for (int d = 0; d < dirs && !st; d++)
        for (int p = 0; p < per && !st; p++) {
            char **nm = &names[d * per + p];
            if (k->keras3) *nm = dirs == 1 ? rnnck__asprintf("cell/vars/%d", p)
                                           : rnnck__asprintf("%s_layer/cell/vars/%d", d ? "backward" : "forward", p);
            else *nm = dirs == 1 ? rnnck__asprintf("%s/%s/%s", kl->name, cname, parts[p])
                                 : rnnck__asprintf("%s/%s_%s/%s/%s", kl->name, d ? "backward" : "forward", kl->name,
                                                   cname, parts[p]);
            if (!*nm) st = rnnck__oom();
        }
    if (!st) st = rnnck__h5w_group(h, group);
    if (!st && !k->keras3)
        st = rnnck__h5w_attr_strings(h, group, "weight_names", (const char *const *)names, (size_t)(dirs * per));
    /* Keras 3 writes a vars group for every saveable, empty when it owns no
     * variable itself (the RNN layer, Bidirectional and its two layers). */
    for (int d = -1; k->keras3 && d < (dirs == 2 ? 2 : 0) && !st; d++) {
        char *empty = d < 0 ? rnnck__asprintf("%s/vars", group)
                            : rnnck__asprintf("%s/%s_layer/vars", group, d ? "backward" : "forward");
        st = empty ? rnnck__h5w_group(h, empty) : rnnck__oom();
        free(empty);
    }
    for (int d = 0; d < dirs && !st; d++) {
        rnnck_tensor *wih, *whh, *bih = NULL, *bhh = NULL, *out = NULL;
        st = rnnck_model_param(m, kl->module, RNNCK_PARAM_WEIGHT_IH, kl->layer, d, &wih);
        if (!st) st = rnnck_model_param(m, kl->module, RNNCK_PARAM_WEIGHT_HH, kl->layer, d, &whh);
        if (!st && info->bias) st = rnnck_model_param(m, kl->module, RNNCK_PARAM_BIAS_IH, kl->layer, d, &bih);
        if (!st && info->bias) st = rnnck_model_param(m, kl->module, RNNCK_PARAM_BIAS_HH, kl->layer, d, &bhh);
        char *ds = NULL;
        for (int p = 0; p < per && !st; p++) {
            if (p < 2) {
                st = keras_kernel(lay, cell, p ? whh : wih, H, &out);
            } else if (cell == RNNCK_CELL_GRU && info->linear_before_reset) {
                int64_t shape[2] = {2, G * H}; /* reset_after=True: input row, recurrent row */
                size_t es = rnnck_dtype_size(info->dtype);
                if (!(st = rnnck_tensor_new(info->dtype, 2, shape, &out))) st = keras_bias(lay, cell, bih, NULL, H, rnnck_tensor_data(out));
                if (!st) st = keras_bias(lay, cell, bhh, NULL, H, (char *)rnnck_tensor_data(out) + (size_t)(G * H) * es);
            } else {
                int64_t shape[1] = {G * H}; /* one bias: the sum (reset-before GRUs add both outside r too) */
                if (!(st = rnnck_tensor_new(info->dtype, 1, shape, &out))) st = keras_bias(lay, cell, bih, bhh, H, rnnck_tensor_data(out));
            }
            if (!st && !(ds = rnnck__asprintf("%s/%s", group, names[d * per + p]))) st = rnnck__oom();
            if (!st) st = rnnck__h5w_dataset(h, ds, out);
            free(ds);
            ds = NULL;
            rnnck_tensor_free(out);
            out = NULL;
        }
    }
    for (int i = 0; i < 6; i++) free(names[i]);
    free(group);
    return st;
}

static rnnck_status write_dense_layer(const kwriter *kw, rnnck__h5w *h, const klayer *kl) {
    char *group = rnnck__asprintf("%s/%s", kw->root, kl->name);
    char *kn = kw->keras3 ? rnnck__strdup("vars/0") : rnnck__asprintf("%s/kernel:0", kl->name);
    char *bn = kw->keras3 ? rnnck__strdup("vars/1") : rnnck__asprintf("%s/bias:0", kl->name);
    rnnck_status st = group && kn && bn ? RNNCK_OK : rnnck__oom();
    const char *names[2] = {kn, bn};
    rnnck_tensor *k = NULL;
    if (!st) st = rnnck__h5w_group(h, group);
    if (!st && !kw->keras3) st = rnnck__h5w_attr_strings(h, group, "weight_names", names, 2);
    int64_t shape[2] = {rnnck_tensor_dim(kl->w, 1), rnnck_tensor_dim(kl->w, 0)};
    if (!st && !(st = rnnck_tensor_new(rnnck_tensor_dtype(kl->w), 2, shape, &k)))
        rnnck__transpose_bytes(rnnck_tensor_data(k), rnnck_tensor_cdata(kl->w), (size_t)shape[1], (size_t)shape[0],
                               rnnck_dtype_size(rnnck_tensor_dtype(kl->w)));
    char *p = NULL;
    if (!st && !(p = rnnck__asprintf("%s/%s", group, kn))) st = rnnck__oom();
    if (!st) st = rnnck__h5w_dataset(h, p, k);
    free(p);
    p = NULL;
    if (!st && !(p = rnnck__asprintf("%s/%s", group, bn))) st = rnnck__oom();
    if (!st) st = rnnck__h5w_dataset(h, p, kl->b);
    free(p);
    rnnck_tensor_free(k);
    free(group);
    free(kn);
    free(bn);
    return st;
}

rnnck_status rnnck__keras_write(rnnck_model *m, const char *path) {
    kwriter k = {m, path, NULL, "", false, NULL, 0, 0, NULL};
    k.done_modules = calloc(rnnck_model_module_count(m) + 1, 1);
    if (!k.done_modules) return rnnck__oom();
    char *config = NULL;
    /* Keras 3 saves weights only to a name ending in .weights.h5. */
    size_t plen = strlen(path);
    k.keras3 = plen >= 11 && !strcmp(path + plen - 11, ".weights.h5");
    rnnck_status st = rnnck_model_load_all(m);
    if (!st) st = plan(&k);
    if (!st && k.keras3) {
        k.root = "/layers";
        k.no_config = "no configuration"; /* needs_config says why */
        st = keras3_names(&k);
    } else if (!st) {
        st = rnnck__keras_stack_config(m, k.layers, k.n, &config, &k.no_config);
    }
    if (config) k.root = "/model_weights";
    for (size_t i = 0; !st && i < rnnck_model_module_count(m); i++) st = check_module(&k, rnnck_model_module(m, i));
    rnnck__atomic a;
    memset(&a, 0, sizeof a);
    bool begun = false;
    if (!st && !(st = rnnck__atomic_begin(&a, path, false))) begun = true;
    rnnck__h5w *h = NULL;
    if (!st) st = rnnck__h5w_create(a.tmp_path, path, &h);
    if (!st && k.keras3) st = rnnck__h5w_group(h, "/vars"); /* the model's own (none) */
    if (!st && k.keras3) st = rnnck__h5w_group(h, "/layers");
    if (!st && !k.keras3) {
        const char **names = calloc(k.n, sizeof *names);
        if (!names) st = rnnck__oom();
        for (size_t i = 0; !st && i < k.n; i++) names[i] = k.layers[i].name;
        const char *where = config ? k.root : "/";
        if (!st && config) st = rnnck__h5w_group(h, k.root);
        if (!st) st = rnnck__h5w_attr_strings(h, where, "layer_names", names, k.n);
        if (!st) st = rnnck__h5w_attr_string(h, where, "backend", "tensorflow");
        if (!st) st = rnnck__h5w_attr_string(h, where, "keras_version", RNNCK__KERAS_WRITE_VERSION);
        free(names);
    }
    if (!st && config) st = rnnck__h5w_attr_string(h, "/", "model_config", config);
    if (!st && config) st = rnnck__h5w_attr_string(h, "/", "backend", "tensorflow");
    if (!st && config) st = rnnck__h5w_attr_string(h, "/", "keras_version", RNNCK__KERAS_WRITE_VERSION);
    for (size_t i = 0; !st && i < k.n; i++)
        st = k.layers[i].is_module ? write_module_layer(&k, h, &k.layers[i]) : write_dense_layer(&k, h, &k.layers[i]);
    if (h) {
        rnnck_status cst = rnnck__h5w_close(h);
        if (!st) st = cst;
    }
    if (begun) {
        if (st) rnnck__atomic_abort(&a);
        else st = rnnck__atomic_commit(&a);
    }
    for (size_t i = 0; i < k.n; i++) free(k.layers[i].name);
    free(k.layers);
    free(k.done_modules);
    cJSON_free(config);
    return st;
}
