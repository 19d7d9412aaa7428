/* State dicts to models and back: recurrent modules inferred from parameter
 * names and shapes, overrides from the user, and export of a model's tensors
 * under PyTorch semantics. */
#include "common/state_dict.h"
#include "core/strmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rnnck__sd_init_for(rnnck__sd *sd, const rnnck_open_opts *opts, const char *label) {
    memset(sd, 0, sizeof *sd);
    rnnck_limits lim;
    if (opts && opts->limits)
        lim = *opts->limits;
    else
        rnnck_limits_init(&lim);
    sd->max_tensors = lim.max_tensors;
    sd->label = label ? label : "state_dict";
}

void rnnck__sd_free(rnnck__sd *sd) {
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->items[i].name);
        rnnck_tensor_free(sd->items[i].t);
    }
    for (size_t i = 0; i < sd->nmods; i++) free((char *)sd->mods[i].name);
    free(sd->items);
    free(sd->mods);
    memset(sd, 0, sizeof *sd);
}

/* A second tensor header over the same storage (same view). */
rnnck_status rnnck__tensor_alias(const rnnck_tensor *t, rnnck_tensor **out) {
    rnnck_tensor *a;
    rnnck_status st = rnnck__tensor_new_unloaded(t->dtype, t->ndim, t->shape, &a);
    if (st) return st;
    memcpy(a->stride, t->stride, sizeof a->stride);
    a->storage = t->storage;
    a->offset = t->offset;
    a->source_key = t->source_key; /* unloaded: where its model's source finds it */
    if (a->storage) a->storage->refcount++;
    *out = a;
    return RNNCK_OK;
}

rnnck_status rnnck__sd_add_tensor(rnnck__sd *sd, const char *name, rnnck_tensor *t) {
    /* checked as entries arrive: each costs a name and a header, and a
     * pickle can list one memoised tensor millions of times for 4 bytes each */
    if (sd->max_tensors > 0 && (int64_t)sd->n >= sd->max_tensors)
        return rnnck__err(RNNCK_E_NOMEM, "%s: more than %lld tensors (the limit)", sd->label,
                          (long long)sd->max_tensors);
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 32;
        rnnck__sd_entry *p = realloc(sd->items, cap * sizeof *p);
        if (!p) return rnnck__oom();
        sd->items = p;
        sd->cap = cap;
    }
    rnnck__sd_entry *e = &sd->items[sd->n];
    e->name = rnnck__strdup(name);
    if (!e->name) return rnnck__oom();
    rnnck_status st = rnnck__tensor_alias(t, &e->t);
    if (st) {
        free(e->name);
        return st;
    }
    sd->n++;
    return RNNCK_OK;
}

rnnck_status rnnck__sd_add_module(rnnck__sd *sd, const rnnck_module_info *info) {
    if (sd->nmods == sd->modcap) {
        size_t cap = sd->modcap ? sd->modcap * 2 : 4;
        rnnck_module_info *p = realloc(sd->mods, cap * sizeof *p);
        if (!p) return rnnck__oom();
        sd->mods = p;
        sd->modcap = cap;
    }
    rnnck_module_info *m = &sd->mods[sd->nmods];
    *m = *info;
    m->name = rnnck__strdup(info->name ? info->name : "");
    if (!m->name) return rnnck__oom();
    sd->nmods++;
    return RNNCK_OK;
}

/* ------------------------------------------------------------ name index */

typedef struct name_ref {
    const char *name;
    size_t index;
} name_ref;

typedef struct name_index {
    const rnnck__sd *sd;
    name_ref *order; /* entries sorted by name */
} name_index;

