/* A recurrent module's group: its description (h5_module.c) decides which
 * parameters must be there, with which shapes; nothing else may be. */
#include "h5/h5_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rnnck_param param_order[] = {
    RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
    RNNCK_PARAM_BIAS_HH,   RNNCK_PARAM_WEIGHT_HR, RNNCK_PARAM_PEEPHOLE,
};
#define NPARAM_KINDS 6

/* Parses "<stem>_l<k>[_reverse]" into kind/layer/reverse; false if not one. */
static bool parse_param(const char *name, rnnck_param *kind, int64_t *layer, int *reverse) {
    static const char *const stems[NPARAM_KINDS] = {"weight_ih", "weight_hh", "bias_ih",
                                                    "bias_hh",   "weight_hr", "peephole"};
    for (int k = 0; k < NPARAM_KINDS; k++) {
        size_t n = strlen(stems[k]);
        if (strncmp(name, stems[k], n) != 0 || strncmp(name + n, "_l", 2) != 0) continue;
        const char *p = name + n + 2;
        int64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6)
            v = v * 10 + (*p++ - '0'), digits++;
        if (digits == 0 || (digits > 1 && name[n + 2] == '0')) return false;
        *reverse = strcmp(p, "_reverse") == 0;
        if (*p && !*reverse) return false;
        *kind = (rnnck_param)k;
        *layer = v;
        return true;
    }
    return false;
}

/* State of the examination of one module group. */
typedef struct module_scan {
    rnnck__h5_walk *w;
    hid_t g;
    const char *object, *prefix;
    const rnnck__h5_links *links;
    rnnck_module_info info;
    int dirs;
    rnnck_dtype dtype;      /* of the first good parameter */
    bool ok;                /* every parameter present and good so far */
    bool *present;          /* per parameter slot: a link of that name exists */
    rnnck__h5_dsinfo *good; /* per link: metadata of an accepted parameter */
    bool *is_good;          /* per link */
} module_scan;

static rnnck_status refuse(module_scan *ms, const char *obj, const char *fmt, ...) RNNCK_PRINTF(3, 4);
static rnnck_status refuse(module_scan *ms, const char *obj, const char *fmt, ...) {
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ms->ok = false;
    return rnnck__h5_problem(ms->w->f, rnnck__h5_fail(ms->w->f, RNNCK_E_FORMAT, obj, "%s", text));
}

/* One link of the group: must name an implied parameter, be a hard link to a
 * dataset, pass the dataset checks, and have the implied shape and a float
 * dtype shared with the other parameters. */
static rnnck_status examine_param(module_scan *ms, size_t i, const char *obj) {
    const rnnck__h5_link *link = &ms->links->items[i];
    rnnck_param kind;
    int64_t layer, shape[2];
    int rev, nd = 0;
    if (parse_param(link->name, &kind, &layer, &rev) && layer < ms->info.num_layers && (!rev || ms->info.bidirectional))
        nd = rnnck_param_shape(&ms->info, kind, layer, shape);
    if (!nd)
        return refuse(ms, obj, "unknown object inside the %s module group (expected only its parameters)",
                      rnnck_cell_name(ms->info.cell));
    ms->present[(size_t)((layer * ms->dirs + rev) * NPARAM_KINDS + kind)] = true; /* even if refused below */
    H5O_info_t oi;
    bool usable = false;
    rnnck_status st = rnnck__h5_examine_link(ms->w, ms->g, link, obj, &oi, &usable);
    if (st || !usable) {
        ms->ok = false;
        return st;
    }
    if (oi.type != H5O_TYPE_DATASET) return refuse(ms, obj, "parameter is not a dataset");
    rnnck__h5_dsinfo di;
    bool good = false;
    if ((st = rnnck__h5_inspect(ms->w, ms->g, link->name, obj, &di, &good)) || !good) {
        ms->ok = false;
        return st;
    }
    char want[96], got[96];
    if (!rnnck_dtype_is_float(di.dtype))
        return refuse(ms, obj, "dtype %s, recurrent parameters must be float16/32/64 or bfloat16",
                      rnnck_dtype_name(di.dtype));
    if (di.ndim != nd || memcmp(di.shape, shape, (size_t)nd * sizeof shape[0]) != 0)
        return refuse(ms, obj, "shape %s but module attributes imply %s",
                      rnnck__shape_str(di.ndim, di.shape, got, sizeof got),
                      rnnck__shape_str(nd, shape, want, sizeof want));
    if (ms->dtype != RNNCK_DTYPE_INVALID && di.dtype != ms->dtype)
        return refuse(ms, obj, "dtype %s differs from the module's other parameters (%s)", rnnck_dtype_name(di.dtype),
                      rnnck_dtype_name(ms->dtype));
    if (ms->dtype == RNNCK_DTYPE_INVALID) ms->dtype = di.dtype;
    ms->good[i] = di;
    ms->is_good[i] = true;
    return RNNCK_OK;
}

