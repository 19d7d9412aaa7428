/* TensorFlow's table format (the tensor bundle's .index): LevelDB's SSTable
 * layout, tensorflow/core/lib/io/{format,block,table}.cc.
 *   file   = data blocks, metaindex block, index block, footer (48 bytes)
 *   footer = metaindex handle, index handle (each varint64 offset and size),
 *            zero padding to 40 bytes, then magic 0xdb4775248b80fb57 (fixed64)
 *   block  = entries, restart offsets (fixed32 each), restart count (fixed32);
 *            then a 5-byte trailer: compression type (0 none, 1 snappy) and
 *            the masked CRC-32C of the stored block and the type byte
 *   entry  = varint32 shared, non_shared, value_length, key bytes after the
 *            shared prefix, value bytes
 * The index block maps a separator key to each data block's handle. The file
 * is read whole (it is metadata: its size is capped by the caller), every
 * varint, offset, size and count is checked against the block and the file,
 * and keys must be strictly increasing across the table. */
#include "tf/tf_internal.h"
#include "core/budget.h"

#include <errno.h>
#include <fcntl.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct reader {
    const char *path;
    const unsigned char *file;
    size_t size;     /* whole file */
    size_t body_end; /* where the footer starts */
    uint64_t meta_left; /* decompressed and key bytes still allowed */
    int64_t max_entries;
    rnnck__tf_table *t;
} reader;

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A varint of at most `max_bytes` bytes (5 for 32 bits, 10 for 64) inside
 * [*p, end): the value in *v and *p moved past it; 0 if it runs past end,
 * is too long or overflows. */
static int get_varint(const unsigned char **p, const unsigned char *end, int max_bytes, uint64_t *v) {
    uint64_t r = 0;
    const unsigned char *q = *p;
    for (int i = 0; i < max_bytes && q < end; i++, q++) {
        uint64_t b = *q & 0x7f;
        if (i == 9 && b > 1) return 0;                         /* past 64 bits */
        if (max_bytes == 5 && i == 4 && b > 0x0f) return 0;    /* past 32 bits */
        r |= b << (7 * i);
        if (!(*q & 0x80)) {
            *v = r;
            *p = q + 1;
            return 1;
        }
    }
    return 0;
}

typedef struct handle {
    uint64_t offset, size;
} handle;

static int get_handle(const unsigned char **p, const unsigned char *end, handle *h) {
    return get_varint(p, end, 10, &h->offset) && get_varint(p, end, 10, &h->size);
}

static rnnck_status keep_buf(rnnck__tf_table *t, unsigned char *buf) {
    rnnck_status st = rnnck__tf_grow((void **)&t->bufs, &t->bufcap, t->nbufs, sizeof *t->bufs);
    if (st) {
        free(buf);
        return st;
    }
    t->bufs[t->nbufs++] = buf;
    return RNNCK_OK;
}

/* The contents of the block at h (what = "index block", "data block 3"),
 * trailer checked, decompressed if it is snappy. */
static rnnck_status read_block(reader *r, handle h, const char *what, const unsigned char **out, size_t *len) {
    if (h.offset > r->body_end || h.size > r->body_end - h.offset || r->body_end - h.offset - h.size < 5)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: %s handle (offset %llu, size %llu) runs past the blocks' end at %zu (truncated .index?)",
                          r->path, what, (unsigned long long)h.offset, (unsigned long long)h.size, r->body_end);
    const unsigned char *b = r->file + h.offset;
    unsigned char type = b[h.size];
    uint32_t stored = le32(b + h.size + 1);
    uint32_t crc = rnnck__crc32c_mask(rnnck__crc32c_extend(0, b, (size_t)h.size + 1));
    if (crc != stored)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s at offset %llu: block CRC-32C is 0x%08x, the trailer says 0x%08x",
                          r->path, what, (unsigned long long)h.offset, crc, stored);
    if (type == 0) {
        *out = b;
        *len = (size_t)h.size;
        return RNNCK_OK;
    }
    if (type != 1)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s at offset %llu: compression type %u is not 0 (none) or 1 (snappy)",
                          r->path, what, (unsigned long long)h.offset, type);
    size_t n;
    if (snappy_uncompressed_length((const char *)b, (size_t)h.size, &n) != SNAPPY_OK)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s at offset %llu: snappy length header is malformed", r->path, what,
                          (unsigned long long)h.offset);
    if (n > r->meta_left)
        return rnnck__err(RNNCK_E_NOMEM,
                          "%s: %s at offset %llu: snappy block inflates to %zu bytes, over the metadata budget left "
                          "(%llu bytes)",
                          r->path, what, (unsigned long long)h.offset, n, (unsigned long long)r->meta_left);
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) return rnnck__oom();
    size_t got = n;
    if (snappy_uncompress((const char *)b, (size_t)h.size, (char *)buf, &got) != SNAPPY_OK || got != n) {
        free(buf);
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s at offset %llu: snappy data is malformed", r->path, what,
                          (unsigned long long)h.offset);
    }
    r->meta_left -= n;
    rnnck_status st = keep_buf(r->t, buf);
    if (st) return st;
    *out = buf;
    *len = n;
    return RNNCK_OK;
}

