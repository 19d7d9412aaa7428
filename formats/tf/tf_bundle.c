/* The TensorFlow tensor bundle (tensorflow/core/util/tensor_bundle/
 * tensor_bundle.{h,cc}): PREFIX.index is a table (tf_table.c) whose empty
 * key holds a BundleHeaderProto and whose other keys are variable names
 * mapping to BundleEntryProtos (tf_bundle.proto); the tensors' bytes lie in
 * PREFIX.data-NNNNN-of-NNNNN shards at each entry's offset, in the host's
 * (little-endian) order, each with the masked CRC-32C of its bytes. A
 * partitioned variable's entry lists its slices instead; each slice is an
 * entry of its own under TensorFlow's slice key (rnnck__tf_slice_key).
 *
 * Reading is two passes over the entries, with no tensor allocated before
 * every piece (whole tensor or slice) has been checked: pass 1 decodes and
 * checks each entry against the header and the limits; the pieces are then
 * sorted by shard and offset, and each shard is opened once, its size taken
 * with fstat, every piece checked to lie inside it without overlapping the
 * previous one, then read and its CRC checked. So the tensors never take
 * more memory than the shards really store. */
#include "tf/tf_bundle.h"
#include "tf/tf_internal.h"
#include "tf_bundle.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SHARDS 99999 /* shard names are %05d */

/* ---- TensorFlow's OrderedCode (tensorflow/core/lib/strings/ordered_code.cc)
 * Each writer appends at p and returns the new end; the caller sized the
 * buffer for the worst case. */

/* Length byte, then the value big-endian without leading zero bytes. */
static unsigned char *put_num_increasing(unsigned char *p, uint64_t v) {
    int len = 0;
    for (uint64_t x = v; x; x >>= 8) len++;
    *p++ = (unsigned char)len;
    for (int i = len - 1; i >= 0; i--) *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

/* 0x00 -> 00 ff, 0xff -> ff 00, then the separator 00 01. */
static unsigned char *put_string(unsigned char *p, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        *p++ = c;
        if (c == 0xff) *p++ = 0x00;
    }
    *p++ = 0x00;
    *p++ = 0x01;
    return p;
}

/* Signed numbers: L bytes hold 7L-1 bits of the magnitude (x = v or ~v); the
 * L-byte big-endian two's complement form gets its first L bits flipped
 * (the header "L ones", spilling into a second byte for L = 9, 10). */
