/* torch.save storages and tensors: the allowlist of globals, persistent
 * storage references checked against their records, and tensors rebuilt as
 * views of shared storage (or compact copies of strided views). */
#include "pytorch/pytorch_internal.h"

#include <stdlib.h>
#include <string.h>

static void storage_unref(rnnck_storage *s) {
    if (s && --s->refcount == 0) {
        free(s->data);
        free(s);
    }
}

void rnnck__pt_reader_free(pt_reader *r) {
    for (size_t i = 0; i < r->nst; i++) {
        storage_unref(r->st[i]->storage);
        free(r->st[i]);
    }
    free(r->st);
    free(r->slots);
    free(r->prefix);
    rnnck__zip_close(r->z);
    rnnck__zsrc_free(r->src);
}

/* ----------------------------------------------------- storage & tensors */

static rnnck_dtype storage_dtype(const char *name) {
    static const struct {
        const char *name;
        rnnck_dtype dtype;
    } table[] = {{"FloatStorage", RNNCK_F32},     {"DoubleStorage", RNNCK_F64}, {"HalfStorage", RNNCK_F16},
                 {"BFloat16Storage", RNNCK_BF16}, {"LongStorage", RNNCK_I64},   {"IntStorage", RNNCK_I32},
                 {"ShortStorage", RNNCK_I16},     {"CharStorage", RNNCK_I8},    {"ByteStorage", RNNCK_U8},
                 {"BoolStorage", RNNCK_BOOL}};
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(table[i].name, name)) return table[i].dtype;
    return RNNCK_DTYPE_INVALID;
}

int rnnck__pt_classify(void *ctx, const char *module, const char *name) {
    (void)ctx;
    if (!strcmp(module, "torch._utils") &&
        (!strcmp(name, "_rebuild_tensor_v2") || !strcmp(name, "_rebuild_tensor") ||
         !strcmp(name, "_rebuild_parameter") || !strcmp(name, "_rebuild_parameter_with_state")))
        return PK_ROLE_HOOK;
    if (!strcmp(module, "torch")) {
        if (storage_dtype(name)) return PK_ROLE_TYPE;
        if (!strcmp(name, "Size")) return PK_ROLE_IDENTITY;
        static const char *const dtypes[] = {"float32", "float64", "float16", "bfloat16", "int64",
                                             "int32",   "int16",   "int8",    "uint8",    "bool",
                                             "float",   "double",  "half",    "long",     NULL};
        for (const char *const *d = dtypes; *d; d++)
            if (!strcmp(name, *d)) return PK_ROLE_TYPE;
        return -1;
    }
    /* PyTorch 0.3-0.4 modules pickled whole carry _backend, pickled as a
     * call of this getter with no arguments: admitted as an inert
     * placeholder by the reduce hook below, never imported or called. */
    if (!strcmp(module, "torch.nn.backends.thnn") && !strcmp(name, "_get_thnn_function_backend")) return PK_ROLE_HOOK;
    /* Module classes are inert references: their state is read as data. */
    if (!strncmp(module, "torch.nn.modules.", 17)) return name[0] >= 'A' && name[0] <= 'Z' ? PK_ROLE_CLASS : -1;
    if (!strncmp(module, "torch.", 6)) return -1;
    return rnnck__pk_default_role(module, name);
}

static uint64_t hash_key(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

pt_storage *rnnck__pt_find_storage(const pt_reader *r, const char *key) {
    if (!r->nslots) return NULL;
    for (size_t j = hash_key(key) & (r->nslots - 1); r->slots[j]; j = (j + 1) & (r->nslots - 1))
        if (!strcmp(r->st[r->slots[j] - 1]->key, key)) return r->st[r->slots[j] - 1];
    return NULL;
}

/* Adds an entry (data may come later: legacy files). */
rnnck_status rnnck__pt_add_storage(pt_reader *r, const char *key, rnnck_dtype dtype, int64_t numel, pt_storage **out) {
    if (r->nst == r->capst) {
        size_t cap = r->capst ? r->capst * 2 : 16;
        pt_storage **p = realloc(r->st, cap * sizeof *p);
        if (!p) return rnnck__oom();
        r->st = p;
        r->capst = cap;
    }
    if ((r->nst + 1) * 2 > r->nslots) {
        size_t n = r->nslots ? r->nslots * 2 : 64;
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots) return rnnck__oom();
        for (size_t i = 0; i < r->nst; i++) {
            size_t j = hash_key(r->st[i]->key) & (n - 1);
            while (slots[j]) j = (j + 1) & (n - 1);
            slots[j] = i + 1;
        }
        free(r->slots);
        r->slots = slots;
        r->nslots = n;
    }
    pt_storage *e = calloc(1, sizeof *e);
    if (!e) return rnnck__oom();
    snprintf(e->key, sizeof e->key, "%s", key);
    e->dtype = dtype;
    e->numel = numel;
    e->member = -1;
    r->st[r->nst++] = e;
    size_t j = hash_key(key) & (r->nslots - 1);
    while (r->slots[j]) j = (j + 1) & (r->nslots - 1);
    r->slots[j] = r->nst;
    *out = e;
    return RNNCK_OK;
}

