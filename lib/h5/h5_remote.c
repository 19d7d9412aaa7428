/* An untrusted rnnck file, walked in the helper only: the helper describes
 * the model its walk built (modules, tensors, where each tensor's data is),
 * and this process rebuilds the model from that description without ever
 * calling libhdf5 (h5_internal.h, "the helper's description"). The lines
 * are checked here as file data would be: a helper that libhdf5 let a
 * hostile file corrupt must not corrupt this process either. */
#include "h5/h5_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- describing (in the helper) ---- */

static rnnck_status emit(rnnck_report *r, char *line) {
    if (!line) return rnnck__oom();
    rnnck_status st = rnnck__report_add(r, line);
    free(line);
    return st;
}

static rnnck_status describe_module(const rnnck_module_info *mi, rnnck_report *lines) {
    char *name = rnnck__h5_hex(mi->name ? mi->name : "", mi->name ? strlen(mi->name) : 0);
    char acts[2 * RNNCK_ACT_SLOTS * 64] = "";
    size_t used = 0;
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < RNNCK_ACT_SLOTS; k++)
            used += (size_t)snprintf(acts + used, sizeof acts - used, " %d %a %a", (int)mi->act[d][k].kind,
                                     mi->act[d][k].alpha, mi->act[d][k].beta);
    rnnck_status st =
        name ? emit(lines, rnnck__asprintf("M %s %d %lld %lld %lld %lld %d %d %d %d %d %a %d %a %d %d %d %d %a %a%s", name,
                                           (int)mi->cell, (long long)mi->input_size, (long long)mi->hidden_size,
                                           (long long)mi->num_layers, (long long)mi->proj_size, mi->bias,
                                           mi->bidirectional, mi->batch_first, (int)mi->dtype, mi->linear_before_reset,
                                           mi->forget_bias, mi->peepholes, mi->clip, mi->input_forget, mi->reverse,
                                           mi->output_reversed, (int)mi->merge_mode, mi->cell_clip,
                                           mi->proj_clip, acts))
             : rnnck__oom();
    free(name);
    return st;
}

static rnnck_status describe_tensor(const rnnck_tensor *t, const char *object, const rnnck__h5_dsinfo *info,
                                    rnnck_report *lines) {
    const char *tn = rnnck_tensor_name(t);
    char *name = rnnck__h5_hex(tn, strlen(tn)), *obj = rnnck__h5_hex(object, strlen(object));
    char dims[RNNCK_MAX_DIMS * 24 + 1] = "";
    size_t used = 0;
    for (int i = 0; i < info->ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, " %lld", (long long)info->shape[i]);
    rnnck_status st = name && obj ? emit(lines, rnnck__asprintf("T %s %s %d %d %llu %d %d%s", name, obj,
                                                                (int)info->dtype, info->layout,
                                                                (unsigned long long)info->offset, info->big_endian,
                                                                info->ndim, dims))
                                  : rnnck__oom();
    free(name);
    free(obj);
    return st;
}

rnnck_status rnnck__h5_describe(const rnnck_model *m, const rnnck__h5_source *src, rnnck_report *lines) {
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; !st && i < rnnck_model_module_count(m); i++)
        st = describe_module(rnnck_model_module(m, i), lines);
    for (size_t i = 0; !st && i < rnnck_model_tensor_count(m); i++) {
        const rnnck_tensor *t = rnnck_model_tensor(m, i);
        rnnck__h5_dsinfo info;
        const char *object = rnnck__h5_source_entry(src, t->source_key, &info);
        st = object ? describe_tensor(t, object, &info, lines)
                    : rnnck__err(RNNCK_E_USAGE, "tensor %s has no dataset", rnnck_tensor_name(t));
    }
    return st;
}

rnnck_status rnnck__h5_walk_describe(const char *path, const rnnck_limits *lim, rnnck_report *lines) {
    rnnck_model *m = NULL;
    rnnck__h5_source *src = NULL;
    rnnck_status st = rnnck__h5_scan_src(path, lim, &m, &src);
    if (!st) st = rnnck__h5_describe(m, src, lines);
    rnnck_model_free(m);
    return st;
}

/* ---- rebuilding (in the caller) ---- */

typedef struct rebuild {
    const char *path;
    rnnck_limits lim;
    int64_t file_size;
    rnnck_model *m;
    rnnck__h5_source *src;
} rebuild;