static unsigned char *put_signed_increasing(unsigned char *p, int64_t v) {
    uint64_t x = v < 0 ? ~(uint64_t)v : (uint64_t)v;
    int len = 1;
    while (len < 10 && (x >> (7 * len - 1)) != 0) len++;
    unsigned char buf[10];
    buf[0] = buf[1] = v < 0 ? 0xff : 0x00;
    for (int i = 0; i < 8; i++) buf[2 + i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
    unsigned char *s = buf + 10 - len;
    for (int bit = 0; bit < len; bit++) s[bit / 8] ^= (unsigned char)(0x80 >> (bit % 8));
    memcpy(p, s, (size_t)len);
    return p + len;
}

unsigned char *rnnck__tf_slice_key(const char *name, int ndim, const int64_t *start, const int64_t *length,
                                   size_t *len) {
    size_t n = strlen(name);
    if (ndim < 0 || ndim > RNNCK_MAX_DIMS || n > SIZE_MAX / 2 - 64) return NULL;
    unsigned char *key = malloc(2 * n + 2 + 2 * 9 + (size_t)ndim * 20), *p = key;
    if (!key) return NULL;
    p = put_num_increasing(p, 0);
    p = put_string(p, name);
    p = put_num_increasing(p, (uint64_t)ndim);
    for (int d = 0; d < ndim; d++) {
        p = put_signed_increasing(p, start[d]);
        p = put_signed_increasing(p, length[d]);
    }
    *len = (size_t)(p - key);
    return key;
}

/* ---- paths ---- */
static int digits5(const char *s) {
    for (int i = 0; i < 5; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* The bundle prefix of path: path without ".index" or ".data-NNNNN-of-NNNNN". */
static char *prefix_of(const char *path) {
    size_t n = strlen(path);
    char *p = rnnck__strdup(path);
    if (!p) return NULL;
    if (n > 6 && strcmp(path + n - 6, ".index") == 0)
        p[n - 6] = 0;
    else if (n > 20 && strncmp(path + n - 20, ".data-", 6) == 0 && digits5(path + n - 14) &&
             strncmp(path + n - 9, "-of-", 4) == 0 && digits5(path + n - 5))
        p[n - 20] = 0;
    return p;
}

int rnnck__tf_bundle_probe(const char *path) {
    if (!path) return 0;
    char *prefix = prefix_of(path);
    char *index = prefix ? rnnck__asprintf("%s.index", prefix) : NULL;
    int yes = index && rnnck__tf_table_probe(index);
    free(index);
    free(prefix);
    return yes;
}

/* ---- dtypes ---- */
static const char *tf_dtype_name(int d) {
    static const char *const names[] = {"DT_INVALID", "DT_FLOAT",    "DT_DOUBLE",   "DT_INT32",   "DT_UINT8",
                                        "DT_INT16",   "DT_INT8",     "DT_STRING",   "DT_COMPLEX64", "DT_INT64",
                                        "DT_BOOL",    "DT_QINT8",    "DT_QUINT8",   "DT_QINT32",  "DT_BFLOAT16",
                                        "DT_QINT16",  "DT_QUINT16",  "DT_UINT16",   "DT_COMPLEX128", "DT_HALF",
                                        "DT_RESOURCE", "DT_VARIANT", "DT_UINT32",   "DT_UINT64"};
    return d >= 0 && d < (int)(sizeof names / sizeof names[0]) ? names[d] : "unknown";
}

static rnnck_dtype map_dtype(int d) {
    switch (d) {
    case RNNCK_TF__DATA_TYPE__DT_FLOAT: return RNNCK_F32;
    case RNNCK_TF__DATA_TYPE__DT_DOUBLE: return RNNCK_F64;
    case RNNCK_TF__DATA_TYPE__DT_HALF: return RNNCK_F16;
    case RNNCK_TF__DATA_TYPE__DT_BFLOAT16: return RNNCK_BF16;
    case RNNCK_TF__DATA_TYPE__DT_INT64: return RNNCK_I64;
    case RNNCK_TF__DATA_TYPE__DT_INT32: return RNNCK_I32;
    case RNNCK_TF__DATA_TYPE__DT_INT16: return RNNCK_I16;
    case RNNCK_TF__DATA_TYPE__DT_INT8: return RNNCK_I8;
    case RNNCK_TF__DATA_TYPE__DT_UINT8: return RNNCK_U8;
    case RNNCK_TF__DATA_TYPE__DT_BOOL: return RNNCK_BOOL;
    default: return RNNCK_DTYPE_INVALID;
    }
}

/* ---- the read ---- */
typedef struct var {
    const char *name; /* the table's key (NUL-terminated) */
    rnnck_dtype dtype;
    int ndim;
    int64_t shape[RNNCK_MAX_DIMS];
    size_t nbytes;
    rnnck_tensor *t;     /* allocated when its first piece is read */
    unsigned char *seen; /* sliced: one bit per element, set as slices land */
    size_t nslices;
} var;

typedef struct piece {
    size_t var;      /* index into vars */
    int shard;
    uint64_t offset, size;
    uint32_t crc;    /* masked, as stored */
    int sliced;      /* 0: the whole tensor; 1: a slice at start/count */
    int64_t start[RNNCK_MAX_DIMS], count[RNNCK_MAX_DIMS];
    const char *what; /* key for messages: the variable's name */
} piece;

typedef struct bundle {
    const char *label; /* the .index path, for messages */
    char *prefix;
    rnnck_limits lim;
    int num_shards;
    var *vars;
    size_t nvars, varcap;
    piece *pieces;
    size_t npieces, piececap;
    size_t skipped;
} bundle;

static rnnck_status check_header(bundle *b, const rnnck__tf_table *tab) {
    if (tab->n == 0 || tab->kv[0].key_len != 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: no header entry (the empty key): not a tensor bundle", b->label);
    const rnnck__tf_kv *kv = &tab->kv[0];
    RnnckTf__BundleHeaderProto *h = rnnck_tf__bundle_header_proto__unpack(NULL, kv->value_len, kv->value);
    if (!h)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: header entry: BundleHeaderProto does not decode (%zu bytes: truncated, or wrong wire "
                          "types)",
                          b->label, kv->value_len);
    rnnck_status st = RNNCK_OK;
    if (h->endianness == RNNCK_TF__BUNDLE_HEADER_PROTO__ENDIANNESS__BIG)
        st = rnnck__err(RNNCK_E_UNSUPPORTED,
                        "%s: header entry: endianness is BIG: big-endian bundles are not supported (TensorFlow itself "
                        "reads them only on big-endian hosts)",
                        b->label);
    else if (h->endianness != RNNCK_TF__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: header entry: endianness %d is neither LITTLE (0) nor BIG (1)", b->label,
                        (int)h->endianness);
    else if (h->num_shards < 1 || h->num_shards > MAX_SHARDS)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: header entry: num_shards %d is not 1..%d", b->label, (int)h->num_shards,
                        MAX_SHARDS);
    /* tensor_bundle.h: this reader is consumer version 1 (kTensorBundleVersion) */
    else if (h->version && h->version->min_consumer > 1)
        st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: header entry: version.min_consumer %d: the bundle needs a reader "
                        "newer than tensor bundle version 1", b->label, (int)h->version->min_consumer);
    for (size_t i = 0; !st && h->version && i < h->version->n_bad_consumers; i++)
        if (h->version->bad_consumers[i] == 1)
            st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: header entry: version.bad_consumers excludes version-1 readers",
                            b->label);
    b->num_shards = h->num_shards;
    rnnck_tf__bundle_header_proto__free_unpacked(h, NULL);
    return st;
}

/* Shape of entry e into ndim/shape, checked against the limits. */
static rnnck_status entry_shape(bundle *b, const char *what, const RnnckTf__TensorShapeProto *sp, int *ndim,
                                int64_t *shape) {
    if (sp && sp->unknown_rank)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: shape.unknown_rank is set: a stored tensor has a known shape",
                          b->label, what);
    size_t n = sp ? sp->n_dim : 0;
    if (n > RNNCK_MAX_DIMS)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %s: shape has %zu dimensions, over rnnck's %d", b->label, what, n,
                          RNNCK_MAX_DIMS);
    for (size_t i = 0; i < n; i++) {
        int64_t d = sp->dim[i]->size;
        if (d < 0 || d > b->lim.max_dim)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: shape.dim[%zu].size %lld is not 0..%lld", b->label, what, i,
                              (long long)d, (long long)b->lim.max_dim);
        shape[i] = d;
    }
    *ndim = (int)n;
    return RNNCK_OK;
}

