/* Legacy (torch < 1.6) torch.save streams. */
#include "pytorch/pytorch_internal.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------- legacy format */
/* torch < 1.6 wrote a stream: the magic number, protocol 1001, a sys_info
 * dict, the object pickle, a pickle listing storage keys, then for each key
 * an int64 element count and the raw bytes. The object pickle is run twice:
 * first only to learn its storages (data comes after it), then for real. */

static const unsigned char legacy_magic[15] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                               0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};

static rnnck_status scan_persistent(void *ctx, pk_machine *pm, pk_value *pid, pk_value **out) {
    pt_reader *r = ctx;
    if (rnnck__pt_module_class_pid(pid, out)) return RNNCK_OK;
    const char *key;
    rnnck_dtype dtype;
    int64_t numel;
    rnnck_status st = rnnck__pt_parse_pid(pm, pid, &key, &dtype, &numel);
    if (st) return st;
    pt_storage *e = rnnck__pt_find_storage(r, key);
    if (e && (e->dtype != dtype || e->numel != numel))
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s is referenced with two different types or sizes", key);
    if (!e && (st = rnnck__pt_add_storage(r, key, dtype, numel, &e))) return st;
    return rnnck__pk_new_ext(pm, TAG_STORAGE, e, NULL, out);
}

static rnnck_status scan_reduce(void *ctx, pk_machine *pm, const pk_value *fn, pk_value *args, pk_value **out) {
    (void)ctx, (void)fn, (void)args;
    return rnnck__pk_new_ext(pm, 0, NULL, NULL, out); /* a placeholder: nothing is built yet */
}

/* One whole pickle at buf[*pos..len); *pos moves past it. */
static rnnck_status next_pickle(pt_reader *r, const unsigned char *buf, size_t len, size_t *pos, const char *what,
                                const pk_hooks *hooks, pk_machine **pm, pk_value **v) {
    pk_hooks plain = {.classify = rnnck__pt_classify, .max_values = PT_MAX_VALUES(r)};
    rnnck_status st = rnnck__pk_load(buf + *pos, len - *pos, what, hooks ? hooks : &plain, pm, v);
    if (!st) *pos += rnnck__pk_end(*pm);
    return st;
}