static bool next_int(const char **p, long long lo, long long hi, long long *v) {
    return rnnck__h5_next_ll(p, v) && *v >= lo && *v <= hi;
}

/* A hex string field holding no NUL byte; NULL if malformed. */
static char *next_string(const char **p) {
    char *s = NULL;
    size_t len = 0;
    if (!rnnck__h5_unhex(p, &s, &len)) return NULL;
    if (strlen(s) != len) {
        free(s);
        return NULL;
    }
    return s;
}

static bool add_module(rebuild *r, const char *p) {
    rnnck_module_info mi;
    rnnck_module_info_init(&mi, RNNCK_CELL_LSTM);
    char *name = next_string(&p);
    long long v[17];
    double fb = 0, clip = 0, cell_clip = 0, proj_clip = 0;
    /* ranges here only keep the casts exact; rnnck_module_info_validate
     * (in rnnck__model_add_module_desc) judges the values */
    bool ok = name && next_int(&p, INT32_MIN, INT32_MAX, &v[0]) && next_int(&p, INT64_MIN, INT64_MAX, &v[1]) &&
              next_int(&p, INT64_MIN, INT64_MAX, &v[2]) && next_int(&p, INT64_MIN, INT64_MAX, &v[3]) &&
              next_int(&p, INT64_MIN, INT64_MAX, &v[4]);
    for (int i = 5; ok && i < 10; i++) ok = next_int(&p, INT32_MIN, INT32_MAX, &v[i]);
    ok = ok && rnnck__h5_next_double(&p, &fb) && next_int(&p, INT32_MIN, INT32_MAX, &v[10]) &&
         rnnck__h5_next_double(&p, &clip);
    for (int i = 11; ok && i < 15; i++) ok = next_int(&p, INT32_MIN, INT32_MAX, &v[i]);
    ok = ok && rnnck__h5_next_double(&p, &cell_clip) && rnnck__h5_next_double(&p, &proj_clip);
    for (int d = 0; ok && d < 2; d++)
        for (int k = 0; ok && k < RNNCK_ACT_SLOTS; k++) {
            long long kind;
            ok = next_int(&p, 0, RNNCK_ACT_COUNT_ - 1, &kind) && rnnck__h5_next_double(&p, &mi.act[d][k].alpha) &&
                 rnnck__h5_next_double(&p, &mi.act[d][k].beta);
            mi.act[d][k].kind = (rnnck_act_kind)kind;
        }
    ok = ok && !*p;
    if (ok) {
        mi.name = name;
        mi.cell = (rnnck_cell)v[0];
        mi.input_size = v[1];
        mi.hidden_size = v[2];
        mi.num_layers = v[3];
        mi.proj_size = v[4];
        mi.bias = (int)v[5];
        mi.bidirectional = (int)v[6];
        mi.batch_first = (int)v[7];
        mi.dtype = (rnnck_dtype)v[8];
        mi.linear_before_reset = (int)v[9];
        mi.forget_bias = fb;
        mi.peepholes = (int)v[10];
        mi.clip = clip;
        mi.input_forget = (int)v[11];
        mi.reverse = (int)v[12];
        mi.output_reversed = (int)v[13];
        mi.merge_mode = (rnnck_merge_mode)v[14];
        mi.cell_clip = cell_clip;
        mi.proj_clip = proj_clip;
        ok = rnnck_dtype_is_float(mi.dtype) && rnnck__model_add_module_desc(r->m, &mi) == RNNCK_OK;
    }
    free(name);
    return ok;
}