static int key_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

typedef rnnck_status (*entry_fn)(reader *r, const char *what, size_t index, const unsigned char *key, size_t key_len,
                                 const unsigned char *value, size_t value_len, void *ctx);

/* Walks the entries of one block, calling fn for each with its full key (in
 * a buffer valid for the call only). */
static rnnck_status walk_block(reader *r, const unsigned char *b, size_t len, const char *what, entry_fn fn,
                               void *ctx) {
    if (len < 4)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: %zu bytes, too short for its restart count", r->path, what, len);
    uint32_t nrestarts = le32(b + len - 4);
    if (nrestarts < 1 || nrestarts > (len - 4) / 4)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: restart count %u does not fit its %zu bytes", r->path, what,
                          nrestarts, len);
    size_t data_end = len - 4 - (size_t)nrestarts * 4;
    const unsigned char *restarts = b + data_end;
    size_t key_len = 0, key_cap = 64, next_restart = 0, index = 0;
    unsigned char *key = malloc(key_cap); /* never NULL: empty keys are pointers too */
    if (!key) return rnnck__oom();
    rnnck_status st = RNNCK_OK;
    const unsigned char *p = b, *end = b + data_end;
    while (p < end && !st) {
        size_t at = (size_t)(p - b);
        int restart = 0;
        if (next_restart < nrestarts) {
            uint32_t ro = le32(restarts + 4 * next_restart);
            if (ro < at) {
                st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: restart point %zu (offset %u) is not at an entry", r->path,
                                what, next_restart, ro);
                break;
            }
            if (ro == at) {
                restart = 1;
                next_restart++;
            }
        }
        uint64_t shared, non_shared, vlen;
        if (!get_varint(&p, end, 5, &shared) || !get_varint(&p, end, 5, &non_shared) ||
            !get_varint(&p, end, 5, &vlen)) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: entry %zu at offset %zu: malformed or truncated length varints",
                            r->path, what, index, at);
            break;
        }
        if ((restart || index == 0) && shared != 0) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: entry %zu at a restart point shares %llu key bytes (must be 0)",
                            r->path, what, index, (unsigned long long)shared);
            break;
        }
        if (shared > key_len || non_shared > (uint64_t)(end - p) || vlen > (uint64_t)(end - p) - non_shared) {
            st = rnnck__err(RNNCK_E_FORMAT,
                            "%s: %s: entry %zu at offset %zu: shared %llu, key %llu and value %llu bytes run past the "
                            "entries' end (previous key %zu bytes, %zu bytes left)",
                            r->path, what, index, at, (unsigned long long)shared, (unsigned long long)non_shared,
                            (unsigned long long)vlen, key_len, (size_t)(end - p));
            break;
        }
        size_t klen = (size_t)shared + (size_t)non_shared;
        if (klen > r->meta_left) {
            st = rnnck__err(RNNCK_E_NOMEM, "%s: %s: entry %zu: keys add up past the metadata budget", r->path, what,
                            index);
            break;
        }
        r->meta_left -= klen;
        if (klen > key_cap) {
            size_t cap = klen > 2 * key_cap ? klen : 2 * key_cap;
            unsigned char *k = realloc(key, cap);
            if (!k) {
                st = rnnck__oom();
                break;
            }
            key = k;
            key_cap = cap;
        }
        memcpy(key + shared, p, (size_t)non_shared);
        key_len = klen;
        p += non_shared;
        st = fn(r, what, index, key, key_len, p, (size_t)vlen, ctx);
        p += vlen;
        index++;
    }
    if (data_end == 0) /* an empty block (the metaindex) keeps its one restart at 0 */
        while (next_restart < nrestarts && le32(restarts + 4 * next_restart) == 0) next_restart++;
    if (!st && next_restart < nrestarts)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: restart point %zu (offset %u) is not at an entry", r->path, what,
                        next_restart, le32(restarts + 4 * next_restart));
    free(key);
    return st;
}