static rnnck_status nbytes_of(bundle *b, const char *what, rnnck_dtype dt, int ndim, const int64_t *shape,
                              size_t *out) {
    int64_t numel, bytes;
    char s[160];
    if (!rnnck__shape_numel(ndim, shape, &numel) ||
        rnnck__mul_overflow_i64(numel, (int64_t)rnnck_dtype_size(dt), &bytes) || bytes > b->lim.max_tensor_bytes)
        return rnnck__err(RNNCK_E_NOMEM, "%s: %s: shape %s of %s is over the limit of %lld bytes per tensor", b->label,
                          what, rnnck__shape_str(ndim, shape, s, sizeof s), rnnck_dtype_name(dt),
                          (long long)b->lim.max_tensor_bytes);
    *out = (size_t)bytes;
    return RNNCK_OK;
}

/* Where the bytes of entry e lie, checked against the header; one piece. */
static rnnck_status add_piece(bundle *b, const char *what, const RnnckTf__BundleEntryProto *e, size_t want,
                              piece *pc) {
    if (e->shard_id < 0 || e->shard_id >= b->num_shards)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: shard_id %d is not below num_shards %d", b->label, what,
                          (int)e->shard_id, b->num_shards);
    if (e->offset < 0 || e->size < 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: offset %lld / size %lld is negative", b->label, what,
                          (long long)e->offset, (long long)e->size);
    if ((uint64_t)e->size != want)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: size is %lld bytes but its dtype and shape need %zu", b->label, what,
                          (long long)e->size, want);
    rnnck_status st = rnnck__tf_grow((void **)&b->pieces, &b->piececap, b->npieces, sizeof *b->pieces);
    if (st) return st;
    pc->shard = e->shard_id;
    pc->offset = (uint64_t)e->offset;
    pc->size = (uint64_t)e->size;
    pc->crc = e->crc32c;
    pc->what = what;
    b->pieces[b->npieces++] = *pc;
    return RNNCK_OK;
}

