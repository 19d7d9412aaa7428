/* Fuzz target: the TensorFlow bundle reader. The input is one bundle with
 * one shard: a 4-byte little-endian length n, then n bytes of .index, then
 * the .data shard (an input too short for its length is all .index). Before
 * the files are written, the harness recomputes the masked CRC-32C of every
 * table block it can find through the footer and the index block, so
 * mutations reach the entry, protobuf and bundle checks behind the block
 * CRCs. The bundle is read through the interface the cell mapping uses
 * (rnnck__tf_bundle_read: every tensor must obey the tensor invariants) and
 * as format "tf" (model invariants, forward, and the rnnck HDF5 round trip). */
#include "fuzz_common.h"
#include "tf/tf_bundle.h"
#include "tf/tf_internal.h"

#include <stdlib.h>
#include <string.h>

static int varint64(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = r;
            return 1;
        }
    }
    return 0;
}

/* Sets the trailer CRC of the block at (off, size) of buf, if it fits. */
static void fix_block(uint8_t *buf, size_t body, uint64_t off, uint64_t size) {
    if (off > body || size > body - off || body - off - size < 5) return;
    uint32_t c = rnnck__crc32c_mask(rnnck__crc32c_extend(0, buf + off, (size_t)size + 1));
    for (int i = 0; i < 4; i++) buf[off + size + 1 + (uint64_t)i] = (uint8_t)(c >> (8 * i));
}

static void fix_table_crcs(uint8_t *buf, size_t n) {
    if (n < RNNCK__TF_FOOTER_BYTES) return;
    size_t body = n - RNNCK__TF_FOOTER_BYTES;
    const uint8_t *p = buf + body, *end = p + 40;
    uint64_t h[4];
    for (int i = 0; i < 4; i++)
        if (!varint64(&p, end, &h[i])) return;
    fix_block(buf, body, h[0], h[1]);
    fix_block(buf, body, h[2], h[3]);
    /* the index block's values are data block handles (uncompressed index only) */
    if (h[2] > body || h[3] > body - h[2] || h[3] < 4) return;
    const uint8_t *b = buf + h[2];
    uint32_t nr = (uint32_t)b[h[3] - 4] | (uint32_t)b[h[3] - 3] << 8 | (uint32_t)b[h[3] - 2] << 16 |
                  (uint32_t)b[h[3] - 1] << 24;
    if (nr > (h[3] - 4) / 4) return;
    const uint8_t *q = b, *qend = b + h[3] - 4 - 4 * (size_t)nr;
    int fixed = 0;
    while (q < qend && fixed < 4096) {
        uint64_t shared, non_shared, vlen, off, size;
        if (!varint64(&q, qend, &shared) || !varint64(&q, qend, &non_shared) || !varint64(&q, qend, &vlen)) break;
        if (non_shared > (uint64_t)(qend - q) || vlen > (uint64_t)(qend - q) - non_shared) break;
        q += non_shared;
        const uint8_t *v = q, *vend = q + vlen;
        q = vend;
        if (varint64(&v, vend, &off) && varint64(&v, vend, &size)) fix_block(buf, body, off, size);
        fixed++;
    }
    fix_block(buf, body, h[2], h[3]); /* the index block last: data blocks lie before it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_clean_scratch();
    size_t n = size;
    if (size >= 4) {
        uint32_t len = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        n = len <= size - 4 ? len : size - 4;
        data += 4;
        size -= 4;
    }
    uint8_t *index = malloc(n ? n : 1);
    FZ_REQUIRE(index, "out of memory");
    if (n) memcpy(index, data, n);
    fix_table_crcs(index, n);
    char prefix[512], path[600];
    snprintf(prefix, sizeof prefix, "%s", fz_path("b"));
    snprintf(path, sizeof path, "%s.index", prefix);
    fz_write_file(path, index, n);
    snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
    fz_write_file(path, data + n, size - n);
    free(index);

    rnnck__sd sd;
    rnnck__sd_init_for(&sd, NULL, prefix);
    size_t skipped = 0;
    rnnck_status st = rnnck__tf_bundle_read(prefix, NULL, &sd, &skipped);
    if (st)
        fz_check_failure(st, NULL);
    else
        for (size_t i = 0; i < sd.n; i++) {
            FZ_REQUIRE(sd.items[i].name && sd.items[i].name[0], "variable %zu has no name", i);
            fz_check_tensor(sd.items[i].t);
            FZ_REQUIRE(rnnck__tensor_loaded(sd.items[i].t), "variable %s is not loaded", sd.items[i].name);
        }
    rnnck__sd_free(&sd);

    rnnck_open_opts opts = {.format = "tf"};
    rnnck_model *m = NULL;
    st = rnnck_open(prefix, &opts, &m);
    fz_check_read(st, m);
    return 0;
}