static bool add_tensor(rebuild *r, const char *p) {
    char *name = next_string(&p), *object = name ? next_string(&p) : NULL;
    long long dt = 0, layout = 0, be = 0, nd = 0, off = 0;
    rnnck__h5_dsinfo info;
    memset(&info, 0, sizeof info);
    bool ok = object && object[0] == '/' && next_int(&p, 0, INT32_MAX, &dt) &&
              rnnck_dtype_size((rnnck_dtype)dt) > 0 && next_int(&p, 0, 2, &layout) &&
              next_int(&p, 0, r->file_size, &off) && next_int(&p, 0, 1, &be) && next_int(&p, 0, RNNCK_MAX_DIMS, &nd);
    int64_t numel = 1;
    for (int i = 0; ok && i < nd; i++) {
        long long d;
        ok = next_int(&p, 0, r->lim.max_dim, &d) && !rnnck__mul_overflow_i64(numel, d, &numel);
        info.shape[i] = d;
    }
    ok = ok && !*p;
    int64_t es = ok ? (int64_t)rnnck_dtype_size((rnnck_dtype)dt) : 1;
    ok = ok && numel <= r->lim.max_tensor_bytes / es;
    /* contiguous data: within the file, as the walk checked */
    ok = ok && (layout != RNNCK__H5_CONTIGUOUS || numel == 0 || numel * es <= r->file_size - off);
    rnnck_tensor *t = NULL;
    int64_t key;
    if (ok) {
        info.dtype = (rnnck_dtype)dt;
        info.ndim = (int)nd;
        info.layout = (int)layout;
        info.chunked = layout == RNNCK__H5_CHUNKED;
        info.offset = (uint64_t)off;
        info.big_endian = be != 0;
        ok = (int64_t)rnnck_model_tensor_count(r->m) < r->lim.max_tensors &&
             rnnck__h5_source_add(r->src, object, &info, &key) == RNNCK_OK;
    }
    if (ok && rnnck__tensor_new_unloaded(info.dtype, info.ndim, info.shape, &t) != RNNCK_OK) {
        rnnck__h5_source_drop_last(r->src);
        ok = false;
    }
    if (ok) {
        t->source_key = key;
        ok = rnnck__model_add_tensor_ref(r->m, name, t) == RNNCK_OK;
        if (!ok) rnnck__h5_source_drop_last(r->src);
    }
    rnnck_tensor_free(t);
    free(name);
    free(object);
    return ok;
}

/* Every parameter a module implies is there, with its shape and the
 * module's dtype (as the walk's module check required). */
static bool modules_complete(const rnnck_model *m) {
    for (size_t i = 0; i < rnnck_model_module_count(m); i++) {
        const rnnck_module_info *mi = rnnck_model_module(m, i);
        int dirs = mi->bidirectional ? 2 : 1;
        for (int64_t layer = 0; layer < mi->num_layers; layer++)
            for (int d = 0; d < dirs; d++)
                for (int k = 0; k < RNNCK_PARAM_COUNT_; k++) {
                    int64_t shape[2];
                    int nd = rnnck_param_shape(mi, (rnnck_param)k, layer, shape);
                    char name[1200];
                    rnnck_tensor *t;
                    if (!nd) continue;
                    if (rnnck__param_full_name(mi, (rnnck_param)k, layer, d, name, sizeof name) ||
                        rnnck_model_find(m, name, &t) || t->dtype != mi->dtype || t->ndim != nd ||
                        memcmp(t->shape, shape, (size_t)nd * sizeof *shape) != 0)
                        return false;
                }
    }
    return true;
}

rnnck_status rnnck__h5_rebuild(const char *path, const rnnck_limits *lim, int fd, int64_t file_size,
                               const rnnck_report *lines, rnnck_model **out) {
    rebuild r = {path, {0}, file_size, NULL, NULL};
    if (lim)
        r.lim = *lim;
    else
        rnnck_limits_init(&r.lim);
    rnnck_status st = rnnck__h5_source_new_remote(path, fd, &r.src);
    if (st) return st;
    if (rnnck_model_new(&r.m)) {
        rnnck__h5_source_close(r.src);
        return rnnck__oom();
    }
    rnnck__h5_source_attach(r.m, r.src); /* the model owns the source and fd */
    size_t bad = 0;
    for (size_t i = 0; !bad && i < lines->count; i++) {
        const char *line = lines->items[i];
        bool ok = line[0] && line[1] == ' ' &&
                  (line[0] == 'M' ? add_module(&r, line + 2) : line[0] == 'T' && add_tensor(&r, line + 2));
        if (!ok) bad = i + 1;
    }
    if (!bad && !modules_complete(r.m)) bad = lines->count + 1;
    if (bad) {
        rnnck_model_free(r.m);
        return rnnck__err(RNNCK_E_FORMAT, "%s: the isolated reader's description of the file is inconsistent (line %zu)",
                          path, bad);
    }
    rnnck__err_clear();
    *out = r.m;
    return RNNCK_OK;
}