static int by_name(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

static rnnck_status index_build(name_index *ix, const rnnck__sd *sd, const char *label) {
    ix->sd = sd;
    ix->order = malloc((sd->n ? sd->n : 1) * sizeof *ix->order);
    if (!ix->order) return rnnck__oom();
    for (size_t i = 0; i < sd->n; i++) ix->order[i] = (name_ref){sd->items[i].name, i};
    qsort(ix->order, sd->n, sizeof *ix->order, by_name);
    for (size_t i = 1; i < sd->n; i++)
        if (!strcmp(ix->order[i].name, ix->order[i - 1].name)) {
            rnnck_status st =
                rnnck__err(RNNCK_E_FORMAT, "%s: tensor name %.300s appears twice", label, ix->order[i].name);
            free(ix->order);
            return st;
        }
    return RNNCK_OK;
}

static long index_find(const name_index *ix, const char *name) {
    size_t lo = 0, hi = ix->sd->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->order[mid].name, name);
        if (!c) return (long)ix->order[mid].index;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ------------------------------------------------------ parameter names */

/* The last stem, peephole, belongs only to modules a file describes (no
 * state_dict of torch.nn has it): elsewhere it names a plain tensor. */
static const char *const stems[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "peephole"};
#define PEEPHOLE_STEM (sizeof stems / sizeof *stems - 1)

/* Splits "a.b.weight_hh_l1_reverse" into prefix length (of "a.b"), layer;
 * *stem gets the index of its stem. */
static bool parse_param(const char *name, size_t *prefix_len, int64_t *layer, size_t *stem) {
    const char *dot = strrchr(name, '.');
    const char *local = dot ? dot + 1 : name;
    for (size_t k = 0; k < sizeof stems / sizeof *stems; k++) {
        size_t n = strlen(stems[k]);
        if (strncmp(local, stems[k], n) != 0 || strncmp(local + n, "_l", 2) != 0) continue;
        const char *p = local + n + 2;
        int64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 5) v = v * 10 + (*p++ - '0'), digits++;
        if (!digits || (digits > 1 && local[n + 2] == '0')) return false;
        if (*p && strcmp(p, "_reverse") != 0) return false;
        *prefix_len = dot ? (size_t)(dot - name) : 0;
        *layer = v;
        *stem = k;
        return true;
    }
    return false;
}

typedef struct group {
    char *prefix;
    int64_t max_layer;
    int reverse;
    size_t members;
    int hinted; /* described by the file */
    rnnck_module_info info;
} group;

/* Prefixes are at most RNNCK__MAX_PREFIX (checked in find_groups), so the
 * full name always fits: no truncation can find a different tensor. */
#define RNNCK__MAX_PREFIX 1024
#define FULL_NAME_MAX (RNNCK__MAX_PREFIX + 64)

static rnnck_tensor *find_param(const name_index *ix, const char *prefix, const char *local) {
    char name[FULL_NAME_MAX];
    int n = snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", local);
    if (n < 0 || (size_t)n >= sizeof name) return NULL;
    long i = index_find(ix, name);
    return i < 0 ? NULL : ix->sd->items[i].t;
}

static const char *label_of(const char *prefix) { return *prefix ? prefix : "(root)"; }

/* Module description from the shapes of a group's layer-0 parameters. */
static rnnck_status infer(const name_index *ix, group *g, const char *label) {
    const char *p = g->prefix;
    rnnck_tensor *wih = find_param(ix, p, "weight_ih_l0"), *whh = find_param(ix, p, "weight_hh_l0");
    rnnck_tensor *whr = find_param(ix, p, "weight_hr_l0"), *bih = find_param(ix, p, "bias_ih_l0");
    if (!wih || !whh)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s has recurrent parameter names but no %s", label, label_of(p),
                          wih ? "weight_hh_l0" : "weight_ih_l0");
    if (wih->ndim != 2 || whh->ndim != 2 || (whr && whr->ndim != 2))
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: layer-0 weights must be 2-D", label, label_of(p));
    int64_t hidden = whr ? whr->shape[1] : whh->shape[1];
    if (hidden < 1 || whh->shape[0] % hidden)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: module %s: weight_hh_l0 rows %lld are not a multiple of hidden_size %lld", label,
                          label_of(p), (long long)whh->shape[0], (long long)hidden);
    int64_t gates = whh->shape[0] / hidden;
    rnnck_cell cell = gates == 4   ? RNNCK_CELL_LSTM
                      : gates == 3 ? RNNCK_CELL_GRU
                      : gates == 1 ? RNNCK_CELL_RNN_TANH
                                   : RNNCK_CELL_INVALID;
    if (!cell)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: weight_hh_l0 has %lld gate blocks (LSTM 4, GRU 3, RNN 1)",
                          label, label_of(p), (long long)gates);
    rnnck_module_info_init(&g->info, cell);
    g->info.name = g->prefix;
    g->info.input_size = wih->shape[1];
    g->info.hidden_size = hidden;
    g->info.proj_size = whr ? whr->shape[0] : 0;
    g->info.num_layers = g->max_layer + 1;
    g->info.bias = bih != NULL;
    g->info.bidirectional = g->reverse;
    g->info.dtype = wih->dtype;
    return RNNCK_OK;
}

