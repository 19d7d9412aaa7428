/* The walk over the groups of an untrusted file: links are examined before
 * they are followed, depth and object counts are bounded, each dataset's
 * metadata is validated, and accepted datasets become unloaded tensors. */
#include "h5/h5_internal.h"

#include <stdlib.h>
#include <string.h>

void rnnck__h5_links_free(rnnck__h5_links *l) {
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static herr_t collect_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    rnnck__h5_links *l = data;
    if (l->count >= l->limit) {
        l->too_many = true;
        return 1;
    }
    if (strnlen(name, RNNCK__H5_MAX_NAME + 1) > RNNCK__H5_MAX_NAME) {
        l->bad_name = true;
        return 1;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rnnck__h5_link *p = realloc(l->items, cap * sizeof *p);
        if (!p) {
            l->nomem = true;
            return -1;
        }
        l->items = p;
        l->cap = cap;
    }
    char *copy = rnnck__strdup(name);
    if (!copy) {
        l->nomem = true;
        return -1;
    }
    /* The link type comes from the link itself (as H5Lget_info reports it),
     * before anything is followed. */
    l->items[l->count].name = copy;
    l->items[l->count].type = info->type;
    l->count++;
    return 0;
}

/* Lists a group's links in creation order when the group tracks it, else in
 * name order. Returns non-OK only if the walk must stop. */
rnnck_status rnnck__h5_list_links(rnnck__h5_walk *s, hid_t g, const char *object, rnnck__h5_links *l) {
    memset(l, 0, sizeof *l);
    l->limit = (size_t)(s->object_limit - s->objects) + 1;
    unsigned crt = 0;
    hid_t gcpl = H5Gget_create_plist(g);
    if (gcpl >= 0) {
        H5Pget_link_creation_order(gcpl, &crt);
        H5Pclose(gcpl);
    }
    hsize_t pos = 0;
    herr_t rc = -1;
    if (crt & H5P_CRT_ORDER_TRACKED) rc = H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, &pos, collect_link, l);
    if (rc < 0 && !l->nomem) {
        rnnck__h5_links_free(l);
        l->limit = (size_t)(s->object_limit - s->objects) + 1;
        pos = 0;
        rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &pos, collect_link, l);
    }
    rnnck_status st = RNNCK_OK;
    if (l->nomem)
        st = rnnck__oom();
    else if (rc < 0)
        st = rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "group's links cannot be listed");
    else if (l->bad_name)
        st = rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "a link name exceeds %d bytes", RNNCK__H5_MAX_NAME);
    if (st) {
        rnnck__h5_links_free(l);
        return rnnck__h5_problem(s->f, st);
    }
    return RNNCK_OK;
}

/* Counts one object against the limit; in check mode a hit stops the walk. */
rnnck_status rnnck__h5_count_object(rnnck__h5_walk *s, const char *object) {
    if (++s->objects <= s->object_limit) return RNNCK_OK;
    rnnck_status st = rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "more than %lld objects in the file (limit)",
                                     (long long)s->object_limit);
    s->stopped = true;
    return rnnck__h5_problem(s->f, st);
}

char *rnnck__h5_child_object(const char *object, const char *name) {
    return rnnck__asprintf("%s%s%s", object, strcmp(object, "/") == 0 ? "" : "/", name);
}
char *rnnck__h5_child_tensor(const char *prefix, const char *name) {
    return rnnck__asprintf("%s%s%s", prefix, *prefix ? "." : "", name);
}

/* Link names become parts of dotted tensor names. */
static bool valid_link_name(const char *name) {
    if (!*name) return false;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '.' || *p == 0x7f) return false;
    return true;
}

/* Refuses links that are not plain hard links, without following them, and
 * returns the object type behind a hard link (H5O_TYPE_UNKNOWN if refused). */
rnnck_status rnnck__h5_examine_link(rnnck__h5_walk *s, hid_t g, const rnnck__h5_link *link, const char *object,
                                    H5O_info_t *oi, bool *usable) {
    *usable = false;
    if (!valid_link_name(link->name))
        return rnnck__h5_problem(s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object,
                                                      "link name is empty or holds '.' or control characters"));
    if (link->type != H5L_TYPE_HARD) {
        const char *kind = link->type == H5L_TYPE_SOFT       ? "soft"
                           : link->type == H5L_TYPE_EXTERNAL ? "external"
                                                             : "user-defined";
        return rnnck__h5_problem(s->f, rnnck__h5_fail(s->f, RNNCK_E_UNSUPPORTED, object,
                                                      "%s link refused (only hard links are followed)", kind));
    }
    if (H5Oget_info_by_name2(g, link->name, oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return rnnck__h5_problem(s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "object header cannot be read"));
    *usable = true;
    return RNNCK_OK;
}

rnnck_status rnnck__h5_add_tensor(rnnck__h5_walk *s, const char *tensor_name, const char *object,
                                  const rnnck__h5_dsinfo *info) {
    rnnck_tensor *t;
    int64_t key;
    rnnck_status st = rnnck__h5_source_add(s->src, object, info, &key);
    if (st) return st;
    st = rnnck__tensor_new_unloaded(info->dtype, info->ndim, info->shape, &t);
    if (st) {
        rnnck__h5_source_drop_last(s->src);
        return st;
    }
    t->source_key = key;
    st = rnnck__model_add_tensor_ref(s->m, tensor_name, t);
    rnnck_tensor_free(t);
    if (st) {
        rnnck__h5_source_drop_last(s->src);
        if (st == RNNCK_E_NOMEM) return st;
        char why[600];
        snprintf(why, sizeof why, "%s", rnnck_errmsg());
        return rnnck__h5_problem(s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "%s", why));
    }
    return RNNCK_OK;
}

