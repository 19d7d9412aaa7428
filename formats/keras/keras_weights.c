/* Which datasets belong to which Keras layer. Legacy .h5 files name them in
 * attributes (layer_names on the weights group, weight_names on each layer
 * group, each possibly split into name0, name1, ...), and only those names
 * are followed: paths are never guessed. Keras 3 files number each layer's
 * variables: <layer path>/vars/0, 1, ... */
#include "keras/keras_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rnnck_status rnnck__keras_attr_list(const rnnck__kctx *ctx, const rnnck__h5t_node *n, const char *name,
                                    const char ***out, size_t *count, bool *present) {
    *out = NULL;
    *count = 0;
    *present = false;
    const rnnck__h5t_attr *whole = rnnck__h5t_attr_find(n, name);
    const rnnck__h5t_attr *parts[RNNCK__H5T_MAX_ATTRS];
    size_t nparts = 0, total = 0;
    if (whole) {
        parts[nparts++] = whole;
    } else {
        char key[300];
        for (size_t k = 0; k < RNNCK__H5T_MAX_ATTRS; k++) {
            snprintf(key, sizeof key, "%s%zu", name, k);
            const rnnck__h5t_attr *a = rnnck__h5t_attr_find(n, key);
            if (!a) break;
            parts[nparts++] = a;
        }
    }
    if (!nparts) return RNNCK_OK;
    for (size_t k = 0; k < nparts; k++) {
        /* Keras writes an empty list as an empty float array. */
        if (parts[k]->kind != RNNCK__H5T_STRING && parts[k]->count != 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: attribute %s%s is not a list of strings", ctx->file, n->path,
                              parts[k]->name, whole ? "" : " (a piece of a split list)");
        total += parts[k]->count;
    }
    if (total > RNNCK__KERAS_MAX_LAYERS)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: attribute %s lists %zu names (limit %d)", ctx->file, n->path, name,
                          total, RNNCK__KERAS_MAX_LAYERS);
    const char **list = calloc(total ? total : 1, sizeof *list);
    if (!list) return rnnck__oom();
    size_t at = 0;
    for (size_t k = 0; k < nparts; k++)
        for (size_t i = 0; i < parts[k]->count; i++) {
            const char *s = parts[k]->strings ? parts[k]->strings[i] : "";
            if (parts[k]->lengths[i] == 0 || parts[k]->lengths[i] > RNNCK__KERAS_MAX_NAME) {
                free(list);
                return rnnck__err(RNNCK_E_FORMAT, "%s: %s: attribute %s: name #%zu is empty or longer than %d bytes",
                                  ctx->file, n->path, parts[k]->name, i, RNNCK__KERAS_MAX_NAME);
            }
            list[at++] = s;
        }
    *out = list;
    *count = total;
    *present = true;
    return RNNCK_OK;
}

/* snake_case class names as Keras 3 builds paths: "lstm_1" -> "LSTM". */
static const char *class_from_path(const char *name) {
    static const struct {
        const char *stem, *cls;
    } map[] = {{"lstm", "LSTM"},   {"gru", "GRU"},     {"simple_rnn", "SimpleRNN"}, {"bidirectional", "Bidirectional"},
               {"dense", "Dense"}, {"embedding", "Embedding"}};
    size_t len = strlen(name);
    const char *us = strrchr(name, '_');
    if (us && us[1]) {
        bool digits = true;
        for (const char *p = us + 1; *p; p++) digits = digits && *p >= '0' && *p <= '9';
        if (digits) len = (size_t)(us - name);
    }
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strlen(map[i].stem) == len && !strncmp(name, map[i].stem, len)) return map[i].cls;
    return NULL;
}