/* Every parameter the description implies exists with its shape and dtype,
 * and the group holds nothing else. */
static rnnck_status check_group(const name_index *ix, const group *g, const char *label) {
    const rnnck_module_info *info = &g->info;
    const char *mod = label_of(g->prefix);
    if (rnnck_module_info_validate(info)) {
        char why[400];
        snprintf(why, sizeof why, "%s", rnnck_errmsg());
        return rnnck__err(RNNCK_E_FORMAT, "%s: not a valid recurrent module: %s", label, why);
    }
    size_t found = 0;
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int d = 0; d < (info->bidirectional ? 2 : 1); d++)
            for (int k = 0; k < RNNCK_PARAM_COUNT_; k++) {
                int64_t shape[2];
                int nd = rnnck_param_shape(info, (rnnck_param)k, layer, shape);
                if (!nd) continue;
                char name[FULL_NAME_MAX], want[64], got[64];
                if (rnnck__param_full_name(info, (rnnck_param)k, layer, d, name, sizeof name))
                    return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: parameter names too long", label, mod);
                long i = index_find(ix, name);
                if (i < 0)
                    return rnnck__err(RNNCK_E_FORMAT, "%s: module %s (%s) lacks parameter %s", label, mod,
                                      rnnck_cell_name(info->cell), name);
                const rnnck_tensor *t = ix->sd->items[i].t;
                if (t->ndim != nd || t->shape[0] != shape[0] || (nd == 2 && t->shape[1] != shape[1]))
                    return rnnck__err(RNNCK_E_FORMAT, "%s: %s has shape %s, but %s of module %s needs %s", label, name,
                                      rnnck__shape_str(t->ndim, t->shape, got, sizeof got), rnnck_cell_name(info->cell),
                                      mod, rnnck__shape_str(nd, shape, want, sizeof want));
                if (t->dtype != info->dtype)
                    return rnnck__err(RNNCK_E_FORMAT, "%s: %s is %s but module %s's parameters are %s", label, name,
                                      rnnck_dtype_name(t->dtype), mod, rnnck_dtype_name(info->dtype));
                found++;
            }
    if (found != g->members)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: module %s has %zu recurrent parameters, but a %s with these sizes has %zu", label, mod,
                          g->members, rnnck_cell_name(info->cell), found);
    return RNNCK_OK;
}

/* ------------------------------------------------------------ overrides */

int rnnck__parse_bool(const char *v) {
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1")) return 1;
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0")) return 0;
    return -1;
}

rnnck_status rnnck__split_set(const char *set, const char *label, char key[RNNCK__SET_MAX], const char **module,
                              const char **attr, const char **value) {
    const char *eq = strchr(set, '=');
    if (!eq || eq == set || strlen(set) >= RNNCK__SET_MAX)
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s' is not of the form [module.]attribute=value", label,
                          set);
    memcpy(key, set, (size_t)(eq - set));
    key[eq - set] = 0;
    *value = eq + 1;
    char *dot = strrchr(key, '.');
    *attr = dot ? dot + 1 : key;
    if (dot) *dot = 0;
    *module = dot ? key : "";
    return RNNCK_OK;
}