static const char *printable_key(const rnnck__tf_kv *kv) {
    for (size_t i = 0; i < kv->key_len; i++)
        if (kv->key[i] < 0x20 || kv->key[i] == 0x7f) return NULL;
    return (const char *)kv->key;
}

/* The slices of sliced variable v (entry e): each one's own entry found by
 * its slice key and checked; their element counts must add up to v's. */
static rnnck_status add_slices(bundle *b, const rnnck__tf_table *tab, size_t vi, const RnnckTf__BundleEntryProto *e) {
    var *v = &b->vars[vi];
    int64_t total = 0, numel;
    rnnck__shape_numel(v->ndim, v->shape, &numel);
    for (size_t s = 0; s < e->n_slices; s++) {
        const RnnckTf__TensorSliceProto *sl = e->slices[s];
        if (sl->n_extent != (size_t)v->ndim)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices[%zu] has %zu extents for a %d-dimensional tensor",
                              b->label, v->name, s, sl->n_extent, v->ndim);
        piece pc = {.var = vi, .sliced = 1};
        int64_t keylen[RNNCK_MAX_DIMS];
        for (int d = 0; d < v->ndim; d++) {
            const RnnckTf__TensorSliceProto__Extent *x = sl->extent[d];
            int full = x->has_length_case != RNNCK_TF__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH_LENGTH;
            if (x->start < 0 || x->start > v->shape[d] || (full && x->start != 0) ||
                (!full && (x->length < 0 || x->length > v->shape[d] - x->start)))
                return rnnck__err(RNNCK_E_FORMAT,
                                  "%s: %s: slices[%zu].extent[%d] (start %lld, length %lld) is outside dimension %lld",
                                  b->label, v->name, s, d, (long long)x->start, full ? -1LL : (long long)x->length,
                                  (long long)v->shape[d]);
            pc.start[d] = x->start;
            pc.count[d] = full ? v->shape[d] : x->length;
            keylen[d] = full ? -1 : x->length;
        }
        int64_t n;
        rnnck__shape_numel(v->ndim, pc.count, &n);
        if (n > numel - total)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices hold more elements than the tensor's %lld", b->label,
                              v->name, (long long)numel);
        total += n;
        size_t klen;
        unsigned char *key = rnnck__tf_slice_key(v->name, v->ndim, pc.start, keylen, &klen);
        if (!key) return rnnck__oom();
        const rnnck__tf_kv *kv = rnnck__tf_table_find(tab, key, klen);
        free(key);
        if (!kv)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices[%zu]: no entry under its slice key", b->label, v->name,
                              s);
        RnnckTf__BundleEntryProto *se = rnnck_tf__bundle_entry_proto__unpack(NULL, kv->value_len, kv->value);
        if (!se)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices[%zu]: BundleEntryProto does not decode (wrong wire types "
                              "or truncated)", b->label, v->name, s);
        int sndim = 0;
        int64_t sshape[RNNCK_MAX_DIMS];
        size_t want = (size_t)n * rnnck_dtype_size(v->dtype);
        rnnck_status st = map_dtype(se->dtype) != v->dtype
                              ? rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices[%zu]: dtype %s differs from the tensor's",
                                           b->label, v->name, s, tf_dtype_name(se->dtype))
                          : se->n_slices ? rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices[%zu] has slices itself", b->label,
                                                      v->name, s)
                                         : entry_shape(b, v->name, se->shape, &sndim, sshape);
        if (!st && (sndim != v->ndim || memcmp(sshape, pc.count, sizeof(int64_t) * (size_t)sndim) != 0))
            st = rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices[%zu]: the slice entry's shape is not its extents'", b->label,
                            v->name, s);
        if (!st) st = add_piece(b, v->name, se, want, &pc);
        rnnck_tf__bundle_entry_proto__free_unpacked(se, NULL);
        if (st) return st;
    }
    if (total != numel)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices hold %lld of the tensor's %lld elements", b->label, v->name,
                          (long long)total, (long long)numel);
    v->nslices = e->n_slices;
    return RNNCK_OK;
}

