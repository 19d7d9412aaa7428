/* The generic bounded tree of an untrusted HDF5 file (h5_tree.h): groups,
 * dataset metadata and attributes, for foreign formats (Keras). The walk
 * reuses the schema reader's link, cycle, count and dataset checks
 * (h5_walk.c, h5_dataset.c) and adds a reader for the attribute forms
 * foreign writers use: fixed- and variable-length string arrays. */
#include "h5/h5_internal.h"
#include "h5/h5_tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rnnck__h5_tree {
    rnnck__h5_file file;
    char *path_copy;
    bool trusted;
    rnnck__h5t_node *root;
    size_t attr_bytes; /* total read, against RNNCK__H5T_MAX_TOTAL_ATTR_BYTES */
    /* Untrusted: every dataset is read by one helper (a session started at
     * the first read). Its budget: each read at most max_tensor_bytes, all
     * reads together at most data_bytes, the sum of the readable datasets
     * the walk found (each within the file's stored bytes, h5_dataset.c). */
    rnnck_limits lim;
    rnnck__h5_session *session;
    int64_t data_bytes, max_bytes, read_bytes;
    int fd;         /* untrusted: the file, opened once for the walk and every session */
    struct stat sb; /* its fstat then */
};

/* ---- freeing ---- */

static void attr_free(rnnck__h5t_attr *a) {
    for (size_t i = 0; a->strings && i < a->count; i++) free(a->strings[i]);
    free(a->strings);
    free(a->lengths);
    free(a->numbers);
    free(a->name);
}

static void node_free(rnnck__h5t_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) node_free(n->kids[i]);
    for (size_t i = 0; i < n->nattrs; i++) attr_free(&n->attrs[i]);
    free(n->kids);
    free(n->attrs);
    free(n->name);
    free(n->path);
    free(n->problem);
    free(n);
}

void rnnck__h5_tree_free(rnnck__h5_tree *t) {
    if (!t) return;
    rnnck__h5_session_close(t->session);
    if (t->fd >= 0) close(t->fd);
    rnnck__h5_lock();
    rnnck__h5_silence();
    rnnck__h5_close(&t->file);
    rnnck__h5_unlock();
    node_free(t->root);
    free(t->path_copy);
    free(t);
}

/* ---- attributes ---- */

typedef struct attr_names {
    char **names;
    size_t count, cap;
    bool too_many, too_long, nomem;
} attr_names;

static herr_t collect_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
    (void)obj;
    (void)info;
    attr_names *l = data;
    if (l->count >= RNNCK__H5T_MAX_ATTRS) {
        l->too_many = true;
        return 1;
    }
    if (strnlen(name, RNNCK__H5_MAX_NAME + 1) > RNNCK__H5_MAX_NAME) {
        l->too_long = true;
        return 1;
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **p = realloc(l->names, cap * sizeof *p);
        if (!p) {
            l->nomem = true;
            return -1;
        }
        l->names = p;
        l->cap = cap;
    }
    if (!(l->names[l->count] = rnnck__strdup(name))) {
        l->nomem = true;
        return -1;
    }
    l->count++;
    return 0;
}

static void names_free(attr_names *l) {
    for (size_t i = 0; i < l->count; i++) free(l->names[i]);
    free(l->names);
}

/* Charges `bytes` against the one-attribute and whole-file budgets. */
static rnnck_status charge(rnnck__h5_tree *t, const char *object, const char *name, size_t bytes) {
    if (bytes > RNNCK__H5T_MAX_ATTR_BYTES || bytes > RNNCK__H5T_MAX_TOTAL_ATTR_BYTES - t->attr_bytes)
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object,
                              "attribute %s: %zu bytes exceed the metadata limit (%zu per attribute, %zu per file)",
                              name, bytes, RNNCK__H5T_MAX_ATTR_BYTES, RNNCK__H5T_MAX_TOTAL_ATTR_BYTES);
    t->attr_bytes += bytes;
    return RNNCK_OK;
}

