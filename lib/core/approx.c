/* rnnck_model_approximate_torch: the nearest torch.nn model, for
 * `rnnck convert --allow-approx`. Only cell maths is replaced (activations,
 * GRU reset placement, clipping (ONNX clip, TF cell_clip and proj_clip),
 * peepholes): those have a torch.nn cell of
 * the same shape whose outputs differ by an amount validate can measure.
 * Structure is never approximated: a lone backward direction, a merge mode
 * or coupled input/forget gates have no torch.nn module that computes
 * anything like them, so those stay refused. */
#include "core/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *structural(const rnnck_module_info *info) {
    if (info->reverse) return "a lone backward direction";
    if (info->merge_mode != RNNCK_MERGE_CONCAT) return "a Bidirectional merge mode other than concat";
    if (info->input_forget) return "coupled input/forget gates (input_forget)";
    if (info->forget_bias != 0 && !info->bias) return "a run-time forget_bias without bias parameters";
    return NULL;
}

/* info with torch.nn's cell maths; forget_bias stays (exporters fold it
 * into bias_ih exactly). */
static rnnck_module_info torch_maths(const rnnck_module_info *info) {
    rnnck_module_info plain;
    rnnck_module_info_init(&plain, info->cell);
    rnnck_module_info out = *info;
    memcpy(out.act, plain.act, sizeof out.act);
    out.linear_before_reset = 1;
    out.clip = 0;
    out.cell_clip = 0;
    out.proj_clip = 0;
    out.peepholes = 0;
    return out;
}

static int ptr_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return (x > y) - (x < y);
}

/* The peephole tensors of m, sorted by address (caller frees). */
static rnnck_status peephole_set(const rnnck_model *m, rnnck_tensor ***out, size_t *n) {
    size_t count = 0, cap = 0;
    rnnck_tensor **set = NULL;
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        if (info->peepholes) cap += (size_t)info->num_layers * (info->bidirectional ? 2 : 1);
    }
    if (cap && !(set = malloc(cap * sizeof *set))) return rnnck__oom();
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        for (int64_t l = 0; info->peepholes && l < info->num_layers; l++)
            for (int d = 0; d < (info->bidirectional ? 2 : 1); d++) {
                rnnck_tensor *p = NULL;
                if (!rnnck_model_param(m, i, RNNCK_PARAM_PEEPHOLE, l, d, &p) && count < cap) set[count++] = p;
            }
    }
    if (count) qsort(set, count, sizeof *set, ptr_cmp);
    *out = set;
    *n = count;
    return RNNCK_OK;
}

rnnck_status rnnck_model_approximate_torch(rnnck_model *m, rnnck_model **out) {
    rnnck__err_clear();
    if (!m || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_approximate_torch: NULL argument");
    *out = NULL;
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *info = rnnck_model_module(m, i);
        const char *why = structural(info);
        if (why)
            return rnnck__err(RNNCK_E_INEXACT, "module %s (%s) has %s: no torch.nn module approximates it",
                              *info->name ? info->name : "(bare)", rnnck_cell_name(info->cell), why);
    }
    rnnck_tensor **peep = NULL;
    size_t npeep = 0;
    rnnck_model *a = NULL;
    rnnck_status st = peephole_set(m, &peep, &npeep);
    if (!st) st = rnnck_model_new(&a);
    for (size_t i = 0; !st && i < rnnck_model_module_count(m); i++) {
        rnnck_module_info info = torch_maths(rnnck_model_module(m, i));
        st = rnnck__model_add_module_desc(a, &info);
    }
    /* Every other tensor is shared, as a view: no data is copied. */
    for (size_t i = 0; !st && i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i), *view = NULL;
        if (npeep && bsearch(&t, peep, npeep, sizeof *peep, ptr_cmp)) continue;
        st = rnnck_model_load_tensor(m, t);
        if (!st) st = rnnck_tensor_block(t, 1, 0, &view);
        if (!st) st = rnnck__model_add_tensor_ref(a, rnnck_tensor_name(t), view);
        rnnck_tensor_free(view);
    }
    free(peep);
    if (st) {
        rnnck_model_free(a);
        return st;
    }
    *out = a;
    return RNNCK_OK;
}
