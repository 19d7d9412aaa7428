/* Keras model configurations (the model_config attribute of a legacy .h5, or
 * config.json of a .keras zip), parsed by cJSON: every layer with its class
 * and config, nested models included, sorted by name; versions and
 * activations. Nothing in a config is ever run: Lambda layers and custom
 * objects are names only. */
#include "keras/keras_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cfg_cmp(const void *a, const void *b) {
    return strcmp(((const rnnck__kcfg *)a)->name, ((const rnnck__kcfg *)b)->name);
}

void rnnck__keras_cfgs_free(rnnck__kcfgs *c) {
    free(c->items);
    memset(c, 0, sizeof *c);
}

static const char *str_field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *rnnck__keras_model_layers(const rnnck__kcfg *cfg) {
    if (!cfg || !cfg->config) return NULL;
    if (cJSON_IsArray(cfg->config)) return cfg->config; /* Keras 2.0-2.1 Sequential */
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(cfg->config, "layers");
    return cJSON_IsArray(l) ? l : NULL;
}

static rnnck_status collect(rnnck__kctx *ctx, const cJSON *layer, const char *what, int depth, size_t index);

static rnnck_status collect_layers(rnnck__kctx *ctx, const cJSON *list, const char *what, int depth) {
    if (depth > RNNCK__KERAS_MAX_NESTING)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: models nested deeper than %d", ctx->file, what,
                          RNNCK__KERAS_MAX_NESTING);
    size_t i = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, list) {
        rnnck_status st = collect(ctx, el, what, depth, i++);
        if (st) return st;
    }
    return RNNCK_OK;
}

static rnnck_status collect(rnnck__kctx *ctx, const cJSON *layer, const char *what, int depth, size_t index) {
    if (!cJSON_IsObject(layer))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer #%zu is not a JSON object", ctx->file, what, index);
    const char *cls = str_field(layer, "class_name");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(layer, "config");
    if (!cls) return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer #%zu has no class_name", ctx->file, what, index);
    if (!cJSON_IsObject(config) && !cJSON_IsArray(config))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer #%zu (%.60s) has no config object", ctx->file, what, index,
                          cls);
    const char *name = cJSON_IsObject(config) ? str_field(config, "name") : NULL;
    if (!name) name = str_field(layer, "name");
    rnnck__kcfg probe = {name, cls, config, depth};
    const cJSON *sub0 = rnnck__keras_model_layers(&probe);
    if (!name && sub0) return collect_layers(ctx, sub0, what, depth + 1); /* an unnamed model (Keras 2.0-2.1) */
    if (!name) return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer #%zu (%.60s) has no name", ctx->file, what, index, cls);
    if (strlen(name) > RNNCK__KERAS_MAX_NAME || strlen(cls) > RNNCK__KERAS_MAX_NAME)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: layer #%zu: name or class_name longer than %d bytes", ctx->file,
                          what, index, RNNCK__KERAS_MAX_NAME);
    if (ctx->cfgs.count >= RNNCK__KERAS_MAX_LAYERS)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: more than %d layers", ctx->file, what, RNNCK__KERAS_MAX_LAYERS);
    if (ctx->cfgs.count == ctx->cfgs.cap) {
        size_t cap = ctx->cfgs.cap ? ctx->cfgs.cap * 2 : 16;
        rnnck__kcfg *p = realloc(ctx->cfgs.items, cap * sizeof *p);
        if (!p) return rnnck__oom();
        ctx->cfgs.items = p;
        ctx->cfgs.cap = cap;
    }
    rnnck__kcfg c = {name, cls, config, depth};
    ctx->cfgs.items[ctx->cfgs.count++] = c;
    const cJSON *sub = rnnck__keras_model_layers(&c);
    if (sub) return collect_layers(ctx, sub, what, depth + 1);
    return RNNCK_OK;
}

rnnck_status rnnck__keras_parse_config(rnnck__kctx *ctx, const char *text, size_t len, const char *what) {
    if (len > RNNCK__KERAS_MAX_JSON)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: %zu bytes of JSON exceed the limit of %zu", ctx->file, what, len,
                          RNNCK__KERAS_MAX_JSON);
    const char *end = NULL;
    /* cJSON refuses nesting beyond CJSON_NESTING_LIMIT (1000) as an error. */
    ctx->json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!ctx->json) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: not valid JSON (error near byte %zu, or nested deeper than %d)",
                          ctx->file, what, at, CJSON_NESTING_LIMIT);
    }
    const char *cls = str_field(ctx->json, "class_name");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(ctx->json, "config");
    if (!cJSON_IsObject(ctx->json) || !cls || (!cJSON_IsObject(config) && !cJSON_IsArray(config)))
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: malformed: expected an object with class_name and config",
                          ctx->file, what);
    rnnck_status st = collect(ctx, ctx->json, what, 0, 0);
    if (st) return st;
    if (ctx->cfgs.count > 1) qsort(ctx->cfgs.items, ctx->cfgs.count, sizeof *ctx->cfgs.items, cfg_cmp);
    for (size_t i = 1; i < ctx->cfgs.count; i++)
        if (!strcmp(ctx->cfgs.items[i - 1].name, ctx->cfgs.items[i].name))
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: two layers are named '%s'", ctx->file, what,
                              ctx->cfgs.items[i].name);
    return RNNCK_OK;
}