static rnnck_status read_strings(rnnck__h5_tree *t, const char *object, hid_t id, hid_t type, hid_t space,
                                 rnnck__h5t_attr *a) {
    size_t n = a->count;
    if (n > RNNCK__H5T_MAX_STRINGS)
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attribute %s holds %zu strings (limit %zu)", a->name,
                              n, RNNCK__H5T_MAX_STRINGS);
    rnnck_status st = charge(t, object, a->name, n * sizeof(char *));
    if (st) return st;
    a->strings = calloc(n ? n : 1, sizeof *a->strings);
    a->lengths = calloc(n ? n : 1, sizeof *a->lengths);
    if (!a->strings || !a->lengths) return rnnck__oom();
    hid_t mem = H5Tcopy(H5T_C_S1);
    if (mem < 0) return rnnck__oom();
    H5Tset_cset(mem, H5Tget_cset(type));
    herr_t rd = -1;
    if (H5Tis_variable_str(type) > 0) {
        char **v = calloc(n ? n : 1, sizeof *v);
        if (!v) {
            H5Tclose(mem);
            return rnnck__oom();
        }
        H5Tset_size(mem, H5T_VARIABLE);
        rd = H5Aread(id, mem, v);
        for (size_t i = 0; rd >= 0 && i < n && !st; i++) {
            const char *s = v[i] ? v[i] : "";
            size_t len = strnlen(s, RNNCK__H5T_MAX_ATTR_BYTES + 1);
            st = charge(t, object, a->name, len + 1);
            if (!st && !(a->strings[i] = malloc(len + 1))) st = rnnck__oom();
            if (!st) {
                memcpy(a->strings[i], s, len);
                a->strings[i][len] = '\0';
                a->lengths[i] = len;
            }
        }
        if (rd >= 0) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, v);
        free(v);
    } else {
        size_t size = H5Tget_size(type), total;
        if (size == 0 || rnnck__mul_overflow_size(size, n, &total)) {
            H5Tclose(mem);
            return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attribute %s: string size %zu is invalid",
                                  a->name, size);
        }
        if ((st = charge(t, object, a->name, total + n))) {
            H5Tclose(mem);
            return st;
        }
        char *buf = malloc(total ? total : 1);
        if (!buf) {
            H5Tclose(mem);
            return rnnck__oom();
        }
        H5Tset_size(mem, size);
        H5Tset_strpad(mem, H5T_STR_NULLPAD);
        rd = H5Aread(id, mem, buf);
        for (size_t i = 0; rd >= 0 && i < n && !st; i++) {
            const char *s = buf + i * size;
            size_t len = strnlen(s, size);
            if (!(a->strings[i] = malloc(len + 1))) st = rnnck__oom();
            else {
                memcpy(a->strings[i], s, len);
                a->strings[i][len] = '\0';
                a->lengths[i] = len;
            }
        }
        free(buf);
    }
    H5Tclose(mem);
    if (st) return st;
    if (rd < 0)
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attribute %s: strings cannot be read", a->name);
    return RNNCK_OK;
}

static rnnck_status read_attr(rnnck__h5_tree *t, hid_t obj, const char *object, const char *name,
                              rnnck__h5t_attr *a) {
    memset(a, 0, sizeof *a);
    if (!(a->name = rnnck__strdup(name))) return rnnck__oom();
    a->kind = RNNCK__H5T_OTHER;
    hid_t id = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t type = id >= 0 ? H5Aget_type(id) : H5I_INVALID_HID;
    hid_t space = type >= 0 ? H5Aget_space(id) : H5I_INVALID_HID;
    rnnck_status st = RNNCK_OK;
    if (space < 0) st = rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attribute %s cannot be opened", name);
    if (!st) {
        H5S_class_t sc = H5Sget_simple_extent_type(space);
        int rank = H5Sget_simple_extent_ndims(space);
        hssize_t np = H5Sget_simple_extent_npoints(space);
        H5T_class_t cls = H5Tget_class(type);
        bool shaped = np >= 0 && (sc == H5S_SCALAR || (sc == H5S_SIMPLE && rank == 1));
        a->scalar = sc == H5S_SCALAR;
        a->count = np >= 0 ? (size_t)np : 0;
        if (shaped && cls == H5T_STRING) {
            a->kind = RNNCK__H5T_STRING;
            st = read_strings(t, object, id, type, space, a);
        } else if (shaped && (cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Tget_size(type) <= 8) {
            a->kind = RNNCK__H5T_NUMBER;
            if (a->count > RNNCK__H5T_MAX_NUMBERS)
                st = rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attribute %s holds %zu numbers (limit %d)",
                                    name, a->count, RNNCK__H5T_MAX_NUMBERS);
            if (!st) st = charge(t, object, name, a->count * sizeof(double));
            if (!st && !(a->numbers = calloc(a->count ? a->count : 1, sizeof(double)))) st = rnnck__oom();
            if (!st && a->count && H5Aread(id, H5T_NATIVE_DOUBLE, a->numbers) < 0)
                st = rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attribute %s cannot be read as numbers", name);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (id >= 0) H5Aclose(id);
    return st;
}

static rnnck_status read_attrs(rnnck__h5_tree *t, hid_t obj, const char *object, rnnck__h5t_node *n) {
    attr_names l = {0};
    hsize_t pos = 0;
    herr_t rc = H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &pos, collect_attr, &l);
    rnnck_status st = RNNCK_OK;
    if (l.nomem)
        st = rnnck__oom();
    else if (l.too_many)
        st = rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "more than %d attributes", RNNCK__H5T_MAX_ATTRS);
    else if (l.too_long)
        st = rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "an attribute name exceeds %d bytes",
                            RNNCK__H5_MAX_NAME);
    else if (rc < 0)
        st = rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, object, "attributes cannot be listed");
    if (!st && l.count && !(n->attrs = calloc(l.count, sizeof *n->attrs))) st = rnnck__oom();
    for (size_t i = 0; !st && i < l.count; i++) {
        st = read_attr(t, obj, object, l.names[i], &n->attrs[i]);
        n->nattrs = i + 1; /* freed with the node even when incomplete */
    }
    names_free(&l);
    return st;
}

