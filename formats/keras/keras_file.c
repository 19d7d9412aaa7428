/* The Keras format: detection (an HDF5 file whose root Keras wrote, a .keras
 * zip) and the reader's entry: which layout the file has, its version, its
 * configuration, then the layers (keras_weights.c, keras_layers.c). The HDF5
 * is read through lib/h5's bounded, crash-isolated tree (h5_tree.h). */
#include "common/zipfile.h"
#include "formats.h"
#include "keras/keras_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* A zip whose first member is one a .keras archive starts with. */
static int is_keras_zip(const unsigned char *head, size_t n) {
    if (n < 30 || memcmp(head, "PK\x03\x04", 4) != 0) return 0;
    size_t len = (size_t)head[26] | (size_t)head[27] << 8;
    if (30 + len > n) return 0;
    const char *name = (const char *)head + 30;
    static const char *const first[] = {"metadata.json", "config.json", "model.weights.h5"};
    for (size_t i = 0; i < 3; i++)
        if (len == strlen(first[i]) && !memcmp(name, first[i], len)) return 1;
    return 0;
}

static int detect_keras(const unsigned char *head, size_t n) {
    return (n >= 8 && memcmp(head, hdf5_sig, 8) == 0) || is_keras_zip(head, n);
}

/* An HDF5 root with Keras's attributes or groups and no rnnck_schema. */
static int confirm_keras(const char *path, bool trusted) {
    FILE *f = fopen(path, "rb");
    unsigned char head[64];
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (is_keras_zip(head, n)) return 1;
    rnnck_report *r = NULL;
    if (rnnck__h5_probe_root(path, trusted, &r)) return 0;
    int keras = 0, rnnck = 0;
    for (size_t i = 0; i < rnnck_report_count(r); i++) {
        const char *s = rnnck_report_item(r, i);
        if (!strcmp(s, "attr:rnnck_schema")) rnnck = 1;
        if (!strcmp(s, "attr:model_config") || !strcmp(s, "attr:layer_names") || !strcmp(s, "attr:layer_names0") ||
            !strcmp(s, "attr:keras_version") || !strcmp(s, "link:model_weights") || !strcmp(s, "link:layers"))
            keras = 1;
    }
    rnnck_report_free(r);
    return keras && !rnnck;
}

/* A scalar string attribute's text, or NULL. */
static const char *attr_text(const rnnck__h5t_node *n, const char *name, size_t *len) {
    const rnnck__h5t_attr *a = rnnck__h5t_attr_find(n, name);
    if (!a || a->kind != RNNCK__H5T_STRING || a->count != 1) return NULL;
    if (len) *len = a->lengths[0];
    return a->strings[0];
}

static rnnck_status read_tree(rnnck__kctx *ctx, const char *config_text, size_t config_len, const char *config_what) {
    const rnnck__h5t_node *root = rnnck__h5_tree_root(ctx->tree);
    const rnnck__h5t_attr *mc = rnnck__h5t_attr_find(root, "model_config");
    const rnnck__h5t_node *mw = rnnck__h5t_child(root, "model_weights");
    const char *version = attr_text(root, "keras_version", NULL);
    if (mw && !version) version = attr_text(mw, "keras_version", NULL);
    rnnck__keras_set_version(ctx, version);
    if (mc || (mw && mw->is_group)) {
        /* Full-model file (save_model): model_config + model_weights. */
        if (!mc)
            return rnnck__err(RNNCK_E_FORMAT, "%s: /: model_weights without a model_config attribute (a full-model "
                              "Keras file needs both)", ctx->file);
        if (mc->kind != RNNCK__H5T_STRING || mc->count != 1)
            return rnnck__err(RNNCK_E_FORMAT, "%s: /: attribute model_config is not one string", ctx->file);
        if (!mw || !mw->is_group)
            return rnnck__err(RNNCK_E_FORMAT, "%s: /: model_config but no model_weights group", ctx->file);
        if (!ctx->have_version) ctx->major = 2; /* legacy .h5: Keras 1/2 definitions */
        rnnck_status st = rnnck__keras_parse_config(ctx, mc->strings[0], mc->lengths[0], "model_config");
        return st ? st : rnnck__keras_read_legacy(ctx, mw);
    }
    const rnnck__h5t_attr *ln = rnnck__h5t_attr_find(root, "layer_names");
    if (ln || rnnck__h5t_attr_find(root, "layer_names0")) {
        /* Weights only (save_weights): layers at the root. */
        if (!ctx->have_version) ctx->major = 2;
        return rnnck__keras_read_legacy(ctx, root);
    }
    if (rnnck__h5t_child(root, "layers")) {
        if (!ctx->have_version) ctx->major = 3, ctx->minor = 0;
        if (config_text) {
            rnnck_status st = rnnck__keras_parse_config(ctx, config_text, config_len, config_what);
            if (st) return st;
        }
        return rnnck__keras_read_v3(ctx, root);
    }
    return rnnck__err(RNNCK_E_FORMAT, "%s: not a Keras file (no model_config, layer_names or layers at the root)",
                      ctx->file);
}

