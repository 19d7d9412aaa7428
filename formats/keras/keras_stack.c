/* The model_config of a full-model Keras file (model.save('x.h5') layout):
 * a Sequential that Keras (and TF.js's modelFromJSON) rebuilds layer by
 * layer. Written only for a plain stack, because a config states how layers
 * connect and rnnck knows that only when every layer is recurrent and each
 * one's input width is the previous one's output width; a Dense layer
 * beside an RNN may be applied to anything in the source framework. What a
 * config adds over a weights file is the layers' maths: go_backwards,
 * merge_mode, activations, reset_after. */
#include "keras/keras_internal.h"

#include <stdio.h>
#include <string.h>

const char *rnnck__keras2_activation_name(rnnck_activation a) {
    switch (a.kind) {
    case RNNCK_ACT_TANH: return "tanh";
    case RNNCK_ACT_SIGMOID: return "sigmoid";
    case RNNCK_ACT_RELU: return "relu";
    case RNNCK_ACT_SOFTSIGN: return "softsign";
    case RNNCK_ACT_SOFTPLUS: return "softplus";
    case RNNCK_ACT_AFFINE: return a.alpha == 1.0 && a.beta == 0.0 ? "linear" : NULL;
    case RNNCK_ACT_ELU: return a.alpha == 1.0 ? "elu" : NULL;
    case RNNCK_ACT_HARD_SIGMOID: return a.alpha == 0.2 && a.beta == 0.5 ? "hard_sigmoid" : NULL;
    default: return NULL;
    }
}

static bool same_act(rnnck_activation a, rnnck_activation b) {
    return a.kind == b.kind && a.alpha == b.alpha && a.beta == b.beta;
}

/* Keras's `activation` and `recurrent_activation` of a module, or a reason. */
static const char *keras_acts(const rnnck_module_info *info, const char **act, const char **rec) {
    int dirs = info->bidirectional ? 2 : 1;
    const rnnck_activation *a = info->act[0];
    for (int d = 1; d < dirs; d++)
        for (int s = 0; s < RNNCK_ACT_SLOTS; s++)
            if (!same_act(info->act[d][s], a[s])) return "its two directions have different activations";
    *rec = NULL;
    if (info->cell == RNNCK_CELL_LSTM) {
        if (!same_act(a[1], a[2])) return "its cell and output activations differ (Keras has one `activation`)";
        *rec = rnnck__keras2_activation_name(a[0]);
        *act = rnnck__keras2_activation_name(a[1]);
    } else if (info->cell == RNNCK_CELL_GRU) {
        *rec = rnnck__keras2_activation_name(a[0]);
        *act = rnnck__keras2_activation_name(a[1]);
    } else {
        *act = rnnck__keras2_activation_name(a[0]);
        *rec = "";
    }
    if (!*act || !*rec) return "an activation Keras 2 has no name for";
    return NULL;
}

static const char *class_of(rnnck_cell cell) {
    return cell == RNNCK_CELL_LSTM ? "LSTM" : cell == RNNCK_CELL_GRU ? "GRU" : "SimpleRNN";
}

/* {"class_name": ..., "config": {...}} of one recurrent layer. */
static cJSON *cell_layer(const rnnck_module_info *info, const char *name, const char *act, const char *rec) {
    cJSON *layer = cJSON_CreateObject(), *c = cJSON_CreateObject();
    if (!layer || !c) {
        cJSON_Delete(layer);
        cJSON_Delete(c);
        return NULL;
    }
    cJSON_AddStringToObject(layer, "class_name", class_of(info->cell));
    cJSON_AddItemToObject(layer, "config", c);
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddBoolToObject(c, "trainable", 1);
    cJSON_AddStringToObject(c, "dtype", rnnck_dtype_name(info->dtype));
    cJSON_AddBoolToObject(c, "return_sequences", 1);
    cJSON_AddBoolToObject(c, "return_state", 0);
    cJSON_AddBoolToObject(c, "go_backwards", info->reverse);
    cJSON_AddNumberToObject(c, "units", (double)info->hidden_size);
    cJSON_AddStringToObject(c, "activation", act);
    if (info->cell == RNNCK_CELL_LSTM || info->cell == RNNCK_CELL_GRU)
        cJSON_AddStringToObject(c, "recurrent_activation", rec);
    cJSON_AddBoolToObject(c, "use_bias", info->bias);
    if (info->cell == RNNCK_CELL_GRU) cJSON_AddBoolToObject(c, "reset_after", info->linear_before_reset);
    return layer;
}