/* ---- data blocks: every entry into the table ---- */
static rnnck_status add_entry(reader *r, const char *what, size_t index, const unsigned char *key, size_t key_len,
                              const unsigned char *value, size_t value_len, void *ctx) {
    (void)ctx;
    rnnck__tf_table *t = r->t;
    if (t->n > 0) {
        const rnnck__tf_kv *prev = &t->kv[t->n - 1];
        if (key_cmp(prev->key, prev->key_len, key, key_len) >= 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: entry %zu: key '%.*s' is not after the previous key '%.*s'",
                              r->path, what, index, (int)(key_len > 200 ? 200 : key_len), (const char *)key,
                              (int)(prev->key_len > 200 ? 200 : prev->key_len), (const char *)prev->key);
    }
    if ((int64_t)t->n >= r->max_entries)
        return rnnck__err(RNNCK_E_NOMEM, "%s: more than %lld entries, over the limit of tensors", r->path,
                          (long long)r->max_entries);
    rnnck_status st = rnnck__tf_grow((void **)&t->kv, &t->cap, t->n, sizeof *t->kv);
    if (st) return st;
    unsigned char *k = malloc(key_len + 1);
    if (!k) return rnnck__oom();
    memcpy(k, key, key_len);
    k[key_len] = 0;
    t->kv[t->n++] = (rnnck__tf_kv){k, value, key_len, value_len};
    return RNNCK_OK;
}

/* ---- the index block: one data block per entry ---- */
typedef struct index_ctx {
    unsigned char *prev_sep; /* previous separator, to check the next block's first key */
    size_t prev_sep_len;
    uint64_t next_free; /* data blocks lie in file order without overlapping: each read once */
} index_ctx;

static rnnck_status add_block(reader *r, const char *what, size_t index, const unsigned char *key, size_t key_len,
                              const unsigned char *value, size_t value_len, void *vctx) {
    index_ctx *ctx = vctx;
    handle h;
    const unsigned char *p = value, *end = value + value_len;
    if (!get_handle(&p, end, &h) || p != end)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: entry %zu: value is not a block handle (two varint64s)", r->path,
                          what, index);
    char name[64];
    snprintf(name, sizeof name, "data block %zu", index);
    if (h.offset < ctx->next_free)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: entry %zu: %s at offset %llu overlaps or precedes the block before it",
                          r->path, what, index, name, (unsigned long long)h.offset);
    const unsigned char *b;
    size_t len;
    size_t first = r->t->n;
    rnnck_status st = read_block(r, h, name, &b, &len);
    if (!st) st = walk_block(r, b, len, name, add_entry, NULL);
    if (st) return st;
    ctx->next_free = h.offset + h.size + 5; /* read_block checked it against the file */
    if (r->t->n > first) {
        const rnnck__tf_kv *lo = &r->t->kv[first], *hi = &r->t->kv[r->t->n - 1];
        if (key_cmp(hi->key, hi->key_len, key, key_len) > 0 ||
            (ctx->prev_sep && key_cmp(lo->key, lo->key_len, ctx->prev_sep, ctx->prev_sep_len) <= 0))
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: entry %zu: %s keys are not within its separator keys", r->path,
                              what, index, name);
    }
    unsigned char *sep = realloc(ctx->prev_sep, key_len ? key_len : 1);
    if (!sep) return rnnck__oom();
    memcpy(sep, key, key_len);
    ctx->prev_sep = sep;
    ctx->prev_sep_len = key_len;
    return RNNCK_OK;
}