static rnnck_status read_h5(const char *path, const char *label, const rnnck_open_opts *opts, const char *config,
                            size_t config_len, const char *metadata, size_t metadata_len, rnnck_model **out) {
    rnnck__kctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.file = label;
    rnnck_status st = rnnck__h5_tree_load(path, opts ? opts->limits : NULL,
                                          opts && (opts->flags & RNNCK_OPEN_TRUSTED), &ctx.tree);
    if (st) return st;
    if (metadata) { /* .keras: metadata.json {"keras_version": "3.x", ...} */
        cJSON *md = cJSON_ParseWithLength(metadata, metadata_len);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, "keras_version");
        if (cJSON_IsString(v)) rnnck__keras_set_version(&ctx, v->valuestring);
        cJSON_Delete(md);
    }
    if (!(st = rnnck_model_new(&ctx.m))) st = read_tree(&ctx, config, config_len, "config.json");
    if (!st && rnnck_model_tensor_count(ctx.m) == 0)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: the Keras file holds no weights", label);
    if (!st) {
        *out = ctx.m;
        ctx.m = NULL;
    }
    rnnck_model_free(ctx.m);
    cJSON_Delete(ctx.json);
    rnnck__keras_cfgs_free(&ctx.cfgs);
    rnnck__h5_tree_free(ctx.tree);
    return st;
}

/* .keras: config.json, metadata.json and model.weights.h5 in a zip. The
 * weights are copied to a private temporary file for libhdf5. */
static rnnck_status read_zip(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__zip *z = NULL;
    rnnck_status st = rnnck__zip_open(path, &z);
    if (st) return st;
    int64_t iw = -1, ic = -1, im = -1;
    unsigned char *weights = NULL, *config = NULL, *meta = NULL;
    size_t wlen = 0, clen = 0, mlen = 0;
    int64_t max = opts && opts->limits ? opts->limits->max_tensor_bytes : (int64_t)16 << 30;
    if (rnnck__zip_find(z, "model.weights.h5", &iw))
        st = rnnck__err(RNNCK_E_FORMAT, "%s: .keras archive without model.weights.h5", path);
    uint64_t size = 0;
    if (!st && rnnck__zip_find(z, "config.json", &ic) == RNNCK_OK && !(st = rnnck__zip_member_size(z, ic, &size))) {
        if (size > RNNCK__KERAS_MAX_JSON)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: config.json: %llu bytes of JSON exceed the limit of %zu", path,
                            (unsigned long long)size, RNNCK__KERAS_MAX_JSON);
        else
            st = rnnck__zip_read(z, ic, RNNCK__KERAS_MAX_JSON, &config, &clen);
    }
    if (!st && rnnck__zip_find(z, "metadata.json", &im) == RNNCK_OK && !(st = rnnck__zip_member_size(z, im, &size))) {
        if (size > (1 << 20))
            st = rnnck__err(RNNCK_E_FORMAT, "%s: metadata.json: %llu bytes exceed the limit of 1 MiB", path,
                            (unsigned long long)size);
        else
            st = rnnck__zip_read(z, im, 1 << 20, &meta, &mlen);
    }
    if (!st) st = rnnck__zip_read(z, iw, (uint64_t)max, &weights, &wlen);
    rnnck__zip_close(z);
    const char *dir = getenv("TMPDIR");
    char *tmp = rnnck__asprintf("%s/rnnck-keras-XXXXXX", dir && *dir ? dir : "/tmp");
    if (!st && !tmp) st = rnnck__oom();
    int fd = st ? -1 : mkstemp(tmp);
    if (!st && fd < 0) st = rnnck__err(RNNCK_E_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    if (fd >= 0) {
        size_t done = 0;
        while (!st && done < wlen) {
            ssize_t k = write(fd, weights + done, wlen - done);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) st = rnnck__err(RNNCK_E_IO, "%s: cannot write a temporary file", path);
            else done += (size_t)k;
        }
        close(fd);
        free(weights);
        weights = NULL;
        char *label = rnnck__asprintf("%s: model.weights.h5", path);
        if (!label) st = rnnck__oom();
        if (!st) {
            st = read_h5(tmp, label, opts, (const char *)config, clen, (const char *)meta, mlen, out);
            /* libhdf5-level messages name the private copy: say what it is */
            if (st && strstr(rnnck_errmsg(), tmp)) rnnck__err_prefix("%s: model.weights.h5 (read from a copy)", path);
        }
        free(label);
        unlink(tmp);
    }
    free(tmp);
    free(weights);
    free(config);
    free(meta);
    return st;
}

static rnnck_status read_keras(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[64];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (is_keras_zip(head, n)) return read_zip(path, opts, out);
    return read_h5(path, path, opts, NULL, 0, NULL, 0, out);
}

const rnnck__format rnnck__format_keras = {
    .name = "keras",
    .extensions = ",", /* written only when asked (--to keras): .h5 stays rnnck */
    .detect = detect_keras,
    .read = read_keras,
    .write = rnnck__keras_write,
    .confirm = confirm_keras,
};