/* ---- the walk ---- */

static int kid_cmp(const void *a, const void *b) {
    return strcmp((*(rnnck__h5t_node *const *)a)->name, (*(rnnck__h5t_node *const *)b)->name);
}

static rnnck_status new_node(const char *name, const char *path, rnnck__h5t_node **out) {
    rnnck__h5t_node *n = calloc(1, sizeof *n);
    if (!n) return rnnck__oom();
    n->name = rnnck__strdup(name);
    n->path = rnnck__strdup(path);
    if (!n->name || !n->path) {
        node_free(n);
        return rnnck__oom();
    }
    *out = n;
    return RNNCK_OK;
}

static rnnck_status walk(rnnck__h5_tree *t, rnnck__h5_walk *w, hid_t g, rnnck__h5t_node *n, int depth);

static rnnck_status visit(rnnck__h5_tree *t, rnnck__h5_walk *w, hid_t g, const rnnck__h5_link *link,
                          rnnck__h5t_node *kid, int depth) {
    H5O_info_t oi;
    bool usable;
    rnnck_status st = rnnck__h5_examine_link(w, g, link, kid->path, &oi, &usable);
    if (st || !usable) return st ? st : RNNCK_E_FORMAT;
    if (oi.type == H5O_TYPE_DATASET) {
        hid_t ds = H5Dopen2(g, link->name, H5P_DEFAULT);
        if (ds < 0) return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, kid->path, "dataset cannot be opened");
        rnnck__h5_dsinfo info;
        st = rnnck__h5_inspect_dataset(&t->file, ds, kid->path, &info);
        if (st == RNNCK_E_NOMEM) {
            H5Dclose(ds);
            return st;
        }
        if (st) { /* kept, refused: only a reader that needs it fails */
            kid->problem_status = st;
            if (!(kid->problem = rnnck__strdup(rnnck_errmsg()))) {
                H5Dclose(ds);
                return rnnck__oom();
            }
        } else {
            kid->dtype = info.dtype;
            kid->ndim = info.ndim;
            memcpy(kid->shape, info.shape, sizeof kid->shape);
            kid->chunked = info.chunked;
        }
        st = read_attrs(t, ds, kid->path, kid);
        H5Dclose(ds);
        return st;
    }
    if (oi.type != H5O_TYPE_GROUP)
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, kid->path, "object is neither a group nor a dataset");
    bool seen = oi.addr == HADDR_UNDEF;
    if (!seen && (st = rnnck__h5_remember_group(w, oi.addr, &seen))) return st;
    if (seen)
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, kid->path, "group is linked more than once (hard-link cycle?)");
    if (depth + 1 > RNNCK__H5_MAX_DEPTH)
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, kid->path, "groups nested deeper than %d",
                              RNNCK__H5_MAX_DEPTH);
    hid_t child = H5Gopen2(g, link->name, H5P_DEFAULT);
    if (child < 0) return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, kid->path, "group cannot be opened");
    kid->is_group = 1;
    st = walk(t, w, child, kid, depth + 1);
    H5Gclose(child);
    return st;
}

static rnnck_status walk(rnnck__h5_tree *t, rnnck__h5_walk *w, hid_t g, rnnck__h5t_node *n, int depth) {
    rnnck_status st = read_attrs(t, g, n->path, n);
    if (st) return st;
    rnnck__h5_links links;
    if ((st = rnnck__h5_list_links(w, g, n->path, &links))) return st;
    if (links.too_many) {
        rnnck__h5_links_free(&links);
        return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, n->path, "more than %lld objects in the file (limit)",
                              (long long)w->object_limit);
    }
    if (links.count && !(n->kids = calloc(links.count, sizeof *n->kids))) st = rnnck__oom();
    for (size_t i = 0; !st && i < links.count; i++) {
        char *path = rnnck__h5_child_object(n->path, links.items[i].name);
        if (!path) {
            st = rnnck__oom();
            break;
        }
        rnnck__h5t_node *kid = NULL;
        st = new_node(links.items[i].name, path, &kid);
        free(path);
        if (st) break;
        n->kids[n->nkids++] = kid;
        if (!(st = rnnck__h5_count_object(w, kid->path)) && !w->stopped) st = visit(t, w, g, &links.items[i], kid, depth);
        if (!st && w->stopped) st = RNNCK_E_FORMAT;
    }
    rnnck__h5_links_free(&links);
    if (!st && n->nkids > 1) {
        qsort(n->kids, n->nkids, sizeof *n->kids, kid_cmp);
        for (size_t i = 1; i < n->nkids; i++)
            if (!strcmp(n->kids[i - 1]->name, n->kids[i]->name))
                return rnnck__h5_fail(&t->file, RNNCK_E_FORMAT, n->path, "two links named '%s'", n->kids[i]->name);
    }
    return st;
}