static rnnck_status no_entry(reader *r, const char *what, size_t index, const unsigned char *key, size_t key_len,
                             const unsigned char *value, size_t value_len, void *ctx) {
    (void)r, (void)what, (void)index, (void)key, (void)key_len, (void)value, (void)value_len, (void)ctx;
    return RNNCK_OK; /* metaindex entries (filters) are not used by bundles */
}

static rnnck_status read_file(const char *path, uint64_t max_bytes, unsigned char **out, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rnnck__err(RNNCK_E_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        close(fd);
        return rnnck__err(RNNCK_E_NOMEM, "%s: .index is %lld bytes, over the metadata limit of %llu", path,
                          (long long)sb.st_size, (unsigned long long)max_bytes);
    }
    size_t n = (size_t)sb.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return rnnck__oom();
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return rnnck__err(RNNCK_E_IO, "%s: read error", path);
    }
    *out = buf;
    *size = n;
    return RNNCK_OK;
}

rnnck_status rnnck__tf_table_read(const char *path, int64_t max_entries, rnnck__tf_table *t) {
    memset(t, 0, sizeof *t);
    unsigned char *file = NULL;
    size_t size = 0;
    rnnck_status st = read_file(path, RNNCK__META_MAX_BYTES, &file, &size);
    if (st) return st;
    if ((st = keep_buf(t, file))) return st;
    if (size < RNNCK__TF_FOOTER_BYTES)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %zu bytes, shorter than the table footer (48 bytes): truncated .index",
                          path, size);
    reader r = {path, file, size, size - RNNCK__TF_FOOTER_BYTES, rnnck__meta_limit(size), max_entries, t};
    const unsigned char *foot = file + r.body_end;
    uint64_t magic = (uint64_t)le32(foot + 40) | (uint64_t)le32(foot + 44) << 32;
    if (magic != RNNCK__TF_TABLE_MAGIC)
        return rnnck__err(RNNCK_E_FORMAT, "%s: footer magic is 0x%016llx, not the table magic 0x%016llx", path,
                          (unsigned long long)magic, (unsigned long long)RNNCK__TF_TABLE_MAGIC);
    handle meta, index;
    const unsigned char *p = foot;
    if (!get_handle(&p, foot + 40, &meta) || !get_handle(&p, foot + 40, &index))
        return rnnck__err(RNNCK_E_FORMAT, "%s: footer: metaindex and index block handles are malformed varints", path);
    const unsigned char *b;
    size_t len;
    if ((st = read_block(&r, meta, "metaindex block", &b, &len))) return st;
    if ((st = walk_block(&r, b, len, "metaindex block", no_entry, NULL))) return st;
    if ((st = read_block(&r, index, "index block", &b, &len))) return st;
    index_ctx ctx = {0};
    st = walk_block(&r, b, len, "index block", add_block, &ctx);
    free(ctx.prev_sep);
    return st;
}

void rnnck__tf_table_free(rnnck__tf_table *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free((void *)t->kv[i].key);
    free(t->kv);
    for (size_t i = 0; i < t->nbufs; i++) free(t->bufs[i]);
    free(t->bufs);
    memset(t, 0, sizeof *t);
}

const rnnck__tf_kv *rnnck__tf_table_find(const rnnck__tf_table *t, const void *key, size_t key_len) {
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(t->kv[mid].key, t->kv[mid].key_len, key, key_len);
        if (c == 0) return &t->kv[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int rnnck__tf_table_probe(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return 0;
    struct stat sb;
    unsigned char m[8];
    int ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= RNNCK__TF_FOOTER_BYTES &&
             pread(fd, m, 8, sb.st_size - 8) == 8;
    close(fd);
    return ok && ((uint64_t)le32(m) | (uint64_t)le32(m + 4) << 32) == RNNCK__TF_TABLE_MAGIC;
}