/* Pass 1: every entry decoded and checked; vars and pieces listed. */
static rnnck_status decode_entries(bundle *b, const rnnck__tf_table *tab) {
    for (size_t i = 1; i < tab->n; i++) {
        const rnnck__tf_kv *kv = &tab->kv[i];
        if (kv->key[0] == 0) continue; /* a slice's own key: reached from its variable */
        const char *name = printable_key(kv);
        if (!name)
            return rnnck__err(RNNCK_E_FORMAT, "%s: entry %zu: key holds control characters, not a variable name",
                              b->label, i);
        RnnckTf__BundleEntryProto *e = rnnck_tf__bundle_entry_proto__unpack(NULL, kv->value_len, kv->value);
        if (!e)
            return rnnck__err(RNNCK_E_FORMAT,
                              "%s: %.200s: BundleEntryProto does not decode (%zu bytes: truncated, or wrong wire types)",
                              b->label, name, kv->value_len);
        rnnck_status st = RNNCK_OK;
        if (e->dtype == RNNCK_TF__DATA_TYPE__DT_STRING) {
            b->skipped++;
        } else if (map_dtype(e->dtype) == RNNCK_DTYPE_INVALID) {
            st = rnnck__err(RNNCK_E_UNSUPPORTED, "%s: %.200s: dtype %d (%s) is not one rnnck holds", b->label, name,
                            (int)e->dtype, tf_dtype_name(e->dtype));
        } else {
            st = rnnck__tf_grow((void **)&b->vars, &b->varcap, b->nvars, sizeof *b->vars);
            var *v = st ? NULL : &b->vars[b->nvars];
            if (v) {
                memset(v, 0, sizeof *v);
                v->name = name;
                v->dtype = map_dtype(e->dtype);
                st = entry_shape(b, name, e->shape, &v->ndim, v->shape);
            }
            if (!st) st = nbytes_of(b, name, v->dtype, v->ndim, v->shape, &v->nbytes);
            if (!st) {
                b->nvars++;
                if (e->n_slices) {
                    if (e->size != 0)
                        st = rnnck__err(RNNCK_E_FORMAT, "%s: %.200s: a sliced tensor's entry has size %lld (must be 0)",
                                        b->label, name, (long long)e->size);
                    else
                        st = add_slices(b, tab, b->nvars - 1, e);
                } else {
                    piece pc = {.var = b->nvars - 1};
                    st = add_piece(b, name, e, v->nbytes, &pc);
                }
            }
        }
        rnnck_tf__bundle_entry_proto__free_unpacked(e, NULL);
        if (st) return st;
    }
    return RNNCK_OK;
}

static int piece_cmp(const void *x, const void *y) {
    const piece *a = x, *b = y;
    if (a->shard != b->shard) return a->shard < b->shard ? -1 : 1;
    if (a->offset != b->offset) return a->offset < b->offset ? -1 : 1;
    return (a->size > b->size) - (a->size < b->size);
}

static rnnck_status pread_all(int fd, void *dst, size_t n, uint64_t off, const char *path) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return rnnck__err(RNNCK_E_IO, "%s: read error: %s", path, strerror(errno));
        if (k == 0) return rnnck__err(RNNCK_E_FORMAT, "%s: truncated while reading (the file shrank)", path);
        got += (size_t)k;
    }
    return RNNCK_OK;
}

static unsigned char *tensor_bytes(rnnck_tensor *t) { return (unsigned char *)t->storage->data + t->offset; }

/* Copies slice pc (its bytes in src, C order of its counts) into v's tensor,
 * marking each element; an element marked twice is an overlap. */