/* Builds the tree of an open file (the caller holds the lock). */
static rnnck_status build(rnnck__h5_tree *t) {
    rnnck__h5_walk w;
    memset(&w, 0, sizeof w);
    w.f = &t->file;
    w.object_limit = t->file.lim.max_tensors * 2 + 64;
    rnnck_status st = new_node("", "/", &t->root);
    if (st) return st;
    t->root->is_group = 1;
    hid_t root = H5Gopen2(t->file.fid, "/", H5P_DEFAULT);
    if (root < 0) return rnnck__err(RNNCK_E_FORMAT, "%s: root group cannot be opened (corrupt file)", t->file.path);
    H5O_info_t oi;
    bool seen;
    if (H5Oget_info2(root, &oi, H5O_INFO_BASIC) >= 0 && oi.addr != HADDR_UNDEF)
        st = rnnck__h5_remember_group(&w, oi.addr, &seen);
    if (!st) st = walk(t, &w, root, t->root, 0);
    H5Gclose(root);
    free(w.groups);
    return st;
}

static rnnck_status tree_open(const char *path, const rnnck_limits *lim, bool trusted, rnnck__h5_tree **out) {
    rnnck__h5_tree *t = calloc(1, sizeof *t);
    if (!t) return rnnck__oom();
    t->file.fid = H5I_INVALID_HID;
    t->fd = -1;
    t->trusted = trusted;
    if (!(t->path_copy = rnnck__strdup(path))) {
        free(t);
        return rnnck__oom();
    }
    rnnck__h5_lock();
    rnnck_status st = rnnck__h5_open(t->path_copy, lim, &t->file);
    if (!st) st = build(t);
    rnnck__h5_unlock();
    if (st) {
        rnnck__h5_tree_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

/* ---- the tree over the helper's pipe ----
 * Untrusted files are walked in the helper only: it sends the tree as
 * report lines, and this process rebuilds it without opening the file
 * (libhdf5 bugs that a fresh process survives can still corrupt a process
 * that has opened other files: fuzz/known_libhdf5/keras/). Lines, in
 * depth-first order, strings hex-encoded:
 *   N PATH IS_GROUP DTYPE NDIM D0..D(NDIM-1) CHUNKED PROBLEM_STATUS PROBLEM
 *   A NAME KIND SCALAR COUNT           an attribute of the last node
 *   S INDEX PIECE                     a piece of string INDEX of that attribute
 *   V N X1..XN                        N more numbers of that attribute (%a) */
#define PIECE 24000 /* raw bytes per S line (hex doubles it, under the 64 KiB line limit) */

static rnnck_status emit(rnnck_report *r, char *line) {
    if (!line) return rnnck__oom();
    rnnck_status st = rnnck__report_add(r, line);
    free(line);
    return st;
}

static rnnck_status send_node(rnnck_report *r, const rnnck__h5t_node *n) {
    char *hp = rnnck__h5_hex(n->path, strlen(n->path)), *pr = rnnck__h5_hex(n->problem ? n->problem : "", n->problem ? strlen(n->problem) : 0);
    char dims[RNNCK_MAX_DIMS * 24 + 1] = "";
    size_t used = 0;
    for (int i = 0; i < n->ndim; i++) used += (size_t)snprintf(dims + used, sizeof dims - used, " %lld", (long long)n->shape[i]);
    rnnck_status st = hp && pr ? emit(r, rnnck__asprintf("N %s %d %d %d%s %d %d %s", hp, n->is_group, (int)n->dtype,
                                                            n->ndim, dims, n->chunked, (int)n->problem_status, pr))
                               : rnnck__oom();
    free(hp);
    free(pr);
    for (size_t i = 0; !st && i < n->nattrs; i++) {
        const rnnck__h5t_attr *a = &n->attrs[i];
        char *hn = rnnck__h5_hex(a->name, strlen(a->name));
        st = hn ? emit(r, rnnck__asprintf("A %s %d %d %zu", hn, (int)a->kind, a->scalar, a->count)) : rnnck__oom();
        free(hn);
        for (size_t k = 0; !st && a->kind == RNNCK__H5T_STRING && k < a->count; k++)
            for (size_t off = 0; !st && (off < a->lengths[k] || off == 0); off += PIECE) {
                size_t len = a->lengths[k] - off < PIECE ? a->lengths[k] - off : PIECE;
                char *hs = rnnck__h5_hex(a->strings[k] + off, len);
                st = hs ? emit(r, rnnck__asprintf("S %zu %s", k, hs)) : rnnck__oom();
                free(hs);
                if (a->lengths[k] == 0) break;
            }
        for (size_t k = 0; !st && a->kind == RNNCK__H5T_NUMBER && k < a->count; k += 1000) {
            size_t m = a->count - k < 1000 ? a->count - k : 1000;
            char *line = malloc(16 + m * 32);
            if (!line) return rnnck__oom();
            size_t u = (size_t)sprintf(line, "V %zu", m);
            for (size_t j = 0; j < m; j++) u += (size_t)sprintf(line + u, " %a", a->numbers[k + j]);
            st = emit(r, line);
        }
    }
    for (size_t i = 0; !st && i < n->nkids; i++) st = send_node(r, n->kids[i]);
    return st;
}

rnnck_status rnnck__h5_tree_walk_here(const char *path, const rnnck_limits *lim, rnnck_report *lines) {
    rnnck__h5_tree *t = NULL;
    rnnck_status st = tree_open(path, lim, true, &t);
    if (!st && lines) st = send_node(lines, t->root);
    rnnck__h5_tree_free(t);
    return st;
}

/* -- rebuilding it -- */

static bool add_kid(rnnck__h5t_node *parent, rnnck__h5t_node *kid) {
    if ((parent->nkids & (parent->nkids - 1)) == 0) { /* capacity doubles at powers of two */
        size_t cap = parent->nkids ? parent->nkids * 2 : 1;
        rnnck__h5t_node **k = realloc(parent->kids, cap * sizeof *k);
        if (!k) return false;
        parent->kids = k;
    }
    parent->kids[parent->nkids++] = kid;
    return true;
}

static bool append_piece(rnnck__h5t_attr *a, size_t k, const char *piece, size_t len) {
    if (k >= a->count) return false;
    char *s = realloc(a->strings[k], a->lengths[k] + len + 1);
    if (!s) return false;
    memcpy(s + a->lengths[k], piece, len);
    a->lengths[k] += len;
    s[a->lengths[k]] = '\0';
    a->strings[k] = s;
    return true;
}

/* Rebuilds the tree from the helper's lines; false on any inconsistency. */
static bool rebuild(rnnck__h5_tree *t, const rnnck_report *r) {
    rnnck__h5t_node *stack[RNNCK__H5_MAX_DEPTH + 2];
    int depth = -1;
    rnnck__h5t_node *node = NULL;
    rnnck__h5t_attr *attr = NULL;
    size_t nums = 0;
    for (size_t i = 0; i < r->count; i++) {
        const char *p = r->items[i] + 2;
        char kind = r->items[i][0];
        if (r->items[i][1] != ' ') return false;
        if (kind == 'N') {
            char *path = NULL, *problem = NULL;
            long long g = 0, dt = 0, nd = 0, ch = 0, ps = 0, d = 0;
            if (!rnnck__h5_unhex(&p, &path, NULL)) return false;
            rnnck__h5t_node *n = calloc(1, sizeof *n);
            if (!n) {
                free(path);
                return false;
            }
            n->path = path;
            const char *slash = strrchr(path, '/');
            n->name = rnnck__strdup(depth < 0 ? "" : slash ? slash + 1 : path);
            bool ok = n->name && rnnck__h5_next_ll(&p, &g) && rnnck__h5_next_ll(&p, &dt) && rnnck__h5_next_ll(&p, &nd) && nd >= 0 &&
                      nd <= RNNCK_MAX_DIMS;
            for (int k = 0; ok && k < nd; k++) ok = rnnck__h5_next_ll(&p, &d) && d >= 0, n->shape[k] = d;
            ok = ok && rnnck__h5_next_ll(&p, &ch) && rnnck__h5_next_ll(&p, &ps) && rnnck__h5_unhex(&p, &problem, NULL) && !*p;
            n->is_group = g != 0;
            n->dtype = (rnnck_dtype)dt;
            n->ndim = (int)nd;
            n->chunked = ch != 0;
            n->problem_status = (rnnck_status)ps;
            if (ok && problem && *problem) n->problem = problem;
            else free(problem);
            ok = ok && (n->is_group || n->problem || rnnck_dtype_size(n->dtype) > 0);
            /* its parent: the deepest open group whose path prefixes it */
            while (ok && depth >= 0) {
                const char *pp = stack[depth]->path;
                size_t pl = strlen(pp);
                if (strcmp(pp, "/") == 0 ? path[0] == '/' && strchr(path + 1, '/') == NULL && path[1]
                                         : strncmp(path, pp, pl) == 0 && path[pl] == '/' && !strchr(path + pl + 1, '/'))
                    break;
                depth--;
            }
            if (ok && depth < 0 && t->root) ok = false;
            if (ok && depth >= 0) ok = add_kid(stack[depth], n);
            else if (ok) t->root = n;
            if (!ok) { /* never attached */
                node_free(n);
                return false;
            }
            if (n->is_group) {
                if (depth + 1 > RNNCK__H5_MAX_DEPTH) return false;
                stack[++depth] = n;
            }
            node = n;
            attr = NULL;
        } else if (kind == 'A') {
            long long k = 0, sc = 0, cnt = 0;
            char *name = NULL;
            if (!node || !rnnck__h5_unhex(&p, &name, NULL)) return false;
            if (!rnnck__h5_next_ll(&p, &k) || !rnnck__h5_next_ll(&p, &sc) || !rnnck__h5_next_ll(&p, &cnt) || *p || k < 0 || k > 2 || cnt < 0 ||
                (k == RNNCK__H5T_STRING && (size_t)cnt > RNNCK__H5T_MAX_STRINGS) ||
                (k == RNNCK__H5T_NUMBER && cnt > RNNCK__H5T_MAX_NUMBERS) || node->nattrs >= RNNCK__H5T_MAX_ATTRS) {
                free(name);
                return false;
            }
            if (!node->attrs && !(node->attrs = calloc(RNNCK__H5T_MAX_ATTRS, sizeof *node->attrs))) {
                free(name);
                return false;
            }
            attr = &node->attrs[node->nattrs++];
            attr->name = name;
            attr->kind = (rnnck__h5t_kind)k;
            attr->scalar = sc != 0;
            attr->count = (size_t)cnt;
            nums = 0;
            if (k == RNNCK__H5T_STRING) {
                attr->strings = calloc(attr->count ? attr->count : 1, sizeof *attr->strings);
                attr->lengths = calloc(attr->count ? attr->count : 1, sizeof *attr->lengths);
                if (!attr->strings || !attr->lengths) return false;
                for (size_t j = 0; j < attr->count; j++)
                    if (!(attr->strings[j] = calloc(1, 1))) return false;
            } else if (k == RNNCK__H5T_NUMBER) {
                if (!(attr->numbers = calloc(attr->count ? attr->count : 1, sizeof(double)))) return false;
            }
        } else if (kind == 'S') {
            long long k = 0;
            char *piece = NULL;
            size_t len;
            if (!attr || attr->kind != RNNCK__H5T_STRING || !rnnck__h5_next_ll(&p, &k) || k < 0 || !rnnck__h5_unhex(&p, &piece, &len))
                return false;
            bool ok = !*p && len <= PIECE && (size_t)k < attr->count &&
                      attr->lengths[k] + len <= RNNCK__H5T_MAX_ATTR_BYTES && append_piece(attr, (size_t)k, piece, len);
            free(piece);
            if (!ok) return false;
        } else if (kind == 'V') {
            long long m = 0;
            if (!attr || attr->kind != RNNCK__H5T_NUMBER || !rnnck__h5_next_ll(&p, &m) || m < 1 ||
                (size_t)m > attr->count - nums)
                return false;
            for (long long j = 0; j < m; j++) {
                char *end;
                attr->numbers[nums++] = strtod(p, &end);
                if (end == p || (*end && *end != ' ')) return false;
                p = end + (*end == ' ');
            }
            if (*p) return false;
        } else {
            return false;
        }
    }
    return t->root != NULL && t->root->is_group;
}

static void sort_kids(rnnck__h5t_node *n) {
    if (n->nkids > 1) qsort(n->kids, n->nkids, sizeof *n->kids, kid_cmp);
    for (size_t i = 0; i < n->nkids; i++) sort_kids(n->kids[i]);
}

/* Bytes of dataset n, or -1 if it cannot be read (refused, or over the
 * limits: the helper's description is checked again here). */
static int64_t dataset_bytes(const rnnck__h5_tree *t, const rnnck__h5t_node *n) {
    int64_t numel = 1;
    size_t es = rnnck_dtype_size(n->dtype);
    if (n->is_group || n->problem || !es || !rnnck__shape_numel(n->ndim, n->shape, &numel) ||
        numel > t->lim.max_tensor_bytes / (int64_t)es)
        return -1;
    return numel * (int64_t)es;
}

/* The read budget of an untrusted tree: the sum and the largest of its
 * readable datasets (the sum saturates at INT64_MAX). */
static void count_data(rnnck__h5_tree *t, const rnnck__h5t_node *n) {
    int64_t b = dataset_bytes(t, n);
    if (b > 0) {
        t->data_bytes = b > INT64_MAX - t->data_bytes ? INT64_MAX : t->data_bytes + b;
        if (b > t->max_bytes) t->max_bytes = b;
    }
    for (size_t i = 0; i < n->nkids; i++) count_data(t, n->kids[i]);
}

rnnck_status rnnck__h5_tree_load(const char *path, const rnnck_limits *lim, bool trusted, rnnck__h5_tree **out) {
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck__h5_tree_load: NULL argument");
    if (lim && (lim->max_tensors < 1 || lim->max_tensor_bytes < 0 || lim->max_dim < 1))
        return rnnck__err(RNNCK_E_USAGE, "limits must be positive");
    if (trusted) return tree_open(path, lim, true, out);
    rnnck_report *lines = calloc(1, sizeof *lines);
    rnnck__h5_tree *t = calloc(1, sizeof *t);
    if (!lines || !t || !(t->path_copy = rnnck__strdup(path))) {
        free(lines);
        free(t);
        return rnnck__oom();
    }
    t->file.fid = H5I_INVALID_HID;
    t->file.path = t->path_copy;
    t->fd = -1;
    if (lim)
        t->lim = *lim;
    else
        rnnck_limits_init(&t->lim);
    rnnck_status st = rnnck__open_regular_input(path, &t->fd, &t->sb);
    if (st) t->fd = -1;
    else st = rnnck__h5_isolated(path, t->fd, &t->sb, lim, 0, RNNCK__H5_JOB_TREE, lines);
    if (!st && !rebuild(t, lines))
        st = rnnck__err(RNNCK_E_FORMAT, "%s: the isolated reader's description of the file is inconsistent", path);
    if (!st) {
        sort_kids(t->root);
        count_data(t, t->root);
    }
    rnnck_report_free(lines);
    if (st) {
        rnnck__h5_tree_free(t);
        return st;
    }
    *out = t;
    return RNNCK_OK;
}

const rnnck__h5t_node *rnnck__h5_tree_root(const rnnck__h5_tree *t) { return t ? t->root : NULL; }
const char *rnnck__h5_tree_path(const rnnck__h5_tree *t) { return t ? t->file.path : ""; }

const rnnck__h5t_node *rnnck__h5t_child(const rnnck__h5t_node *n, const char *name) {
    if (!n || !n->is_group) return NULL;
    size_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(n->kids[mid]->name, name);
        if (c == 0) return n->kids[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const rnnck__h5t_node *rnnck__h5t_find(const rnnck__h5t_node *n, const char *rel) {
    char part[RNNCK__H5_MAX_NAME + 1];
    const char *p = rel;
    while (n && *p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len > RNNCK__H5_MAX_NAME) return NULL;
        if (len) {
            memcpy(part, p, len);
            part[len] = '\0';
            n = rnnck__h5t_child(n, part);
        }
        p += len + (slash ? 1 : 0);
    }
    return n;
}

const rnnck__h5t_attr *rnnck__h5t_attr_find(const rnnck__h5t_node *n, const char *name) {
    for (size_t i = 0; n && i < n->nattrs; i++) /* names are sorted, but few */
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

rnnck_status rnnck__h5_tree_read(rnnck__h5_tree *t, const rnnck__h5t_node *n, void *dst, size_t nbytes) {
    if (n->is_group) return rnnck__err(RNNCK_E_FORMAT, "%s: %s: is a group, not a dataset", t->file.path, n->path);
    if (n->problem) return rnnck__err(n->problem_status, "%s", n->problem);
    int64_t numel = 1;
    if (!rnnck__shape_numel(n->ndim, n->shape, &numel) ||
        (uint64_t)numel * rnnck_dtype_size(n->dtype) != (uint64_t)nbytes)
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: read of %zu bytes does not match the dataset", t->file.path, n->path,
                          nbytes);
    if (nbytes == 0) return RNNCK_OK;
    if (!t->trusted) { /* untrusted: libhdf5 never touches this file in this process */
        if (dataset_bytes(t, n) < 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: %zu bytes exceed the limit of %lld bytes per tensor",
                              t->file.path, n->path, nbytes, (long long)t->lim.max_tensor_bytes);
        if ((int64_t)nbytes > t->data_bytes - t->read_bytes)
            return rnnck__err(RNNCK_E_FORMAT,
                              "%s: %s: reading %zu more bytes would exceed the %lld bytes the file's datasets hold",
                              t->file.path, n->path, nbytes, (long long)t->data_bytes);
        rnnck_status st = RNNCK_OK;
        if (!t->session)
            st = rnnck__h5_session_open(t->file.path, t->fd, &t->sb, t->max_bytes, t->data_bytes, &t->session);
        if (!st) st = rnnck__h5_session_read(t->session, n->path, n->dtype, numel, dst, nbytes);
        if (!st) t->read_bytes += (int64_t)nbytes;
        return st;
    }
    rnnck__h5_lock();
    rnnck_status st = rnnck__h5_read_dataset(&t->file, n->path, n->dtype, numel, dst);
    rnnck__h5_unlock();
    return st;
}

/* ---- probing the root (detection) ---- */

typedef struct probe_ctx {
    rnnck_report *lines;
    const char *kind;
    int count;
    rnnck_status st;
} probe_ctx;

static void probe_add(probe_ctx *p, const char *name) {
    if (p->st || p->count >= 64 || strnlen(name, RNNCK__H5_MAX_NAME + 1) > RNNCK__H5_MAX_NAME) return;
    char line[RNNCK__H5_MAX_NAME + 8];
    snprintf(line, sizeof line, "%s:%s", p->kind, name);
    p->count++;
    p->st = rnnck__report_add(p->lines, line);
}

static herr_t probe_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
    (void)obj;
    (void)info;
    probe_add(data, name);
    return ((probe_ctx *)data)->count >= 64 ? 1 : 0;
}

static herr_t probe_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    probe_add(data, name);
    return ((probe_ctx *)data)->count >= 64 ? 1 : 0;
}

rnnck_status rnnck__h5_probe_here(const char *path, rnnck_report *lines) {
    rnnck__h5_file f;
    rnnck__h5_lock();
    rnnck_status st = rnnck__h5_open(path, NULL, &f);
    if (!st) {
        hid_t root = H5Gopen2(f.fid, "/", H5P_DEFAULT);
        if (root < 0) st = rnnck__err(RNNCK_E_FORMAT, "%s: root group cannot be opened (corrupt file)", path);
        probe_ctx p = {lines, "attr", 0, RNNCK_OK};
        hsize_t pos = 0;
        if (!st && H5Aiterate2(root, H5_INDEX_NAME, H5_ITER_INC, &pos, probe_attr, &p) < 0 && !p.st)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: /: attributes cannot be listed", path);
        if (!st) st = p.st;
        probe_ctx q = {lines, "link", 0, RNNCK_OK};
        pos = 0;
        if (!st && H5Literate(root, H5_INDEX_NAME, H5_ITER_INC, &pos, probe_link, &q) < 0 && !q.st)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: /: links cannot be listed", path);
        if (!st) st = q.st;
        if (root >= 0) H5Gclose(root);
    }
    rnnck__h5_close(&f);
    rnnck__h5_unlock();
    return st;
}

static bool has_line(const rnnck_report *r, const char *line) {
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(r->items[i], line)) return true;
    return false;
}

