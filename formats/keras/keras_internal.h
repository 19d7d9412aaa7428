/* The Keras reader (formats/keras/): shared declarations. Not installed.
 *  keras_file.c    the format entry: detection, legacy .h5 vs Keras 3 layouts, .keras zips
 *  keras_config.c  model_config / config.json (cJSON): layers by name, versions, activations
 *  keras_weights.c which datasets belong to which layer (layer_names / weight_names, vars/N)
 *  keras_layers.c  one Keras layer -> rnnck module or named tensors (gate-layout table)
 *  keras_write.c   --to keras: a Keras 2 weights file, or a full model
 *  keras_stack.c   the model_config of a full model (a plain stack Keras rebuilds) */
#ifndef RNNCK_KERAS_INTERNAL_H
#define RNNCK_KERAS_INTERNAL_H

#include "core/internal.h"
#include "h5/h5_tree.h"

#include <cjson/cJSON.h>

/* Metadata limits (docs/CLI.md, "Keras"). */
#define RNNCK__KERAS_MAX_JSON ((size_t)8 << 20) /* bytes of model_config / config.json */
#define RNNCK__KERAS_MAX_NAME 255               /* bytes of a layer or weight name */
#define RNNCK__KERAS_MAX_NESTING 8              /* models inside models */
#define RNNCK__KERAS_MAX_LAYERS 100000          /* layers named by a file */
#define RNNCK__KERAS_MAX_WEIGHTS 4096           /* weights of one layer */

/* One layer's configuration as the model_config gives it. */
typedef struct rnnck__kcfg {
    const char *name;
    const char *class_name;
    const cJSON *config; /* the layer's "config" object */
    int depth;           /* nesting of the model holding it */
} rnnck__kcfg;

/* Every layer of a config, sorted by name for lookups. */
typedef struct rnnck__kcfgs {
    rnnck__kcfg *items;
    size_t count, cap;
} rnnck__kcfgs;

typedef struct rnnck__kweight {
    char *name;                   /* as the file names it ("lstm_1/kernel:0", "vars/0") */
    const rnnck__h5t_node *ds;    /* the dataset */
} rnnck__kweight;

typedef struct rnnck__kctx {
    const char *file;     /* names the file in messages */
    rnnck__h5_tree *tree;
    int major, minor;     /* Keras version: 1, 2 or 3 (from keras_version; 2 when absent in .h5, 3 in Keras 3 files) */
    bool have_version;
    cJSON *json;          /* the parsed model_config, or NULL */
    rnnck__kcfgs cfgs;
    rnnck_model *m;
} rnnck__kctx;

/* ---- keras_write.c / keras_stack.c ---- */
#define RNNCK__KERAS_WRITE_VERSION "2.13.1" /* a tf.keras 2 version: no legacy conversion on load */
/* One Keras layer the writer emits. */
typedef struct rnnck__klayer {
    char *name;          /* Keras layer name */
    int is_module;       /* else a Dense layer */
    size_t module;       /* module index */
    int64_t layer;       /* layer of the module */
    rnnck_tensor *w, *b; /* Dense */
} rnnck__klayer;
/* Keras 2's name for an activation ("hard_sigmoid" is clip(0.2x + 0.5)), or
 * NULL when Keras 2 has no such string activation. */
const char *rnnck__keras2_activation_name(rnnck_activation a);
/* The model_config (Keras 2 Sequential JSON, caller frees) rebuilding the
 * layers as one plain stack, each layer feeding the next: only recurrent
 * layers, each one's input the previous one's output width, every
 * activation one Keras 2 names, the same in both directions, and no merge
 * mode "none" (a Sequential layer has one output). Otherwise *json is NULL
 * and *why_not (static) says what prevents it. RNNCK_E_NOMEM only. */
rnnck_status rnnck__keras_stack_config(const rnnck_model *m, const rnnck__klayer *layers, size_t n, char **json,
                                       const char **why_not);

/* ---- keras_config.c ---- */
/* Parses text (len bytes) as the model configuration named `what` and
 * collects its layers into ctx->json / ctx->cfgs. */
rnnck_status rnnck__keras_parse_config(rnnck__kctx *ctx, const char *text, size_t len, const char *what);
/* The config of layer `name`, or NULL. */
const rnnck__kcfg *rnnck__keras_cfg_find(const rnnck__kctx *ctx, const char *name);
/* The layers of a nested model's config, or NULL when cfg is not a model. */
const cJSON *rnnck__keras_model_layers(const rnnck__kcfg *cfg);
/* Reads "major.minor" from a keras_version string into ctx. */
void rnnck__keras_set_version(rnnck__kctx *ctx, const char *version);
/* A Keras activation (string or serialized function object) as an rnnck
 * activation under ctx's Keras version. RNNCK_E_UNSUPPORTED naming layer and
 * field when rnnck has no such function. */
rnnck_status rnnck__keras_activation(const rnnck__kctx *ctx, const char *layer, const char *field, const cJSON *v,
                                     const char *dflt, rnnck_activation *out);
/* Boolean / integer / string fields of a layer config. want: RNNCK_E_FORMAT
 * naming layer and field when present with the wrong type. */
rnnck_status rnnck__keras_cfg_bool(const rnnck__kctx *ctx, const char *layer, const cJSON *cfg, const char *field,
                                   int dflt, int *out);
rnnck_status rnnck__keras_cfg_int(const rnnck__kctx *ctx, const char *layer, const cJSON *cfg, const char *field,
                                  int64_t *out, bool *present);
rnnck_status rnnck__keras_cfg_string(const rnnck__kctx *ctx, const char *layer, const cJSON *cfg, const char *field,
                                     const char **out);
void rnnck__keras_cfgs_free(rnnck__kcfgs *c);

/* ---- keras_weights.c ---- */
/* The strings of attribute `name` of n, or of its split form name0, name1,
 * ... (Keras writes attributes over 64 KiB in pieces). Missing: *count 0 and
 * *present false. Caller frees the array (not the strings, borrowed). */
rnnck_status rnnck__keras_attr_list(const rnnck__kctx *ctx, const rnnck__h5t_node *n, const char *name,
                                    const char ***out, size_t *count, bool *present);
/* Legacy (.h5) layout: walks layer_names of group g, each layer's
 * weight_names, and hands every layer with weights to rnnck__keras_layer. */
rnnck_status rnnck__keras_read_legacy(rnnck__kctx *ctx, const rnnck__h5t_node *g);
/* Keras 3 layout (.weights.h5 / model.weights.h5): layers/<name>/.../vars/N. */
rnnck_status rnnck__keras_read_v3(rnnck__kctx *ctx, const rnnck__h5t_node *root);

/* ---- keras_layers.c ---- */
/* One layer: its name, its config (NULL when the file has none), its class
 * (from the config, else inferred from the Keras 3 path or the weights), and
 * its weights in the file's order. Adds modules and tensors to ctx->m. */
rnnck_status rnnck__keras_layer(rnnck__kctx *ctx, const char *name, const rnnck__kcfg *cfg, const char *class_hint,
                                const rnnck__kweight *w, size_t nw, int depth);
/* Loads a dataset into a new tensor of its own dtype and shape. */
rnnck_status rnnck__keras_load(rnnck__kctx *ctx, const char *layer, const rnnck__kweight *w, rnnck_tensor **out);

/* ---- keras_write.c ---- */
/* --to keras: a Keras 2 weights-only .h5 (see keras_write.c). */
rnnck_status rnnck__keras_write(rnnck_model *m, const char *path);

#endif