static cJSON *bidirectional(const rnnck_module_info *info, const char *name, cJSON *inner) {
    static const char *const modes[RNNCK_MERGE_COUNT_] = {"concat", "sum", "mul", "ave", NULL};
    cJSON *layer = cJSON_CreateObject(), *c = cJSON_CreateObject();
    if (!layer || !c) {
        cJSON_Delete(layer);
        cJSON_Delete(c);
        cJSON_Delete(inner);
        return NULL;
    }
    cJSON_AddStringToObject(layer, "class_name", "Bidirectional");
    cJSON_AddItemToObject(layer, "config", c);
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddBoolToObject(c, "trainable", 1);
    cJSON_AddStringToObject(c, "dtype", rnnck_dtype_name(info->dtype));
    cJSON_AddItemToObject(c, "layer", inner);
    cJSON_AddStringToObject(c, "merge_mode", modes[info->merge_mode]);
    return layer;
}

/* A name for the input layer that no layer of the stack has. */
static void input_name(const rnnck__klayer *layers, size_t n, char *buf, size_t size) {
    for (unsigned k = 1;; k++) {
        snprintf(buf, size, "input_%u", k);
        size_t i = 0;
        while (i < n && strcmp(layers[i].name, buf)) i++;
        if (i == n) return;
    }
}

static cJSON *input_layer(const rnnck_module_info *first, const char *name) {
    cJSON *layer = cJSON_CreateObject(), *c = cJSON_CreateObject(), *shape = cJSON_CreateArray();
    if (!layer || !c || !shape) {
        cJSON_Delete(layer);
        cJSON_Delete(c);
        cJSON_Delete(shape);
        return NULL;
    }
    cJSON_AddItemToArray(shape, cJSON_CreateNull());
    cJSON_AddItemToArray(shape, cJSON_CreateNull());
    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)first->input_size));
    cJSON_AddStringToObject(layer, "class_name", "InputLayer");
    cJSON_AddItemToObject(layer, "config", c);
    cJSON_AddItemToObject(c, "batch_input_shape", shape);
    cJSON_AddStringToObject(c, "dtype", rnnck_dtype_name(first->dtype));
    cJSON_AddBoolToObject(c, "sparse", 0);
    cJSON_AddBoolToObject(c, "ragged", 0);
    cJSON_AddStringToObject(c, "name", name);
    return layer;
}

/* Why the layers are not one plain stack, or NULL. */
static const char *not_a_stack(const rnnck_model *m, const rnnck__klayer *layers, size_t n) {
    int64_t width = -1;
    for (size_t i = 0; i < n; i++) {
        if (!layers[i].is_module) return "a Dense layer: how it connects to the recurrent layers is not known";
        const rnnck_module_info *info = rnnck_model_module(m, layers[i].module);
        const char *act, *rec, *why = keras_acts(info, &act, &rec);
        if (why) return why;
        if (info->merge_mode == RNNCK_MERGE_NONE) return "Bidirectional merge_mode none (two outputs)";
        int64_t in = rnnck__layer_input(info, layers[i].layer);
        if (width >= 0 && in != width) return "a layer whose input is not the previous layer's output";
        bool doubled = info->bidirectional && info->merge_mode == RNNCK_MERGE_CONCAT;
        width = info->hidden_size * (doubled ? 2 : 1);
    }
    return n ? NULL : "no layers";
}

rnnck_status rnnck__keras_stack_config(const rnnck_model *m, const rnnck__klayer *layers, size_t n, char **json,
                                       const char **why_not) {
    *json = NULL;
    if ((*why_not = not_a_stack(m, layers, n))) return RNNCK_OK;
    char in_name[32];
    input_name(layers, n, in_name, sizeof in_name);
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *list = cJSON_CreateArray();
    bool ok = root && cfg && list;
    if (ok) { /* root owns cfg, cfg owns list from here */
        cJSON_AddStringToObject(root, "class_name", "Sequential");
        cJSON_AddItemToObject(root, "config", cfg);
        cJSON_AddStringToObject(cfg, "name", "sequential");
        cJSON_AddItemToObject(cfg, "layers", list);
        cJSON *first = input_layer(rnnck_model_module(m, layers[0].module), in_name);
        ok = first && cJSON_AddItemToArray(list, first);
    } else {
        cJSON_Delete(cfg);
        cJSON_Delete(list);
    }
    for (size_t i = 0; ok && i < n; i++) {
        const rnnck_module_info *info = rnnck_model_module(m, layers[i].module);
        const char *act, *rec;
        keras_acts(info, &act, &rec);
        cJSON *l = cell_layer(info, layers[i].name, act, rec);
        if (l && info->bidirectional) l = bidirectional(info, layers[i].name, l);
        ok = l && cJSON_AddItemToArray(list, l);
    }
    if (ok) {
        cJSON_AddStringToObject(root, "keras_version", RNNCK__KERAS_WRITE_VERSION);
        cJSON_AddStringToObject(root, "backend", "tensorflow");
        *json = cJSON_PrintUnformatted(root);
        ok = *json != NULL;
    }
    cJSON_Delete(root);
    return ok ? RNNCK_OK : rnnck__oom();
}