static rnnck_status stitch(bundle *b, var *v, const piece *pc, const unsigned char *src) {
    size_t es = rnnck_dtype_size(v->dtype);
    int nd = v->ndim;
    int64_t n;
    rnnck__shape_numel(nd, pc->count, &n);
    if (n == 0) return RNNCK_OK;
    /* contiguous runs along the last dimension */
    int64_t run = nd ? pc->count[nd - 1] : 1;
    int64_t idx[RNNCK_MAX_DIMS] = {0};
    unsigned char *dst = tensor_bytes(v->t);
    for (int64_t done = 0; done < n; done += run) {
        int64_t flat = 0;
        for (int d = 0; d < nd; d++) flat = flat * v->shape[d] + pc->start[d] + (d == nd - 1 ? 0 : idx[d]);
        for (int64_t k = 0; k < run; k++) {
            int64_t e = flat + k;
            if (v->seen[e / 8] & (1u << (e % 8)))
                return rnnck__err(RNNCK_E_FORMAT, "%s: %s: slices overlap at element %lld", b->label, v->name,
                                  (long long)e);
            v->seen[e / 8] |= (unsigned char)(1u << (e % 8));
        }
        memcpy(dst + (size_t)flat * es, src + (size_t)done * es, (size_t)run * es);
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < pc->count[d]) break;
            idx[d] = 0;
        }
    }
    return RNNCK_OK;
}

static rnnck_status check_bools(bundle *b, const piece *pc, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] > 1)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: bool element %zu is %u, not 0 or 1", b->label, pc->what, i, p[i]);
    return RNNCK_OK;
}

/* Reads piece pc from the open shard fd: CRC checked, into its tensor. */
static rnnck_status read_piece(bundle *b, const piece *pc, int fd, const char *shard) {
    var *v = &b->vars[pc->var];
    rnnck_status st;
    if (!v->t) {
        if ((st = rnnck__tensor_new_unloaded(v->dtype, v->ndim, v->shape, &v->t))) return st;
        if ((st = rnnck__tensor_alloc_storage(v->t))) return st;
        if (pc->sliced) {
            int64_t numel;
            rnnck__shape_numel(v->ndim, v->shape, &numel);
            v->seen = calloc((size_t)numel / 8 + 1, 1);
            if (!v->seen) return rnnck__oom();
        }
    }
    unsigned char *buf = pc->sliced ? malloc(pc->size ? (size_t)pc->size : 1) : tensor_bytes(v->t);
    if (!buf) return rnnck__oom();
    st = pread_all(fd, buf, (size_t)pc->size, pc->offset, shard);
    uint32_t crc = st ? 0 : rnnck__crc32c_mask(rnnck__crc32c_extend(0, buf, (size_t)pc->size));
    if (!st && crc != pc->crc)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: %s%s: tensor CRC-32C is 0x%08x, the entry's crc32c says 0x%08x", shard,
                        pc->what, pc->sliced ? " (a slice)" : "", crc, pc->crc);
    if (!st && v->dtype == RNNCK_BOOL) st = check_bools(b, pc, buf, (size_t)pc->size);
    if (!st && pc->sliced) st = stitch(b, v, pc, buf);
    if (pc->sliced) free(buf);
    return st;
}

static char *shard_path(const bundle *b, int shard) {
    return rnnck__asprintf("%s.data-%05d-of-%05d", b->prefix, shard, b->num_shards);
}