static rnnck_status read_legacy_data(pt_reader *r, const unsigned char *buf, size_t len, size_t *obj_start,
                                     size_t *obj_len) {
    char what[600];
    snprintf(what, sizeof what, "%s: legacy stream", r->path);
    if (len < sizeof legacy_magic || memcmp(buf, legacy_magic, sizeof legacy_magic))
        return rnnck__err(RNNCK_E_FORMAT, "%s: not a torch.save file (bad legacy magic number)", r->path);
    size_t pos = sizeof legacy_magic;
    pk_machine *pm = NULL;
    pk_value *v;
    rnnck_status st = next_pickle(r, buf, len, &pos, what, NULL, &pm, &v);
    if (!st && (v->kind != PK_INT || v->i != 1001))
        st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: legacy protocol version is not 1001", r->path);
    rnnck__pk_machine_free(pm);
    pm = NULL;
    if (!st) st = next_pickle(r, buf, len, &pos, what, NULL, &pm, &v);
    if (!st) {
        const pk_value *le = rnnck__pk_dict_get(v, "little_endian");
        if (!le || le->kind != PK_BOOL)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: legacy sys_info lacks little_endian", r->path);
        else
            r->big_endian = !le->i;
    }
    rnnck__pk_machine_free(pm);
    pm = NULL;
    *obj_start = pos;
    pk_hooks scan = {.ctx = r,
                     .persistent_load = scan_persistent,
                     .reduce = scan_reduce,
                     .classify = rnnck__pt_classify,
                     .max_values = PT_MAX_VALUES(r)};
    if (!st) st = next_pickle(r, buf, len, &pos, what, &scan, &pm, &v);
    rnnck__pk_machine_free(pm);
    pm = NULL;
    *obj_len = pos - *obj_start;
    if (!st) st = next_pickle(r, buf, len, &pos, what, NULL, &pm, &v);
    if (!st && v->kind != PK_LIST)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: legacy storage key list is a %s", r->path, rnnck__pk_kind_name(v->kind));
    for (size_t i = 0; !st && i < v->n; i++) {
        const pk_value *k = v->items[i];
        pt_storage *e = k->kind == PK_STR ? rnnck__pt_find_storage(r, k->s) : NULL;
        if (!e || e->storage) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: legacy storage key %.40s is unknown or repeated", r->path,
                            k->kind == PK_STR ? k->s : "?");
            break;
        }
        size_t es = rnnck_dtype_size(e->dtype);
        int64_t count = 0;
        if (len - pos < 8) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: legacy storage %s: file ends before its size", r->path, e->key);
            break;
        }
        for (int b = 7; b >= 0; b--) count = (int64_t)((uint64_t)count << 8 | buf[pos + (size_t)b]);
        if (r->big_endian) { /* the count is in the writer's byte order too */
            uint64_t u = 0;
            for (int b = 0; b < 8; b++) u = u << 8 | buf[pos + (size_t)b];
            count = (int64_t)u;
        }
        pos += 8;
        if (count != e->numel || (uint64_t)count > (len - pos) / es) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: legacy storage %s holds %lld elements, %lld declared, %zu bytes left",
                            r->path, e->key, (long long)count, (long long)e->numel, len - pos);
            break;
        }
        size_t n = (size_t)count * es;
        unsigned char *data = malloc(n ? n : 1);
        if (!data) {
            st = rnnck__oom();
            break;
        }
        memcpy(data, buf + pos, n);
        pos += n;
        st = rnnck__pt_attach_data(r, e, data, n);
    }
    rnnck__pk_machine_free(pm);
    for (size_t i = 0; !st && i < r->nst; i++)
        if (!r->st[i]->storage)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: legacy storage %s has no data", r->path, r->st[i]->key);
    return st;
}

rnnck_status rnnck__pt_read_legacy(pt_reader *r, const rnnck_open_opts *opts, rnnck_model **out) {
    unsigned char *buf = NULL;
    size_t len = 0;
    FILE *f = fopen(r->path, "rb");
    if (!f) return rnnck__err(RNNCK_E_IO, "%s: cannot open", r->path);
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    rnnck_status st = RNNCK_OK;
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0)
        st = rnnck__err(RNNCK_E_IO, "%s: cannot read", r->path);
    else if ((uint64_t)size > (uint64_t)r->lim.max_tensor_bytes)
        st = rnnck__err(RNNCK_E_NOMEM, "%s: legacy file of %ld bytes is over the size limit", r->path, size);
    else if (!(buf = malloc((size_t)size + 1)))
        st = rnnck__oom();
    else if ((len = fread(buf, 1, (size_t)size, f)) != (size_t)size)
        st = rnnck__err(RNNCK_E_IO, "%s: read error", r->path);
    fclose(f);
    size_t obj_start = 0, obj_len = 0;
    if (!st) st = read_legacy_data(r, buf, len, &obj_start, &obj_len);
    char what[600];
    snprintf(what, sizeof what, "%s: legacy pickle", r->path);
    pk_machine *pm = NULL;
    pk_value *root = NULL;
    pk_hooks hooks = {.ctx = r,
                      .persistent_load = rnnck__pt_persistent_load,
                      .reduce = rnnck__pt_reduce,
                      .classify = rnnck__pt_classify,
                      .max_values = PT_MAX_VALUES(r)};
    if (!st) st = rnnck__pk_load(buf + obj_start, obj_len, what, &hooks, &pm, &root);
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, opts, r->path);
    if (!st) st = rnnck__pt_collect(&sd, root, opts, r->path);
    if (!st) st = rnnck__sd_build(&sd, r->path, opts, out);
    rnnck__sd_free(&sd);
    rnnck__pk_machine_free(pm);
    free(buf);
    return st;
}