rnnck_status rnnck__keras_read_legacy(rnnck__kctx *ctx, const rnnck__h5t_node *g) {
    const char **layers = NULL;
    size_t nlayers = 0;
    bool present;
    rnnck_status st = rnnck__keras_attr_list(ctx, g, "layer_names", &layers, &nlayers, &present);
    if (st) return st;
    if (!present)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: no layer_names attribute (not a Keras weights group)", ctx->file,
                          g->path);
    rnnck__kweight *w = NULL;
    for (size_t i = 0; i < nlayers && !st; i++) {
        const char *lname = layers[i];
        const rnnck__h5t_node *lg = rnnck__h5t_child(g, lname);
        if (!lg || !lg->is_group) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer_names names '%s' but there is no such group", ctx->file,
                            g->path, lname);
            break;
        }
        const char **wnames = NULL;
        size_t nw = 0;
        if ((st = rnnck__keras_attr_list(ctx, lg, "weight_names", &wnames, &nw, &present))) break;
        if (!present) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s' has no weight_names attribute", ctx->file, lg->path,
                            lname);
            break;
        }
        if (nw > RNNCK__KERAS_MAX_WEIGHTS) {
            free(wnames);
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s' lists %zu weights (limit %d)", ctx->file, lg->path,
                            lname, nw, RNNCK__KERAS_MAX_WEIGHTS);
            break;
        }
        w = calloc(nw ? nw : 1, sizeof *w);
        if (!w) {
            free(wnames);
            st = rnnck__oom();
            break;
        }
        for (size_t k = 0; k < nw && !st; k++) {
            const rnnck__h5t_node *ds = rnnck__h5t_find(lg, wnames[k]);
            if (!ds || ds->is_group)
                st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s': weight_names names '%s' but there is no such "
                                "dataset", ctx->file, lg->path, lname, wnames[k]);
            w[k].name = (char *)wnames[k];
            w[k].ds = ds;
        }
        const rnnck__kcfg *cfg = ctx->json ? rnnck__keras_cfg_find(ctx, lname) : NULL;
        if (!st && ctx->json && !cfg && nw)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s' of layer_names is not in model_config", ctx->file,
                            g->path, lname);
        /* Without a config (save_weights), the default layer names Keras
         * derives from the class ("lstm_1", "embedding") tell the class. */
        if (!st) st = rnnck__keras_layer(ctx, lname, cfg, cfg ? NULL : class_from_path(lname), w, nw, 0);
        free(w);
        w = NULL;
        free(wnames);
    }
    free(layers);
    return st;
}

/* ---- Keras 3 ---- */

/* The variables of group `g/vars`: datasets "0".."n-1" in order. */
static rnnck_status vars_of(const rnnck__kctx *ctx, const rnnck__h5t_node *owner, const char *layer,
                            rnnck__kweight **w, size_t *nw, size_t *cap) {
    const rnnck__h5t_node *vars = rnnck__h5t_child(owner, "vars");
    if (!vars) return RNNCK_OK;
    if (!vars->is_group)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s': vars is not a group", ctx->file, vars->path, layer);
    for (size_t k = 0; k < vars->nkids; k++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", k);
        const rnnck__h5t_node *ds = rnnck__h5t_child(vars, key);
        if (!ds || ds->is_group)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s': variables are not the datasets 0..%zu", ctx->file,
                              vars->path, layer, vars->nkids - 1);
        if (*nw == *cap) {
            size_t c = *cap ? *cap * 2 : 8;
            rnnck__kweight *p = realloc(*w, c * sizeof *p);
            if (!p) return rnnck__oom();
            *w = p;
            *cap = c;
        }
        (*w)[*nw].name = ds->path;
        (*w)[*nw].ds = ds;
        (*nw)++;
    }
    return RNNCK_OK;
}

static rnnck_status v3_layers(rnnck__kctx *ctx, const rnnck__h5t_node *layers, int depth);

static rnnck_status v3_layer(rnnck__kctx *ctx, const rnnck__h5t_node *L, const rnnck__kcfg *cfg, int depth) {
    rnnck__kweight *w = NULL;
    size_t nw = 0, cap = 0;
    rnnck_status st = RNNCK_OK;
    const rnnck__h5t_node *fw = rnnck__h5t_child(L, "forward_layer"), *bw = rnnck__h5t_child(L, "backward_layer");
    const rnnck__h5t_node *cell = rnnck__h5t_child(L, "cell");
    const rnnck__h5t_node *sub = rnnck__h5t_child(L, "layers");
    if (fw && bw) {
        const rnnck__h5t_node *fc = rnnck__h5t_child(fw, "cell"), *bc = rnnck__h5t_child(bw, "cell");
        if (!fc || !bc)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer '%s': forward_layer/backward_layer without cell",
                              ctx->file, L->path, L->name);
        st = vars_of(ctx, fc, L->name, &w, &nw, &cap);
        if (!st) st = vars_of(ctx, bc, L->name, &w, &nw, &cap);
    } else if (cell) {
        st = vars_of(ctx, cell, L->name, &w, &nw, &cap);
    } else if (sub && sub->is_group) {
        return depth >= RNNCK__KERAS_MAX_NESTING
                   ? rnnck__err(RNNCK_E_FORMAT, "%s: %s: models nested deeper than %d", ctx->file, L->path,
                                RNNCK__KERAS_MAX_NESTING)
                   : v3_layers(ctx, sub, depth + 1);
        /* (nested models of a .keras config are matched by path only) */
    } else {
        st = vars_of(ctx, L, L->name, &w, &nw, &cap);
    }
    const char *hint = class_from_path(L->name);
    if (!st && nw) {
        rnnck__kcfg pseudo = {L->name, hint, NULL, depth};
        if (cfg) st = rnnck__keras_layer(ctx, cfg->name, cfg, NULL, w, nw, depth);
        else st = rnnck__keras_layer(ctx, L->name, hint ? &pseudo : NULL, hint, w, nw, depth);
    }
    free(w);
    return st;
}