static rnnck_status open_shard(const bundle *b, const piece *first, const char *path, int *fd, uint64_t *size) {
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (*fd < 0)
        return rnnck__err(errno == ENOENT ? RNNCK_E_FORMAT : RNNCK_E_IO,
                          "%s: shard %d of %d (%s) is missing or unreadable: %s (needed by %s)", b->label, first->shard,
                          b->num_shards, path, strerror(errno), first->what);
    struct stat sb;
    if (fstat(*fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(*fd);
        *fd = -1;
        return rnnck__err(RNNCK_E_IO, "%s: shard is not a regular file", path);
    }
    *size = (uint64_t)sb.st_size;
    return RNNCK_OK;
}

/* Pieces [i, j) of one shard lie inside it and do not overlap. */
static rnnck_status check_pieces(const piece *pc, size_t n, uint64_t size, const char *path) {
    for (size_t k = 0; k < n; k++) {
        if (pc[k].offset > size || pc[k].size > size - pc[k].offset)
            return rnnck__err(RNNCK_E_FORMAT,
                              "%s: %s: offset %llu + size %llu is outside the shard's %llu bytes (truncated .data?)",
                              path, pc[k].what, (unsigned long long)pc[k].offset, (unsigned long long)pc[k].size,
                              (unsigned long long)size);
        if (k > 0 && pc[k].offset < pc[k - 1].offset + pc[k - 1].size)
            return rnnck__err(RNNCK_E_FORMAT, "%s: %s: bytes at offset %llu overlap another tensor's", path,
                              pc[k].what, (unsigned long long)pc[k].offset);
    }
    return RNNCK_OK;
}

/* Pass 2: the pieces sorted by shard and offset; every shard opened and its
 * pieces checked against its size and each other, before any tensor is
 * allocated; then every shard opened again and its pieces read. */
static rnnck_status read_shards(bundle *b) {
    if (b->npieces) qsort(b->pieces, b->npieces, sizeof *b->pieces, piece_cmp); /* qsort(NULL, 0) is undefined */
    rnnck_status st = RNNCK_OK;
    for (int reading = 0; reading <= 1 && !st; reading++)
        for (size_t i = 0; i < b->npieces && !st;) {
            size_t j = i;
            while (j < b->npieces && b->pieces[j].shard == b->pieces[i].shard) j++;
            char *path = shard_path(b, b->pieces[i].shard);
            if (!path) return rnnck__oom();
            int fd = -1;
            uint64_t size = 0;
            st = open_shard(b, &b->pieces[i], path, &fd, &size);
            if (!st) st = check_pieces(b->pieces + i, j - i, size, path); /* again: the file may have changed */
            for (size_t k = i; k < j && !st && reading; k++) st = read_piece(b, &b->pieces[k], fd, path);
            if (fd >= 0) close(fd);
            free(path);
            i = j;
        }
    return st;
}

static void bundle_free(bundle *b) {
    for (size_t i = 0; i < b->nvars; i++) {
        rnnck_tensor_free(b->vars[i].t);
        free(b->vars[i].seen);
    }
    free(b->vars);
    free(b->pieces);
    free(b->prefix);
}

rnnck_status rnnck__tf_bundle_read(const char *path, const rnnck_open_opts *opts, rnnck__sd *out, size_t *skipped) {
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "tf bundle reader: NULL argument");
    bundle b = {0};
    if (opts && opts->limits)
        b.lim = *opts->limits;
    else
        rnnck_limits_init(&b.lim);
    b.prefix = prefix_of(path);
    char *index = b.prefix ? rnnck__asprintf("%s.index", b.prefix) : NULL;
    if (!index) {
        free(b.prefix);
        return rnnck__oom();
    }
    b.label = index;
    rnnck__tf_table tab;
    int64_t max_entries = b.lim.max_tensors < INT64_MAX ? b.lim.max_tensors + 1 : INT64_MAX; /* + the header */
    rnnck_status st = rnnck__tf_table_read(index, max_entries, &tab);
    if (!st) st = check_header(&b, &tab);
    if (!st) st = decode_entries(&b, &tab);
    if (!st) st = read_shards(&b);
    for (size_t i = 0; i < b.nvars && !st; i++) /* only a tensor of no elements can have no piece read */
        if (!b.vars[i].t && !(st = rnnck__tensor_new_unloaded(b.vars[i].dtype, b.vars[i].ndim, b.vars[i].shape,
                                                             &b.vars[i].t)))
            st = rnnck__tensor_alloc_storage(b.vars[i].t);
    for (size_t i = 0; i < b.nvars && !st; i++) st = rnnck__sd_add_tensor(out, b.vars[i].name, b.vars[i].t);
    if (!st && skipped) *skipped = b.skipped;
    bundle_free(&b);
    rnnck__tf_table_free(&tab);
    free(index);
    return st;
}