static rnnck_status apply_set(group *groups, size_t ng, const char *set, const char *label) {
    char key[RNNCK__SET_MAX];
    const char *module, *attr, *value;
    rnnck_status st = rnnck__split_set(set, label, key, &module, &attr, &value);
    if (st) return st;
    group *g = NULL;
    for (size_t i = 0; i < ng; i++)
        if (!strcmp(groups[i].prefix, module)) g = &groups[i];
    if (!g)
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': no recurrent module named '%s'", label, set, module);
    rnnck_module_info *info = &g->info;
    if (!strcmp(attr, "nonlinearity")) {
        if (info->cell != RNNCK_CELL_RNN_TANH && info->cell != RNNCK_CELL_RNN_RELU)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': module %s is a %s, not an RNN", label, set,
                              label_of(module), rnnck_cell_name(info->cell));
        rnnck_cell cell = !strcmp(value, "tanh")   ? RNNCK_CELL_RNN_TANH
                          : !strcmp(value, "relu") ? RNNCK_CELL_RNN_RELU
                                                   : RNNCK_CELL_INVALID;
        if (!cell)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': nonlinearity must be tanh or relu", label, set);
        info->cell = cell;
        for (int d = 0; d < 2; d++)
            info->act[d][0].kind = cell == RNNCK_CELL_RNN_RELU ? RNNCK_ACT_RELU : RNNCK_ACT_TANH;
    } else if (!strcmp(attr, "batch_first")) {
        int b = rnnck__parse_bool(value);
        if (b < 0)
            return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': batch_first must be true or false", label, set);
        info->batch_first = b;
    } else {
        return rnnck__err(RNNCK_E_USAGE, "%s: override '%.200s': unknown attribute '%s' (nonlinearity, batch_first)",
                          label, set, attr);
    }
    return RNNCK_OK;
}

/* ---------------------------------------------------------------- build */

static void free_groups(group *groups, size_t ng) {
    for (size_t i = 0; i < ng; i++) free(groups[i].prefix);
    free(groups);
}

static rnnck_status find_groups(const rnnck__sd *sd, const char *label, group **out, size_t *nout) {
    group *groups = NULL;
    size_t ng = 0, cap = 0;
    rnnck_status st = RNNCK_OK;
    /* prefix -> group index: finding a name's group is O(1), so 100,000
     * names with distinct prefixes cost 100,000 steps, not n^2/2 */
    rnnck__strmap tab;
    if ((st = rnnck__strmap_init(&tab, 64, false))) return st;
    /* modules the file described come first, in its order */
    for (size_t i = 0; i < sd->nmods + sd->n && !st; i++) {
        const char *prefix;
        size_t plen;
        int64_t layer = 0;
        int reverse = 0;
        size_t stem = 0;
        if (i < sd->nmods) {
            prefix = sd->mods[i].name;
            plen = strlen(prefix);
        } else {
            const char *name = sd->items[i - sd->nmods].name;
            if (!parse_param(name, &plen, &layer, &stem)) continue;
            prefix = name;
            size_t n = strlen(name);
            reverse = n > 8 && !strcmp(name + n - 8, "_reverse");
        }
        if (plen > RNNCK__MAX_PREFIX) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: module name of %zu characters (at most %d): %.40s...", label, plen,
                            RNNCK__MAX_PREFIX, prefix);
            break;
        }
        uintptr_t found;
        size_t g = rnnck__strmap_get_n(&tab, prefix, plen, &found) ? (size_t)found : ng;
        if (i >= sd->nmods && stem == PEEPHOLE_STEM && (g == ng || !groups[g].hinted)) continue;
        if (g == ng) {
            if (ng == cap) {
                cap = cap ? cap * 2 : 4;
                group *p = realloc(groups, cap * sizeof *p);
                if (!p) {
                    st = rnnck__oom();
                    break;
                }
                groups = p;
            }
            memset(&groups[ng], 0, sizeof groups[ng]);
            groups[ng].prefix = malloc(plen + 1);
            if (!groups[ng].prefix) {
                st = rnnck__oom();
                break;
            }
            memcpy(groups[ng].prefix, prefix, plen);
            groups[ng].prefix[plen] = 0;
            if ((st = rnnck__strmap_add(&tab, groups[ng].prefix, ng, NULL))) {
                free(groups[ng].prefix);
                break;
            }
            if (i < sd->nmods) {
                groups[ng].hinted = 1;
                groups[ng].info = sd->mods[i];
                groups[ng].info.name = groups[ng].prefix;
            }
            ng++;
        }
        if (i >= sd->nmods) {
            groups[g].members++;
            if (layer > groups[g].max_layer) groups[g].max_layer = layer;
            groups[g].reverse |= reverse;
        }
    }
    rnnck__strmap_free(&tab);
    if (st) {
        free_groups(groups, ng);
        return st;
    }
    *out = groups;
    *nout = ng;
    return RNNCK_OK;
}