static rnnck_status v3_layers(rnnck__kctx *ctx, const rnnck__h5t_node *layers, int depth) {
    for (size_t i = 0; i < layers->nkids; i++) {
        if (!layers->kids[i]->is_group) continue;
        rnnck_status st = v3_layer(ctx, layers->kids[i], NULL, depth);
        if (st) return st;
    }
    return RNNCK_OK;
}

/* Keras 3's to_snake_case: "(.)([A-Z][a-z]+)" -> "\\1_\\2", then
 * "([a-z])([A-Z])" -> "\\1_\\2", lower case ("SimpleRNN" -> "simple_rnn"). */
static void snake(const char *cls, char *out, size_t cap) {
    char a[2 * RNNCK__KERAS_MAX_NAME + 2];
    size_t n = 0, len = strlen(cls);
    for (size_t i = 0; i < len && n + 2 < sizeof a; i++) {
        const char *c = cls + i;
        if (i > 0 && *c >= 'A' && *c <= 'Z' && c[1] >= 'a' && c[1] <= 'z') a[n++] = '_';
        a[n++] = *c;
    }
    a[n] = '\0';
    size_t m = 0;
    for (size_t i = 0; i < n && m + 3 < cap; i++) {
        if (i > 0 && a[i] >= 'A' && a[i] <= 'Z' && a[i - 1] >= 'a' && a[i - 1] <= 'z') out[m++] = '_';
        out[m++] = (char)(a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i]);
    }
    out[m] = '\0';
}

/* With a config (.keras): the top-level layers in order, each at
 * layers/<snake_case(class)>[_N], N counting earlier layers of its class
 * (found by sorting, not by rescanning). */
typedef struct v3_entry {
    char base[RNNCK__KERAS_MAX_NAME + 1];
    size_t index, count;
    const cJSON *layer;
} v3_entry;

static int entry_by_base(const void *a, const void *b) {
    const v3_entry *x = a, *y = b;
    int c = strcmp(x->base, y->base);
    return c ? c : (x->index < y->index ? -1 : x->index > y->index);
}
static int entry_by_index(const void *a, const void *b) {
    const v3_entry *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static rnnck_status v3_with_config(rnnck__kctx *ctx, const rnnck__h5t_node *layers) {
    const rnnck__kcfg *top = NULL;
    for (size_t i = 0; i < ctx->cfgs.count && !top; i++)
        if (ctx->cfgs.items[i].depth == 0 && rnnck__keras_model_layers(&ctx->cfgs.items[i])) top = &ctx->cfgs.items[i];
    const cJSON *list = top ? rnnck__keras_model_layers(top) : NULL;
    if (!list) return rnnck__err(RNNCK_E_FORMAT, "%s: config.json: no model with a layers list", ctx->file);
    size_t n = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, list) n++;
    v3_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e) return rnnck__oom();
    size_t m = 0;
    cJSON_ArrayForEach(el, list) {
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(el, "class_name");
        if (!cJSON_IsString(cls) || !strcmp(cls->valuestring, "InputLayer")) continue;
        snake(cls->valuestring, e[m].base, sizeof e[m].base);
        e[m].index = m;
        e[m].layer = el;
        m++;
    }
    qsort(e, m, sizeof *e, entry_by_base);
    for (size_t i = 0; i < m; i++) e[i].count = i && !strcmp(e[i - 1].base, e[i].base) ? e[i - 1].count + 1 : 0;
    qsort(e, m, sizeof *e, entry_by_index);
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < m && !st; i++) {
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(e[i].layer, "config");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cfg, "name");
        char path[RNNCK__KERAS_MAX_NAME + 24];
        if (e[i].count) snprintf(path, sizeof path, "%s_%zu", e[i].base, e[i].count);
        else snprintf(path, sizeof path, "%s", e[i].base);
        const rnnck__h5t_node *L = rnnck__h5t_child(layers, path);
        const rnnck__kcfg *c = cJSON_IsString(nm) ? rnnck__keras_cfg_find(ctx, nm->valuestring) : NULL;
        if (L && c) st = v3_layer(ctx, L, c, 0); /* a layer without variables has no group */
    }
    free(e);
    return st;
}

rnnck_status rnnck__keras_read_v3(rnnck__kctx *ctx, const rnnck__h5t_node *root) {
    const rnnck__h5t_node *layers = rnnck__h5t_child(root, "layers");
    if (!layers || !layers->is_group)
        return rnnck__err(RNNCK_E_FORMAT, "%s: /: no layers group (not a Keras 3 weights file)", ctx->file);
    if (ctx->json) return v3_with_config(ctx, layers);
    return v3_layers(ctx, layers, 0);
}
