/* Internals of the TensorFlow tensor-bundle reader (formats/tf/): CRC-32C,
 * the table (.index) reader and TensorFlow's slice-key encoding. Not
 * installed. */
#ifndef RNNCK_TF_INTERNAL_H
#define RNNCK_TF_INTERNAL_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Room for item n of an array of `elem`-byte items (*cap doubles). */
static inline rnnck_status rnnck__tf_grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return RNNCK_OK;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = c > SIZE_MAX / elem ? NULL : realloc(*p, c * elem);
    if (!q) return rnnck__oom();
    *p = q;
    *cap = c;
    return RNNCK_OK;
}

/* ---- CRC-32C (tf_crc32c.c) ---- */
/* CRC-32C (Castagnoli) of n bytes, continuing from crc (0 to start). */
uint32_t rnnck__crc32c_extend(uint32_t crc, const void *data, size_t n);
/* TensorFlow's (and LevelDB's) stored form of a CRC: rotated right by 15
 * bits plus a constant, so a CRC of data holding CRCs is not degenerate. */
uint32_t rnnck__crc32c_mask(uint32_t crc);

/* ---- table (tf_table.c): LevelDB's SSTable layout as TensorFlow writes it */
#define RNNCK__TF_TABLE_MAGIC 0xdb4775248b80fb57ull
#define RNNCK__TF_FOOTER_BYTES 48

typedef struct rnnck__tf_kv {
    const unsigned char *key, *value; /* into the table's own buffers */
    size_t key_len, value_len;
} rnnck__tf_kv;

typedef struct rnnck__tf_table {
    rnnck__tf_kv *kv; /* every entry of every data block, keys strictly increasing */
    size_t n, cap;
    unsigned char **bufs; /* the file and any decompressed blocks the entries point into */
    size_t nbufs, bufcap;
} rnnck__tf_table;

/* Reads and checks the whole table in `path` (label names it in messages):
 * footer and magic, index block, every data block (trailer CRC-32C, snappy
 * decompression, entries, restart points), keys strictly increasing. The
 * file is metadata (docs/BUDGETS.md): at most RNNCK__META_MAX_BYTES, its
 * decompressed blocks and keys together at most rnnck__meta_limit(its size),
 * and at most `max_entries` entries. RNNCK_E_FORMAT
 * names the file, the block and the field on a malformed table. */
rnnck_status rnnck__tf_table_read(const char *path, int64_t max_entries, rnnck__tf_table *t);
void rnnck__tf_table_free(rnnck__tf_table *t);
/* The entry with exactly this key, or NULL (binary search). */
const rnnck__tf_kv *rnnck__tf_table_find(const rnnck__tf_table *t, const void *key, size_t key_len);
/* 1 if the last 8 bytes of the file at `path` are the table magic. */
int rnnck__tf_table_probe(const char *path);

/* ---- slice keys (tf_bundle.c) ---- */
/* TensorFlow's key for one slice of variable `name` (checkpoint slice keys,
 * tensorflow/core/util/saved_tensor_slice_util.cc EncodeTensorNameSlice, in
 * the OrderedCode encoding of tensorflow/core/lib/strings/ordered_code.cc):
 * number 0, the name, the rank, then start and length per dimension (length
 * -1 for a whole dimension). Returns a new buffer (*len bytes) or NULL. */
unsigned char *rnnck__tf_slice_key(const char *name, int ndim, const int64_t *start, const int64_t *length,
                                   size_t *len);

#endif
