#include "ptcraft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

void pkb_free(pkb *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void pkb_raw(pkb *b, const void *data, size_t len) {
    if (b->oom) return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

void pkb_op(pkb *b, unsigned char op) { pkb_raw(b, &op, 1); }

void pkb_repeat(pkb *b, const void *data, size_t len, size_t times) {
    for (size_t i = 0; i < times && !b->oom; i++) pkb_raw(b, data, len);
}

void pkb_proto2(pkb *b) { pkb_raw(b, "\x80\x02", 2); }

static void le32(pkb *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    pkb_raw(b, x, 4);
}

void pkb_str(pkb *b, const char *s) {
    pkb_op(b, 'X');
    le32(b, (uint32_t)strlen(s));
    pkb_raw(b, s, strlen(s));
}

void pkb_put(pkb *b, uint32_t i) {
    pkb_op(b, 'r');
    le32(b, i);
}

void pkb_get(pkb *b, uint32_t i) {
    pkb_op(b, 'j');
    le32(b, i);
}

void pkb_binget(pkb *b, unsigned char i) {
    pkb_op(b, 'h');
    pkb_op(b, i);
}

void pkb_global(pkb *b, const char *module, const char *name) {
    pkb_op(b, 'c');
    pkb_raw(b, module, strlen(module));
    pkb_op(b, '\n');
    pkb_raw(b, name, strlen(name));
    pkb_op(b, '\n');
}

void pkb_long(pkb *b, int64_t v) {
    pkb_raw(b, "\x8a\x08", 2);
    uint64_t u = (uint64_t)v;
    for (int k = 0; k < 8; k++) pkb_op(b, (unsigned char)(u >> (8 * k)));
}

void pkb_tensor(pkb *b, const char *key, int64_t numel, int ndim, const int64_t *shape) {
    pkb_global(b, "torch._utils", "_rebuild_tensor_v2");
    pkb_op(b, '('); /* args */
    pkb_op(b, '('); /* persistent id */
    pkb_str(b, "storage");
    pkb_global(b, "torch", "FloatStorage");
    pkb_str(b, key);
    pkb_str(b, "cpu");
    pkb_long(b, numel);
    pkb_op(b, 't');
    pkb_op(b, 'Q');
    pkb_long(b, 0); /* offset */
    pkb_op(b, '(');
    for (int d = 0; d < ndim; d++) pkb_long(b, shape[d]);
    pkb_op(b, 't');
    pkb_op(b, '(');
    for (int d = 0; d < ndim; d++) {
        int64_t stride = 1;
        for (int e = d + 1; e < ndim; e++) stride *= shape[e];
        pkb_long(b, stride);
    }
    pkb_op(b, 't');
    pkb_op(b, 0x89); /* NEWFALSE: requires_grad */
    pkb_global(b, "collections", "OrderedDict");
    pkb_op(b, ')');
    pkb_op(b, 'R');
    pkb_op(b, 't');
    pkb_op(b, 'R');
}

static int add(zip_t *z, const char *name, const void *data, size_t len, bool deflate) {
    zip_source_t *s = zip_source_buffer(z, data, len, 0);
    if (!s) return -1;
    zip_int64_t i = zip_file_add(z, name, s, ZIP_FL_OVERWRITE);
    if (i < 0) {
        zip_source_free(s);
        return -1;
    }
    return zip_set_file_compression(z, (zip_uint64_t)i, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 9);
}

int pt_write(const char *path, const pkb *pickle, const pt_storage_spec *storages, size_t nstorages,
             bool deflate_pickle, const char *prefix) {
    if (pickle->oom) return -1;
    if (!prefix) prefix = "archive";
    int err = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) return -1;
    size_t cap = strlen(prefix) + 64;
    char *name = malloc(cap);
    int rc = name ? 0 : -1;
#define NAME(...) snprintf(name, cap, __VA_ARGS__)
    if (!rc) NAME("%s/data.pkl", prefix), rc = add(z, name, pickle->p, pickle->n, deflate_pickle);
    if (!rc) NAME("%s/byteorder", prefix), rc = add(z, name, "little", 6, false);
    for (size_t i = 0; i < nstorages && !rc; i++) {
        if (strlen(storages[i].key) > 32) rc = -1;
        if (!rc) NAME("%s/data/%s", prefix, storages[i].key), rc = add(z, name, storages[i].data, storages[i].len, false);
    }
    if (!rc) NAME("%s/version", prefix), rc = add(z, name, "3\n", 2, false);
#undef NAME
    free(name);
    if (rc) {
        zip_discard(z);
        return -1;
    }
    return zip_close(z) == 0 ? 0 : -1;
}

void pkb_begin_with_tensor(pkb *b, uint32_t memo) {
    int64_t shape[1] = {1};
    pkb_proto2(b);
    pkb_tensor(b, "0", 1, 1, shape);
    pkb_put(b, memo);
    pkb_op(b, '0');
}

void pkb_cycle_check(pkb *b, size_t n, size_t k) {
    pkb_proto2(b);
    pkb_op(b, 'N');
    pkb_put(b, 0);
    pkb_op(b, ']');
    pkb_put(b, 1);
    pkb_op(b, '(');
    for (size_t i = 0; i < n; i++) pkb_binget(b, 0);
    pkb_op(b, 'e');
    pkb_op(b, '0');
    pkb_op(b, ']');
    pkb_op(b, '(');
    for (size_t i = 0; i < k; i++) pkb_binget(b, 1);
    pkb_op(b, 'e');
    pkb_op(b, '.');
}

void pkb_skip_set(pkb *b, size_t n, size_t m, bool distinct) {
    pkb_begin_with_tensor(b, 1);
    pkb_str(b, "not_a_buffer");
    pkb_put(b, 2);
    pkb_op(b, '0');
    pkb_global(b, "torch.nn.modules.module", "Module");
    pkb_op(b, ')');
    pkb_op(b, 0x81); /* NEWOBJ */
    pkb_op(b, '}');
    pkb_op(b, '(');
    pkb_str(b, "_parameters");
    pkb_op(b, '}');
    pkb_str(b, "_modules");
    pkb_op(b, '}');
    pkb_str(b, "_buffers");
    pkb_op(b, '}');
    pkb_op(b, '(');
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "b%zu", distinct ? i : 0);
        pkb_str(b, name);
        pkb_get(b, 1);
    }
    pkb_op(b, 'u');
    pkb_str(b, "_non_persistent_buffers_set");
    pkb_op(b, 0x8f); /* EMPTY_SET */
    pkb_op(b, '(');
    for (size_t i = 0; i < m; i++) pkb_get(b, 2);
    pkb_op(b, 0x90); /* ADDITEMS */
    pkb_op(b, 'u');
    pkb_op(b, 'b');
    pkb_op(b, '.');
}

void pkb_module_prefixes(pkb *b, size_t n) {
    pkb_begin_with_tensor(b, 1);
    pkb_op(b, '}');
    pkb_op(b, '(');
    for (size_t i = 0; i < n; i++) {
        char name[48];
        snprintf(name, sizeof name, "m%06zu.weight_ih_l0", i);
        pkb_str(b, name);
        pkb_get(b, 1);
    }
    pkb_op(b, 'u');
    pkb_op(b, '.');
}

int pt_write_one_float(const char *path, const pkb *pickle, bool deflate_pickle) {
    static const float one = 1.0f;
    pt_storage_spec s = {"0", &one, sizeof one};
    return pt_write(path, pickle, &s, 1, deflate_pickle, NULL);
}
