/* The ONNX format's entry: detection by content, reading the file into a
 * ModelProto with protobuf-c (size bounded before anything is unpacked), and
 * small lookups shared by the reader and the constant folder. */
#include "onnx/onnx_internal.h"
#include "formats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A ModelProto starts with field 1 (ir_version, varint: byte 0x08), a small
 * version, then another ModelProto field: producer_name (0x12),
 * producer_version (0x1a), domain (0x22), model_version (0x28), doc_string
 * (0x32), graph (0x3a), opset_import (0x42), metadata_props (0x72).
 * safetensors may start that way too (a header length of 0x..3a1208): the
 * registry asks it first. */
static int detect_onnx(const unsigned char *head, size_t n) {
    if (n < 4 || head[0] != 0x08 || head[1] < 1 || head[1] > 0x7f) return 0;
    static const unsigned char next[] = {0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72};
    return memchr(next, head[2], sizeof next) != NULL;
}

rnnck_status rnnck__onnx_load(const char *path, Onnx__ModelProto **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return rnnck__err(RNNCK_E_IO, "%s: not a regular file", path);
    }
    if (sb.st_size <= 0 || (uint64_t)sb.st_size > RNNCK__ONNX_MAX_FILE) {
        fclose(f);
        return rnnck__err(RNNCK_E_FORMAT, "%s: file of %lld bytes, expected 1 to %zu (weights over 2 GiB belong in "
                                          "external data)", path, (long long)sb.st_size, RNNCK__ONNX_MAX_FILE);
    }
    size_t len = (size_t)sb.st_size;
    unsigned char *buf = malloc(len);
    if (!buf) {
        fclose(f);
        return rnnck__oom();
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    if (got != len) {
        free(buf);
        return rnnck__err(RNNCK_E_IO, "%s: read %zu of %zu bytes", path, got, len);
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!mp) return rnnck__err(RNNCK_E_FORMAT, "%s: not a valid ONNX ModelProto (protobuf decoding failed)", path);
    if (!mp->graph) {
        onnx__model_proto__free_unpacked(mp, NULL);
        return rnnck__err(RNNCK_E_FORMAT, "%s: ONNX model has no graph", path);
    }
    *out = mp;
    return RNNCK_OK;
}

rnnck_dtype rnnck__onnx_dtype(int32_t data_type) {
    switch (data_type) {
    case RNNCK__ONNX_FLOAT: return RNNCK_F32;
    case RNNCK__ONNX_DOUBLE: return RNNCK_F64;
    case RNNCK__ONNX_FLOAT16: return RNNCK_F16;
    case RNNCK__ONNX_BFLOAT16: return RNNCK_BF16;
    case RNNCK__ONNX_INT32: return RNNCK_I32;
    case RNNCK__ONNX_INT64: return RNNCK_I64;
    default: return RNNCK_DTYPE_INVALID;
    }
}

int32_t rnnck__onnx_data_type(rnnck_dtype dtype) {
    switch (dtype) {
    case RNNCK_F32: return RNNCK__ONNX_FLOAT;
    case RNNCK_F64: return RNNCK__ONNX_DOUBLE;
    case RNNCK_F16: return RNNCK__ONNX_FLOAT16;
    case RNNCK_BF16: return RNNCK__ONNX_BFLOAT16;
    case RNNCK_I32: return RNNCK__ONNX_INT32;
    case RNNCK_I64: return RNNCK__ONNX_INT64;
    default: return 0;
    }
}

rnnck_status rnnck__onnx_index_new(const Onnx__GraphProto *g, rnnck__onnx_index **out) {
    rnnck__onnx_index *ix = calloc(1, sizeof *ix);
    if (!ix) return rnnck__oom();
    rnnck_status st = rnnck__strmap_init(&ix->inits, g->n_initializer, false);
    if (!st) st = rnnck__strmap_init(&ix->producers, g->n_node, false);
    if (!st && g->n_node && !(ix->rnode_of = malloc(g->n_node * sizeof *ix->rnode_of))) st = rnnck__oom();
    for (size_t i = 0; i < g->n_node && !st; i++) ix->rnode_of[i] = -1;
    for (size_t i = 0; i < g->n_initializer && !st; i++)
        if (g->initializer[i]->name) st = rnnck__strmap_add(&ix->inits, g->initializer[i]->name, i, NULL);
    for (size_t i = 0; i < g->n_node && !st; i++)
        for (size_t k = 0; k < g->node[i]->n_output && !st; k++)
            if (g->node[i]->output[k] && *g->node[i]->output[k])
                st = rnnck__strmap_add(&ix->producers, g->node[i]->output[k], i, NULL);
    if (st) {
        rnnck__onnx_index_free(ix);
        return st;
    }
    *out = ix;
    return RNNCK_OK;
}

void rnnck__onnx_index_free(rnnck__onnx_index *ix) {
    if (!ix) return;
    rnnck__strmap_free(&ix->inits);
    rnnck__strmap_free(&ix->producers);
    free(ix->rnode_of);
    free(ix);
}

const Onnx__NodeProto *rnnck__onnx_producer(const rnnck__onnx_scope *s, const char *name, size_t *pos) {
    uintptr_t i;
    if (!name || !*name || !rnnck__strmap_get(&s->index->producers, name, &i)) return NULL;
    if (pos) *pos = (size_t)i;
    return s->graph->node[i];
}

const Onnx__TensorProto *rnnck__onnx_initializer(const rnnck__onnx_scope *s, const char *name) {
    uintptr_t i;
    return rnnck__strmap_get(&s->index->inits, name, &i) ? s->graph->initializer[i] : NULL;
}

const Onnx__AttributeProto *rnnck__onnx_attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0) return n->attribute[i];
    return NULL;
}

const rnnck__format rnnck__format_onnx = {
    .name = "onnx",
    .extensions = ",.onnx,",
    .detect = detect_onnx,
    .read = rnnck__onnx_read,
    .write = rnnck__onnx_write,
};