/* Wraps malloc'd bytes as the entry's shared storage. */
rnnck_status rnnck__pt_attach_data(pt_reader *r, pt_storage *e, unsigned char *data, size_t len) {
    if (r->big_endian) rnnck__swap_bytes(data, len, rnnck_dtype_size(e->dtype));
    rnnck_storage *s = calloc(1, sizeof *s);
    if (!s) {
        free(data);
        return rnnck__oom();
    }
    s->data = data;
    s->nbytes = len;
    s->refcount = 1;
    e->storage = s;
    r->storage_bytes += len;
    return RNNCK_OK;
}

/* Reads a lazily referenced record whole (a strided view needs it). */
static rnnck_status storage_read_now(pt_reader *r, pt_storage *e) {
    unsigned char *data;
    size_t len;
    rnnck_status st = rnnck__zip_read(r->z, e->member, (uint64_t)r->lim.max_tensor_bytes, &data, &len);
    if (!st) st = rnnck__pt_attach_data(r, e, data, len);
    return st;
}

static rnnck_status load_storage(pt_reader *r, pk_machine *pm, const char *key, rnnck_dtype dtype, int64_t numel,
                                 pt_storage **out) {
    pt_storage *e = rnnck__pt_find_storage(r, key);
    if (e) {
        if (e->dtype != dtype || e->numel != numel)
            return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s is referenced with two different types or sizes",
                                  key);
        if (!e->storage && e->member < 0) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s has no data", key);
        *out = e;
        return RNNCK_OK;
    }
    if (!r->z) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s is not among the file's storages", key);
    /* labels may be cut short, member names never: the prefix is the
     * archive's and may be long */
    char *name = rnnck__asprintf("%s/data/%s", r->prefix, key);
    if (!name) return rnnck__oom();
    char member[400];
    snprintf(member, sizeof member, "%s", name);
    int64_t idx;
    rnnck_status st = rnnck__zip_find(r->z, name, &idx);
    free(name);
    if (st) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s has no record %s", key, member);
    uint64_t size;
    if ((st = rnnck__zip_member_size(r->z, idx, &size))) return st;
    int64_t want;
    if (numel < 0 || rnnck__mul_overflow_i64(numel, (int64_t)rnnck_dtype_size(dtype), &want) || (uint64_t)want != size)
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s declares %lld %s elements but record %s holds %llu bytes",
                              key, (long long)numel, rnnck_dtype_name(dtype), member, (unsigned long long)size);
    if (size > (uint64_t)r->lim.max_tensor_bytes)
        return rnnck__pk_fail(pm, RNNCK_E_NOMEM, "record %s of %llu bytes is over the limit of %lld", member,
                              (unsigned long long)size, (long long)r->lim.max_tensor_bytes);
    if ((st = rnnck__pt_add_storage(r, key, dtype, numel, &e))) return st;
    e->member = idx;
    /* Stored records (all torch.save writes) are read in place when a tensor
     * is wanted; a compressed one is inflated now, once. */
    if (!rnnck__zip_is_stored(r->z, idx) && (st = storage_read_now(r, e))) return st;
    *out = e;
    return RNNCK_OK;
}

static bool valid_key(const char *k, size_t len) {
    if (len == 0 || len >= 32) return false;
    for (size_t i = 0; i < len; i++)
        if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              k[i] == '_'))
            return false;
    return true;
}

