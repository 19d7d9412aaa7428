/* What was saved: a state_dict, a checkpoint dict holding one, or a whole
 * pickled module whose constructor arguments are read from its state (the
 * class is an inert reference; nothing is run). */
#include "pytorch/pytorch_internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_WALK_DEPTH 64

/* ------------------------------------------------------ what was saved */

static bool is_tensor(const pk_value *v) { return v && v->kind == PK_EXT && v->ext_tag == TAG_TENSOR; }

static bool is_state_dict(const pk_value *v) {
    if (!v || v->kind != PK_DICT || !v->n) return false;
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->kind != PK_STR || !is_tensor(v->vals[i])) return false;
    return true;
}

static const pk_value *object_state(const pk_value *v) {
    if (!v || v->kind != PK_OBJECT || !v->state) return NULL;
    const pk_value *s = v->state;
    if (s->kind == PK_TUPLE && s->n == 2) s = s->items[0]; /* (dict, slots) */
    return s->kind == PK_DICT ? s : NULL;
}

static bool is_module(const pk_value *v) {
    const pk_value *s = object_state(v);
    return s && rnnck__pk_dict_get(s, "_parameters") && rnnck__pk_dict_get(s, "_modules");
}

static char *join(const char *prefix, const char *name) {
    return rnnck__asprintf("%s%s%s", prefix, *prefix ? "." : "", name);
}

static int by_str(const void *a, const void *b) {
    const pk_value *x = *(const pk_value *const *)a, *y = *(const pk_value *const *)b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->s, y->s, x->len);
}

/* The strings of a _non_persistent_buffers_set, sorted, so each buffer name
 * is looked up in log time (a set and a table of a million entries each
 * must not cost a million squared). *out NULL when there are none. */
static rnnck_status sorted_skip_names(const pk_value *skip, const pk_value ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!skip || skip->kind != PK_SET || !skip->n) return RNNCK_OK;
    const pk_value **v = malloc(skip->n * sizeof *v);
    if (!v) return rnnck__oom();
    for (size_t j = 0; j < skip->n; j++)
        if (skip->items[j]->kind == PK_STR) v[(*n)++] = skip->items[j];
    qsort(v, *n, sizeof *v, by_str);
    *out = v;
    return RNNCK_OK;
}

static rnnck_status add_tensor_dict(rnnck__sd *sd, const pk_value *d, const char *prefix, const pk_value *skip,
                                    const char *label) {
    if (!d || d->kind == PK_NONE) return RNNCK_OK;
    if (d->kind != PK_DICT)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: parameter table is a %s", label, *prefix ? prefix : "(root)",
                          rnnck__pk_kind_name(d->kind));
    const pk_value **skips;
    size_t nskips;
    rnnck_status st = sorted_skip_names(skip, &skips, &nskips);
    for (size_t i = 0; i < d->n && !st; i++) {
        const pk_value *k = d->items[i], *v = d->vals[i];
        if (v->kind == PK_NONE) continue;
        if (k->kind != PK_STR || !is_tensor(v) || strlen(k->s) != k->len) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: module %s: entry of its parameter table is not a named tensor", label,
                            *prefix ? prefix : "(root)");
            break;
        }
        if (nskips && bsearch(&k, skips, nskips, sizeof *skips, by_str))
            continue; /* non-persistent buffer: not in the state_dict */
        char *name = join(prefix, k->s);
        if (!name) {
            st = rnnck__oom();
            break;
        }
        st = rnnck__sd_add_tensor(sd, name, v->ext);
        free(name);
    }
    free(skips);
    return st;
}

static int64_t int_attr(const pk_value *state, const char *key, int64_t dflt, bool *bad) {
    const pk_value *v = rnnck__pk_dict_get(state, key);
    if (!v) return dflt;
    if (v->kind != PK_INT && v->kind != PK_BOOL) {
        *bad = true;
        return 0;
    }
    return v->i;
}

/* The constructor arguments of a pickled torch.nn.LSTM/GRU/RNN. */
static rnnck_status describe_rnn(rnnck__sd *sd, const pk_value *state, const char *prefix, const char *label) {
    const pk_value *mode = rnnck__pk_dict_get(state, "mode");
    rnnck_cell cell = mode && mode->kind == PK_STR ? rnnck_cell_from_name(mode->s) : RNNCK_CELL_INVALID;
    if (!cell)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: recurrent module %s has mode %.40s", label,
                          *prefix ? prefix : "(root)", mode && mode->kind == PK_STR ? mode->s : "(missing)");
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    bool bad = false;
    info.name = prefix;
    info.input_size = int_attr(state, "input_size", 0, &bad);
    info.hidden_size = int_attr(state, "hidden_size", 0, &bad);
    info.num_layers = int_attr(state, "num_layers", 1, &bad);
    info.bias = (int)int_attr(state, "bias", 1, &bad);
    info.batch_first = (int)int_attr(state, "batch_first", 0, &bad);
    info.bidirectional = (int)int_attr(state, "bidirectional", 0, &bad);
    info.proj_size = int_attr(state, "proj_size", 0, &bad);
    const pk_value *params = rnnck__pk_dict_get(state, "_parameters");
    const pk_value *w = rnnck__pk_dict_get(params, "weight_ih_l0");
    if (bad || !is_tensor(w))
        return rnnck__err(RNNCK_E_FORMAT, "%s: recurrent module %s: constructor arguments or weight_ih_l0 malformed",
                          label, *prefix ? prefix : "(root)");
    info.dtype = ((const rnnck_tensor *)w->ext)->dtype;
    return rnnck__sd_add_module(sd, &info);
}