rnnck_status rnnck__sd_build(rnnck__sd *sd, const char *label, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck_limits lim;
    if (opts && opts->limits)
        lim = *opts->limits;
    else
        rnnck_limits_init(&lim);
    if ((int64_t)sd->n > lim.max_tensors)
        return rnnck__err(RNNCK_E_NOMEM, "%s: %zu tensors, over the limit of %lld", label, sd->n,
                          (long long)lim.max_tensors);
    name_index ix;
    rnnck_status st = index_build(&ix, sd, label);
    if (st) return st;
    group *groups = NULL;
    size_t ng = 0;
    st = find_groups(sd, label, &groups, &ng);
    for (size_t g = 0; g < ng && !st; g++)
        if (!groups[g].hinted) st = infer(&ix, &groups[g], label);
    for (const char *const *s = opts ? opts->sets : NULL; s && *s && !st; s++) st = apply_set(groups, ng, *s, label);
    for (size_t g = 0; g < ng && !st; g++) st = check_group(&ix, &groups[g], label);
    rnnck_model *m = NULL;
    if (!st) {
        st = rnnck_model_new(&m);
        for (size_t g = 0; g < ng && !st; g++) st = rnnck__model_add_module_desc(m, &groups[g].info);
        for (size_t i = 0; i < sd->n && !st; i++)
            st = rnnck__model_add_tensor_ref(m, sd->items[i].name, sd->items[i].t);
        if (st == RNNCK_E_USAGE) { /* a name the model refuses is the file's fault */
            char why[400];
            snprintf(why, sizeof why, "%s", rnnck_errmsg());
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s", label, why);
        }
    }
    free_groups(groups, ng);
    free(ix.order);
    if (st) {
        rnnck_model_free(m);
        return st;
    }
    *out = m;
    return RNNCK_OK;
}

/* --------------------------------------------------------------- export */

/* Names the first feature of a module that torch.nn cannot express. */
static const char *inexpressible(const rnnck_module_info *info) {
    if (info->reverse)
        return info->output_reversed ? "a lone backward direction with its output in processing order (Keras "
                                       "go_backwards=True)"
                                     : "a lone backward direction (ONNX direction=\"reverse\")";
    if (info->merge_mode != RNNCK_MERGE_CONCAT) {
        static const char *const why[RNNCK_MERGE_COUNT_] = {
            "", "Bidirectional merge_mode sum", "Bidirectional merge_mode mul", "Bidirectional merge_mode ave",
            "Bidirectional merge_mode none (two separate outputs)"};
        return why[info->merge_mode];
    }
    if (info->peepholes) return "peephole connections";
    if (info->input_forget) return "coupled input/forget gates (input_forget)";
    if (info->clip > 0) return "gate clipping (clip)";
    if (info->cell_clip > 0) return "cell-state clipping (TF cell_clip)";
    if (info->proj_clip > 0) return "projection-output clipping (TF proj_clip)";
    if (info->cell == RNNCK_CELL_GRU && !info->linear_before_reset)
        return "GRU reset gate applied before the recurrent product (linear_before_reset=0)";
    if (info->forget_bias != 0 && !info->bias) return "run-time forget_bias without bias parameters to fold it into";
    rnnck_module_info plain = *info;
    plain.forget_bias = 0;
    if (!rnnck_module_info_is_pytorch(&plain)) return "activations other than PyTorch's (e.g. hard_sigmoid)";
    return NULL;
}

rnnck_status rnnck__export_check(const rnnck_model *m, const char *label) {
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        const char *why = inexpressible(info);
        if (why)
            return rnnck__err(RNNCK_E_INEXACT, "%s: module %s (%s) has %s, which PyTorch cannot express", label,
                              label_of(info->name), rnnck_cell_name(info->cell), why);
    }
    return RNNCK_OK;
}