/* ("storage", torch.XStorage, key, location, numel[, view_metadata]) */
rnnck_status rnnck__pt_parse_pid(pk_machine *pm, const pk_value *pid, const char **key, rnnck_dtype *dtype,
                                 int64_t *numel) {
    /* zip: 5 fields; legacy files add view_metadata, which must be None */
    if (pid->kind != PK_TUPLE || (pid->n != 5 && pid->n != 6) || !rnnck__pk_is_str(pid->items[0], "storage"))
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT,
                              "persistent id is not a ('storage', type, key, location, numel) tuple");
    const pk_value *type = pid->items[1], *k = pid->items[2], *loc = pid->items[3], *n = pid->items[4];
    if (pid->n == 6 && pid->items[5]->kind != PK_NONE)
        return rnnck__pk_fail(pm, RNNCK_E_UNSUPPORTED, "legacy storage views (view_metadata) are not supported");
    if (type->kind != PK_GLOBAL || k->kind != PK_STR || loc->kind != PK_STR || n->kind != PK_INT)
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "malformed storage reference");
    *dtype = strcmp(type->s, "torch") ? RNNCK_DTYPE_INVALID : storage_dtype(type->name);
    if (!*dtype)
        return rnnck__pk_fail(pm, RNNCK_E_UNSUPPORTED, "storage type %.100s.%.100s is not supported", type->s,
                              type->name);
    if (!valid_key(k->s, k->len))
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage key '%.40s' is not a plain record name", k->s);
    if (n->i < 0) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "storage %s has a negative size", k->s);
    *key = k->s;
    *numel = n->i;
    return RNNCK_OK;
}

/* Legacy whole-module pickles refer to module classes as ("module", cls,
 * source_file, source): the class reference itself, inert. */
bool rnnck__pt_module_class_pid(const pk_value *pid, pk_value **out) {
    if (pid->kind != PK_TUPLE || pid->n != 4 || !rnnck__pk_is_str(pid->items[0], "module") ||
        pid->items[1]->kind != PK_GLOBAL || pid->items[1]->role != PK_ROLE_CLASS)
        return false;
    *out = pid->items[1];
    return true;
}

rnnck_status rnnck__pt_persistent_load(void *ctx, pk_machine *pm, pk_value *pid, pk_value **out) {
    if (rnnck__pt_module_class_pid(pid, out)) return RNNCK_OK;
    const char *key = 0;
    rnnck_dtype dtype = 0;
    int64_t numel = 0;
    pt_storage *e;
    rnnck_status st = rnnck__pt_parse_pid(pm, pid, &key, &dtype, &numel);
    if (!st) st = load_storage(ctx, pm, key, dtype, numel, &e);
    if (st) return st;
    return rnnck__pk_new_ext(pm, TAG_STORAGE, e, NULL, out);
}

static void tensor_free_cb(void *p) { rnnck_tensor_free(p); }