static rnnck_status collect_module(rnnck__sd *sd, const pk_value *obj, const char *prefix, int depth,
                                   const char *label) {
    if (depth > MAX_WALK_DEPTH)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: modules nested deeper than %d", label, MAX_WALK_DEPTH);
    const pk_value *state = object_state(obj);
    rnnck_status st = RNNCK_OK;
    if (!is_module(obj)) {
        /* A plain object holding modules as attributes. */
        for (size_t i = 0; state && i < state->n && !st; i++)
            if (state->items[i]->kind == PK_STR && is_module(state->vals[i])) {
                char *name = join(prefix, state->items[i]->s);
                if (!name) return rnnck__oom();
                st = collect_module(sd, state->vals[i], name, depth + 1, label);
                free(name);
            }
        return st;
    }
    const pk_value *mode = rnnck__pk_dict_get(state, "mode");
    if (mode && mode->kind == PK_STR && rnnck__pk_dict_get(state, "hidden_size"))
        st = describe_rnn(sd, state, prefix, label);
    if (!st) st = add_tensor_dict(sd, rnnck__pk_dict_get(state, "_parameters"), prefix, NULL, label);
    if (!st)
        st = add_tensor_dict(sd, rnnck__pk_dict_get(state, "_buffers"), prefix,
                             rnnck__pk_dict_get(state, "_non_persistent_buffers_set"), label);
    const pk_value *mods = rnnck__pk_dict_get(state, "_modules");
    if (mods && mods->kind != PK_DICT)
        return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: _modules is not a dict", label, prefix);
    for (size_t i = 0; mods && i < mods->n && !st; i++) {
        if (mods->vals[i]->kind == PK_NONE) continue;
        if (mods->items[i]->kind != PK_STR || !is_module(mods->vals[i]))
            return rnnck__err(RNNCK_E_FORMAT, "%s: module %s: a submodule is not a module object", label,
                              *prefix ? prefix : "(root)");
        char *name = join(prefix, mods->items[i]->s);
        if (!name) return rnnck__oom();
        st = collect_module(sd, mods->vals[i], name, depth + 1, label);
        free(name);
    }
    return st;
}

static void list_keys(const pk_value *d, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < d->n && used + 2 < n; i++)
        if (d->items[i]->kind == PK_STR) {
            int k = snprintf(buf + used, n - used, "%s%.40s", used ? ", " : "", d->items[i]->s);
            if (k < 0) break;
            used += (size_t)k;
        }
    if (used >= n) buf[n - 1] = 0;
}

rnnck_status rnnck__pt_collect(rnnck__sd *sd, const pk_value *root, const rnnck_open_opts *opts, const char *label) {
    char keys[300];
    if (opts && opts->key) {
        if (!root || root->kind != PK_DICT)
            return rnnck__err(RNNCK_E_USAGE, "%s: key '%s' given, but the file holds a %s, not a dict", label,
                              opts->key, rnnck__pk_kind_name(root->kind));
        const pk_value *v = rnnck__pk_dict_get(root, opts->key);
        if (!v) {
            list_keys(root, keys, sizeof keys);
            return rnnck__err(RNNCK_E_NOTFOUND, "%s: no entry '%s' (entries: %s)", label, opts->key, keys);
        }
        root = v;
        if (!is_state_dict(root) && !is_module(root) && !(root->kind == PK_DICT && root->n == 0))
            return rnnck__err(RNNCK_E_FORMAT, "%s: entry '%s' is a %s, not a state_dict or module", label, opts->key,
                              rnnck__pk_kind_name(root->kind));
    }
    if (root->kind == PK_OBJECT) return collect_module(sd, root, "", 0, label);
    if (root->kind != PK_DICT)
        return rnnck__err(RNNCK_E_FORMAT, "%s: holds a %s, not a state_dict, checkpoint dict or module", label,
                          rnnck__pk_kind_name(root->kind));
    if (is_state_dict(root) || root->n == 0) return add_tensor_dict(sd, root, "", NULL, label);
    /* A checkpoint dict: the one entry that is a state_dict or module, or
     * the conventional name when there are several. */
    static const char *const preferred[] = {"model", "state_dict", "model_state_dict", "net", "module", NULL};
    const pk_value *pick = NULL;
    size_t count = 0;
    for (size_t i = 0; i < root->n; i++)
        if (root->items[i]->kind == PK_STR && (is_state_dict(root->vals[i]) || is_module(root->vals[i]))) {
            count++;
            if (!pick) pick = root->vals[i];
        }
    if (count > 1) {
        pick = NULL;
        for (const char *const *p = preferred; *p && !pick; p++) {
            const pk_value *v = rnnck__pk_dict_get(root, *p);
            if (v && (is_state_dict(v) || is_module(v))) pick = v;
        }
        if (!pick) {
            list_keys(root, keys, sizeof keys);
            return rnnck__err(RNNCK_E_USAGE, "%s: several entries hold weights (%s); choose one with the key option",
                              label, keys);
        }
    }
    if (!pick) {
        list_keys(root, keys, sizeof keys);
        return rnnck__err(RNNCK_E_FORMAT, "%s: no entry holds a state_dict or module (entries: %s)", label, keys);
    }
    return pick->kind == PK_OBJECT ? collect_module(sd, pick, "", 0, label)
                                   : add_tensor_dict(sd, pick, "", NULL, label);
}