const rnnck__kcfg *rnnck__keras_cfg_find(const rnnck__kctx *ctx, const char *name) {
    size_t lo = 0, hi = ctx->cfgs.count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ctx->cfgs.items[mid].name, name);
        if (c == 0) return &ctx->cfgs.items[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void rnnck__keras_set_version(rnnck__kctx *ctx, const char *version) {
    int major = 0, minor = 0;
    if (version && sscanf(version, "%3d.%3d", &major, &minor) >= 1 && major >= 1 && major <= 9) {
        ctx->major = major;
        ctx->minor = minor;
        ctx->have_version = true;
    }
}

rnnck_status rnnck__keras_activation(const rnnck__kctx *ctx, const char *layer, const char *field, const cJSON *v,
                                     const char *dflt, rnnck_activation *out) {
    const char *name = dflt;
    if (cJSON_IsString(v)) {
        name = v->valuestring;
    } else if (cJSON_IsObject(v)) { /* Keras 3: {"class_name": "function", "config": "tanh", ...} */
        name = str_field(v, "config");
        if (!name) name = str_field(v, "registered_name");
        if (!name)
            return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: layer '%s': %s is a custom object, not a Keras activation",
                              ctx->file, layer, field);
    } else if (v && !cJSON_IsNull(v)) {
        return rnnck__err(RNNCK_E_FORMAT, "%s: layer '%s': %s is neither a string nor an object", ctx->file, layer,
                          field);
    }
    rnnck_activation a = {RNNCK_ACT_TANH, 0, 0};
    if (!strcmp(name, "tanh")) a.kind = RNNCK_ACT_TANH;
    else if (!strcmp(name, "sigmoid")) a.kind = RNNCK_ACT_SIGMOID;
    else if (!strcmp(name, "relu")) a.kind = RNNCK_ACT_RELU;
    else if (!strcmp(name, "softsign")) a.kind = RNNCK_ACT_SOFTSIGN;
    else if (!strcmp(name, "softplus")) a.kind = RNNCK_ACT_SOFTPLUS;
    else if (!strcmp(name, "linear")) a = (rnnck_activation){RNNCK_ACT_AFFINE, 1.0, 0.0};
    else if (!strcmp(name, "elu")) a = (rnnck_activation){RNNCK_ACT_ELU, 1.0, 0.0};
    else if (!strcmp(name, "hard_sigmoid")) {
        /* Keras 1/2 and tf.keras: clip(0.2x + 0.5); Keras 3: clip(x/6 + 0.5). */
        a = (rnnck_activation){RNNCK_ACT_HARD_SIGMOID, ctx->major >= 3 ? 1.0 / 6.0 : 0.2, 0.5};
    } else
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: layer '%s': %s '%.60s' has no rnnck equivalent", ctx->file, layer,
                          field, name);
    *out = a;
    return RNNCK_OK;
}

rnnck_status rnnck__keras_cfg_bool(const rnnck__kctx *ctx, const char *layer, const cJSON *cfg, const char *field,
                                   int dflt, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, field);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return RNNCK_OK;
    }
    if (!cJSON_IsBool(v))
        return rnnck__err(RNNCK_E_FORMAT, "%s: layer '%s': config field %s is not true or false", ctx->file, layer,
                          field);
    *out = cJSON_IsTrue(v);
    return RNNCK_OK;
}

rnnck_status rnnck__keras_cfg_int(const rnnck__kctx *ctx, const char *layer, const cJSON *cfg, const char *field,
                                  int64_t *out, bool *present) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, field);
    *present = false;
    if (!v || cJSON_IsNull(v)) return RNNCK_OK;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!cJSON_IsNumber(v) || d < 1 || d > (double)RNNCK__MAX_SIZE || d != (double)(int64_t)d)
        return rnnck__err(RNNCK_E_FORMAT, "%s: layer '%s': config field %s is not an integer in [1, 2^31]", ctx->file,
                          layer, field);
    *out = (int64_t)d;
    *present = true;
    return RNNCK_OK;
}

rnnck_status rnnck__keras_cfg_string(const rnnck__kctx *ctx, const char *layer, const cJSON *cfg, const char *field,
                                     const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, field);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return RNNCK_OK;
    if (!cJSON_IsString(v))
        return rnnck__err(RNNCK_E_FORMAT, "%s: layer '%s': config field %s is not a string", ctx->file, layer, field);
    *out = v->valuestring;
    return RNNCK_OK;
}