static rnnck_status int_tuple(pk_machine *pm, const pk_value *v, const char *what, int64_t *vals, int *n) {
    if (v->kind != PK_TUPLE) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "tensor %s is not a tuple", what);
    if (v->n > RNNCK_MAX_DIMS)
        return rnnck__pk_fail(pm, RNNCK_E_UNSUPPORTED, "tensor of %zu dimensions (at most %d)", v->n, RNNCK_MAX_DIMS);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->kind != PK_INT)
            return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "tensor %s holds a %s", what,
                                  rnnck__pk_kind_name(v->items[i]->kind));
        vals[i] = v->items[i]->i;
    }
    *n = (int)v->n;
    return RNNCK_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static rnnck_status rebuild_tensor(pt_reader *r, pk_machine *pm, pk_value *args, pk_value **out) {
    if (args->n < 4 || args->n > 7 || args->items[0]->kind != PK_EXT || args->items[0]->ext_tag != TAG_STORAGE ||
        args->items[1]->kind != PK_INT)
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT,
                              "_rebuild_tensor arguments are not (storage, offset, size, stride, ...)");
    pt_storage *s = args->items[0]->ext;
    int64_t offset = args->items[1]->i, shape[RNNCK_MAX_DIMS], stride[RNNCK_MAX_DIMS];
    int nd, nd2;
    rnnck_status st = int_tuple(pm, args->items[2], "size", shape, &nd);
    if (!st) st = int_tuple(pm, args->items[3], "stride", stride, &nd2);
    if (st) return st;
    if (nd != nd2) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "tensor has %d sizes but %d strides", nd, nd2);
    if (offset < 0) return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "negative storage offset %lld", (long long)offset);
    int64_t numel = 1, extent = offset; /* last element index reached */
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 0 || shape[i] > r->lim.max_dim)
            return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "tensor dimension %d of size %lld", i, (long long)shape[i]);
        if (stride[i] < 0)
            return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "negative stride %lld in dimension %d", (long long)stride[i], i);
        int64_t reach;
        if (rnnck__mul_overflow_i64(numel, shape[i], &numel) ||
            (shape[i] > 0 && (rnnck__mul_overflow_i64(shape[i] - 1, stride[i], &reach) ||
                              __builtin_add_overflow(extent, reach, &extent))))
            return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "tensor size/stride arithmetic overflows");
    }
    size_t es = rnnck_dtype_size(s->dtype);
    if (numel > 0 && extent >= s->numel)
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "tensor reaches element %lld of storage %s, which has %lld",
                              (long long)extent, s->key, (long long)s->numel);
    if (numel > r->lim.max_tensor_bytes / (int64_t)es)
        return rnnck__pk_fail(pm, RNNCK_E_NOMEM, "tensor of %lld elements is over the size limit", (long long)numel);
    rnnck_tensor *t;
    if ((st = rnnck__tensor_new_unloaded(s->dtype, nd, shape, &t))) return st;
    bool contiguous = true;
    for (int i = 0; i < nd; i++)
        if (shape[i] > 1 && stride[i] != t->stride[i]) contiguous = false;
    if (contiguous && !s->storage) { /* read from its record when wanted */
        st = rnnck__zsrc_add(r->src, s->member, numel ? (uint64_t)offset * es : 0, r->big_endian ? RNNCK__ZSRC_SWAP : 0,
                             &t->source_key);
        if (st) {
            rnnck_tensor_free(t);
            return st;
        }
    } else if (contiguous) { /* a view of the shared storage, as in PyTorch */
        t->storage = s->storage;
        t->storage->refcount++;
        t->offset = numel ? (size_t)offset * es : 0; /* an empty tensor's offset may lie anywhere */
    } else {
        /* A non-contiguous tensor becomes a compact copy. Copies are bounded
         * by the storage bytes actually read: an expanded (self-overlapping)
         * view could otherwise make a tiny file claim huge memory. */
        if (!s->storage && (st = storage_read_now(r, s))) {
            rnnck_tensor_free(t);
            return st;
        }
        if (numel > s->numel)
            return rnnck_tensor_free(t),
                   rnnck__pk_fail(pm, RNNCK_E_UNSUPPORTED, "tensor overlaps itself in storage %s (an expanded view)",
                                  s->key);
        size_t bytes = (size_t)numel * es;
        if (r->copy_bytes + bytes > 4 * r->storage_bytes + (1u << 20))
            return rnnck_tensor_free(t),
                   rnnck__pk_fail(pm, RNNCK_E_NOMEM, "strided views would copy more than 4x the stored data");
        r->copy_bytes += bytes;
        rnnck_tensor view = *t;
        view.storage = s->storage;
        view.offset = (size_t)offset * es;
        memcpy(view.stride, stride, sizeof stride);
        if ((st = rnnck__tensor_alloc_storage(t))) {
            rnnck_tensor_free(t);
            return st;
        }
        rnnck__strided_copy(&view, t->storage->data);
    }
    return rnnck__pk_new_ext(pm, TAG_TENSOR, t, tensor_free_cb, out);
}

rnnck_status rnnck__pt_reduce(void *ctx, pk_machine *pm, const pk_value *fn, pk_value *args, pk_value **out) {
    if (!strcmp(fn->name, "_get_thnn_function_backend")) {
        if (args->n != 0)
            return rnnck__pk_fail(pm, RNNCK_E_UNSUPPORTED,
                                  "torch.nn.backends.thnn._get_thnn_function_backend called with arguments "
                                  "(only the argument-less _backend placeholder of old whole-module pickles is "
                                  "admitted)");
        return rnnck__pk_new_ext(pm, TAG_INERT, NULL, NULL, out); /* nothing is called */
    }
    if (!strcmp(fn->name, "_rebuild_tensor_v2") || !strcmp(fn->name, "_rebuild_tensor"))
        return rebuild_tensor(ctx, pm, args, out);
    /* _rebuild_parameter(tensor, requires_grad, hooks[, state]): the data is the tensor */
    if (args->n < 1 || args->items[0]->kind != PK_EXT || args->items[0]->ext_tag != TAG_TENSOR)
        return rnnck__pk_fail(pm, RNNCK_E_FORMAT, "%s without a tensor", fn->name);
    *out = args->items[0];
    return RNNCK_OK;
}