/* Element-by-element byte copy of a strided tensor into C order (bit-exact
 * for every dtype, unlike a conversion through double). */
void rnnck__strided_copy(const rnnck_tensor *t, void *dst) {
    size_t es = rnnck_dtype_size(t->dtype);
    int64_t numel = rnnck_tensor_numel(t);
    const char *base = rnnck_tensor_cdata(t);
    if (rnnck_tensor_is_contiguous(t)) {
        memcpy(dst, base, (size_t)numel * es);
        return;
    }
    int64_t idx[RNNCK_MAX_DIMS] = {0};
    char *out = dst;
    for (int64_t k = 0; k < numel; k++) {
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy(out + (size_t)k * es, base + (size_t)off * es, es);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* The forget_bias of an LSTM is added to the forget pre-activation at run
 * time; adding it once to bias_ih's f block gives the same sum, so the fold is
 * exact under the conversion policy (DESIGN.md section 3). */
/* The LSTM whose bias_ih t is, when that LSTM has a forget_bias to fold. */
static const rnnck_module_info *fold_owner(const rnnck_model *m, const rnnck_tensor *t) {
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        if (info->cell != RNNCK_CELL_LSTM || info->forget_bias == 0 || !info->bias) continue;
        for (int64_t layer = 0; layer < info->num_layers; layer++)
            for (int d = 0; d < (info->bidirectional ? 2 : 1); d++) {
                char name[1200];
                if (rnnck__param_full_name(info, RNNCK_PARAM_BIAS_IH, layer, d, name, sizeof name)) continue;
                if (strcmp(name, rnnck_tensor_name(t)) == 0) return info;
            }
    }
    return NULL;
}

static void fold_forget_bias(const rnnck_model *m, const rnnck_tensor *t, void *data) {
    const rnnck_module_info *info = fold_owner(m, t);
    if (!info) return;
    int64_t h = info->hidden_size; /* gate order ifgo: f is block 1 */
    for (int64_t k = h; k < 2 * h; k++)
        rnnck__store_double(t->dtype, data, k, rnnck__load_as_double(t->dtype, data, k) + info->forget_bias);
}

rnnck_status rnnck__export_locate(rnnck_model *m, size_t i, const char *label, rnnck__export_extent *x) {
    rnnck_tensor *t = rnnck_model_tensor(m, i);
    if (!t || fold_owner(m, t)) return RNNCK_E_UNSUPPORTED;
    x->m = m;
    x->t = t;
    x->label = label;
    return rnnck__model_locate(m, t, &x->at);
}

rnnck_status rnnck__export_copy(void *x, int out_fd, uint64_t out_off, uint32_t *crc) {
    rnnck__export_extent *e = x;
    return rnnck__model_copy_extent(e->m, e->t, &e->at, out_fd, out_off, crc, e->label);
}

rnnck_status rnnck__tensor_bytes(rnnck_model *m, size_t i, void **data, size_t *nbytes) {
    rnnck_tensor *t = rnnck_model_tensor(m, i);
    if (!t) return rnnck__err(RNNCK_E_USAGE, "tensor index %zu out of range", i);
    size_t n = rnnck_tensor_nbytes(t);
    void *buf = malloc(n ? n : 1);
    if (!buf) return rnnck__err(RNNCK_E_NOMEM, "cannot allocate %zu bytes for tensor %s", n, rnnck_tensor_name(t));
    if (rnnck__tensor_loaded(t)) {
        rnnck__strided_copy(t, buf);
    } else {
        rnnck_status st = rnnck_model_read(m, rnnck_tensor_name(t), t->dtype, buf, n);
        if (st) {
            free(buf);
            return st;
        }
    }
    *data = buf;
    *nbytes = n;
    return RNNCK_OK;
}

rnnck_status rnnck__export_tensor(rnnck_model *m, size_t i, void **data, size_t *nbytes) {
    rnnck_status st = rnnck__tensor_bytes(m, i, data, nbytes);
    if (!st) fold_forget_bias(m, rnnck_model_tensor(m, i), *data);
    return st;
}