/* Visited groups: an open-addressing set of object addresses (never
 * HADDR_UNDEF), so that a file with many groups costs linear time. */
static size_t addr_slot(haddr_t addr, size_t cap) {
    uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

rnnck_status rnnck__h5_remember_group(rnnck__h5_walk *s, haddr_t addr, bool *seen) {
    *seen = false;
    if ((s->ngroups + 1) * 2 > s->groups_cap) {
        size_t cap = s->groups_cap ? s->groups_cap * 2 : 64;
        haddr_t *t = malloc(cap * sizeof *t);
        if (!t) return rnnck__oom();
        for (size_t i = 0; i < cap; i++)
            t[i] = HADDR_UNDEF;
        for (size_t i = 0; i < s->groups_cap; i++) {
            if (s->groups[i] == HADDR_UNDEF) continue;
            size_t j = addr_slot(s->groups[i], cap);
            while (t[j] != HADDR_UNDEF)
                j = (j + 1) & (cap - 1);
            t[j] = s->groups[i];
        }
        free(s->groups);
        s->groups = t;
        s->groups_cap = cap;
    }
    size_t j = addr_slot(addr, s->groups_cap);
    for (; s->groups[j] != HADDR_UNDEF; j = (j + 1) & (s->groups_cap - 1))
        if (s->groups[j] == addr) {
            *seen = true;
            return RNNCK_OK;
        }
    s->groups[j] = addr;
    s->ngroups++;
    return RNNCK_OK;
}

/* Opens and inspects dataset `name` of g. *ok is false when it was refused
 * (the problem has been reported). */
rnnck_status rnnck__h5_inspect(rnnck__h5_walk *s, hid_t g, const char *name, const char *object, rnnck__h5_dsinfo *info,
                               bool *ok) {
    *ok = false;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    rnnck_status st = ds < 0 ? rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "dataset cannot be opened")
                             : rnnck__h5_inspect_dataset(s->f, ds, object, info);
    if (ds >= 0) H5Dclose(ds);
    if (!st) *ok = true;
    return rnnck__h5_problem(s->f, st);
}

/* Any object of a plain group: datasets become tensors, groups are walked. */
rnnck_status rnnck__h5_visit(rnnck__h5_walk *s, hid_t g, const rnnck__h5_link *link, const char *object,
                             const char *tensor, int depth) {
    H5O_info_t oi;
    bool usable;
    rnnck_status st = rnnck__h5_examine_link(s, g, link, object, &oi, &usable);
    if (st || !usable) return st;
    if (oi.type == H5O_TYPE_DATASET) {
        rnnck__h5_dsinfo info;
        bool ok;
        if ((st = rnnck__h5_inspect(s, g, link->name, object, &info, &ok)) || !ok) return st;
        return rnnck__h5_add_tensor(s, tensor, object, &info);
    }
    if (oi.type != H5O_TYPE_GROUP)
        return rnnck__h5_problem(
            s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "object is neither a group nor a dataset"));
    bool seen = oi.addr == HADDR_UNDEF; /* no address: cannot prove it is not a cycle */
    if (!seen && (st = rnnck__h5_remember_group(s, oi.addr, &seen))) return st;
    if (seen)
        return rnnck__h5_problem(
            s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "group is linked more than once (hard-link cycle?)"));
    if (depth + 1 > RNNCK__H5_MAX_DEPTH)
        return rnnck__h5_problem(
            s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "groups nested deeper than %d", RNNCK__H5_MAX_DEPTH));
    hid_t child = H5Gopen2(g, link->name, H5P_DEFAULT);
    if (child < 0)
        return rnnck__h5_problem(s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "group cannot be opened"));
    st = rnnck__h5_walk_group(s, child, object, tensor, depth + 1);
    H5Gclose(child);
    return st;
}

rnnck_status rnnck__h5_walk_group(rnnck__h5_walk *s, hid_t g, const char *object, const char *prefix, int depth) {
    htri_t is_module = H5Aexists(g, "module");
    if (is_module < 0)
        return rnnck__h5_problem(s->f, rnnck__h5_fail(s->f, RNNCK_E_FORMAT, object, "attributes cannot be read"));
    if (is_module > 0) return rnnck__h5_module_group(s, g, object, prefix, depth);
    rnnck__h5_links links;
    rnnck_status st = rnnck__h5_list_links(s, g, object, &links);
    if (st) return st;
    for (size_t i = 0; i < links.count && !st && !s->stopped; i++) {
        char *obj = rnnck__h5_child_object(object, links.items[i].name),
             *ten = rnnck__h5_child_tensor(prefix, links.items[i].name);
        st = (!obj || !ten) ? rnnck__oom() : rnnck__h5_count_object(s, obj);
        if (!st && !s->stopped) st = rnnck__h5_visit(s, g, &links.items[i], obj, ten, depth);
        free(obj);
        free(ten);
    }
    rnnck__h5_links_free(&links);
    return st;
}