rnnck_status rnnck__h5_probe_with_walk(const char *path, const rnnck_limits *lim, unsigned flags,
                                       rnnck_report *lines) {
    (void)flags;
    rnnck_status st = rnnck__h5_probe_here(path, lines);
    if (st || !has_line(lines, "attr:rnnck_schema")) return st;
    /* A walk that fails is not the probe's failure: the load walks again in
     * its own helper and reports why. */
    rnnck_report *desc = calloc(1, sizeof *desc);
    if (!desc) return rnnck__oom();
    bool ok = rnnck__h5_walk_describe(path, lim, desc) == RNNCK_OK;
    rnnck__err_clear();
    st = rnnck__report_add(lines, ok ? "walk:ok" : "walk:failed");
    for (size_t i = 0; !st && ok && i < desc->count; i++) st = rnnck__report_add(lines, desc->items[i]);
    rnnck_report_free(desc);
    return st;
}

rnnck_status rnnck__h5_probe_root(const char *path, bool trusted, rnnck_report **out) {
    rnnck_report *r = calloc(1, sizeof *r);
    if (!r) return rnnck__oom();
    struct stat before;
    int fd = -1;
    rnnck_status st = trusted ? rnnck__h5_probe_here(path, r) : rnnck__open_regular_input(path, &fd, &before);
    if (!trusted && !st) {
        st = rnnck__h5_isolated(path, fd, &before, NULL, 0, RNNCK__H5_JOB_PROBE, r);
        close(fd);
    }
    bool known = !trusted; /* before is the fstat of the file the probe walked */
    if (st) {
        rnnck_report_free(r);
        return st;
    }
    /* The walk's description (after "walk:ok") is kept for the load of the
     * same open; the caller gets the probe's lines. */
    size_t walk = 0;
    while (walk < r->count && strcmp(r->items[walk], "walk:ok") != 0) walk++;
    if (walk < r->count) {
        size_t n = r->count - walk - 1;
        rnnck_report *desc = calloc(1, sizeof *desc);
        if (desc && n && !(desc->items = malloc(n * sizeof *desc->items))) {
            free(desc);
            desc = NULL;
        }
        if (!desc) {
            rnnck_report_free(r);
            return rnnck__oom();
        }
        if (n) memcpy(desc->items, r->items + walk + 1, n * sizeof *desc->items); /* moved, not copied */
        desc->count = desc->cap = n;
        r->count = walk + 1;
        if (known) rnnck__h5_walked_note(path, &before, desc);
        else rnnck_report_free(desc);
    }
    *out = r;
    return RNNCK_OK;
}