/* Every parameter the attributes imply and no link provides, in PyTorch order. */
static rnnck_status report_missing(module_scan *ms) {
    rnnck_status st = RNNCK_OK;
    for (int64_t layer = 0; layer < ms->info.num_layers && !st; layer++)
        for (int d = 0; d < ms->dirs && !st; d++)
            for (int k = 0; k < NPARAM_KINDS && !st; k++) {
                int64_t shape[2];
                size_t slot = (size_t)((layer * ms->dirs + d) * NPARAM_KINDS + param_order[k]);
                if (!rnnck_param_shape(&ms->info, param_order[k], layer, shape) || ms->present[slot]) continue;
                char local[64];
                rnnck_param_name(param_order[k], layer, d, local, sizeof local);
                char *obj = rnnck__h5_child_object(ms->object, local);
                st = obj ? refuse(ms, obj, "missing parameter of the %s module", rnnck_cell_name(ms->info.cell))
                         : rnnck__oom();
                free(obj);
            }
    return st;
}

/* The description is unusable (already reported): still examine the
 * datasets as plain tensors, so that check sees their problems too. */
static rnnck_status visit_as_plain(rnnck__h5_walk *w, hid_t g, const char *object, const char *prefix,
                                   const rnnck__h5_links *links, int depth) {
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < links->count && !st && !w->stopped; i++) {
        char *obj = rnnck__h5_child_object(object, links->items[i].name);
        char *ten = rnnck__h5_child_tensor(prefix, links->items[i].name);
        st = (!obj || !ten) ? rnnck__oom() : rnnck__h5_count_object(w, obj);
        if (!st && !w->stopped) st = rnnck__h5_visit(w, g, &links->items[i], obj, ten, depth);
        free(obj);
        free(ten);
    }
    return st;
}

static rnnck_status examine_links(module_scan *ms) {
    const rnnck__h5_links *links = ms->links;
    rnnck_status st = RNNCK_OK;
    for (size_t i = 0; i < links->count && !st && !ms->w->stopped; i++) {
        char *obj = rnnck__h5_child_object(ms->object, links->items[i].name);
        st = obj ? rnnck__h5_count_object(ms->w, obj) : rnnck__oom();
        if (!st && !ms->w->stopped) st = examine_param(ms, i, obj);
        free(obj);
    }
    if (!st && !ms->w->stopped) st = report_missing(ms);
    return st;
}

/* The module (if wholly good) and its good parameters, in the group's order. */
static rnnck_status add_to_model(module_scan *ms) {
    const rnnck__h5_links *links = ms->links;
    rnnck_status st = RNNCK_OK;
    if (ms->ok && !ms->w->stopped) {
        ms->info.dtype = ms->dtype == RNNCK_DTYPE_INVALID ? RNNCK_F32 : ms->dtype;
        st = rnnck__model_add_module_desc(ms->w->m, &ms->info);
        if (st && st != RNNCK_E_NOMEM) {
            char why[600];
            snprintf(why, sizeof why, "%s", rnnck_errmsg());
            st = rnnck__h5_problem(ms->w->f, rnnck__h5_fail(ms->w->f, RNNCK_E_FORMAT, ms->object, "%s", why));
        }
    }
    for (size_t i = 0; i < links->count && !st; i++) {
        if (!ms->is_good[i]) continue;
        char *obj = rnnck__h5_child_object(ms->object, links->items[i].name);
        char *ten = rnnck__h5_child_tensor(ms->prefix, links->items[i].name);
        st = (!obj || !ten) ? rnnck__oom() : rnnck__h5_add_tensor(ms->w, ten, obj, &ms->good[i]);
        free(obj);
        free(ten);
    }
    return st;
}

rnnck_status rnnck__h5_module_group(rnnck__h5_walk *w, hid_t g, const char *object, const char *prefix, int depth) {
    module_scan ms = {w, g, object, prefix, NULL, {0}, 1, RNNCK_DTYPE_INVALID, true, NULL, NULL, NULL};
    bool usable;
    rnnck_status st = rnnck__h5_read_module(w->f, g, object, prefix, &ms.info, &usable);
    if (st) return st;
    rnnck__h5_links links;
    if ((st = rnnck__h5_list_links(w, g, object, &links))) return st;
    if (!usable) {
        st = visit_as_plain(w, g, object, prefix, &links, depth);
        rnnck__h5_links_free(&links);
        return st;
    }
    ms.dirs = ms.info.bidirectional ? 2 : 1;
    /* Bounded: num_layers <= 1024 was validated, and links by the object limit. */
    size_t slots = (size_t)ms.info.num_layers * (size_t)ms.dirs * NPARAM_KINDS;
    ms.present = calloc(slots, sizeof *ms.present);
    ms.good = calloc(links.count ? links.count : 1, sizeof *ms.good);
    ms.is_good = calloc(links.count ? links.count : 1, sizeof *ms.is_good);
    ms.links = &links;
    if (!ms.present || !ms.good || !ms.is_good) st = rnnck__oom();
    if (!st) st = examine_links(&ms);
    if (!st) st = add_to_model(&ms);
    free(ms.present);
    free(ms.good);
    free(ms.is_good);
    rnnck__h5_links_free(&links);
    return st;
}
