/* Reads safetensors: the header is checked as the format's reference
 * library checks it (size, UTF-8, JSON, dtypes, shapes, offsets that tile
 * the data exactly) and more (duplicate names, rnnck's limits); the tensors
 * stay in the file, read by pread when asked for. A file with rnnck's
 * __metadata__ gets its modules as described; any other is read like a
 * state_dict, its modules inferred from names and shapes. */
#include "formats.h"
#include "safetensors/safetensors_internal.h"
#include "common/state_dict.h"
#include "common/zip_source.h"
#include "core/budget.h"
#include "core/strmap.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int detect_st(const unsigned char *head, size_t n) {
    if (n < 10 || head[8] != '{') return 0;
    uint64_t len = 0;
    for (int k = 7; k >= 0; k--) len = len << 8 | head[k];
    return len >= 2 && len <= RNNCK__ST_MAX_HEADER;
}

/* ------------------------------------------------------------ the source */

typedef struct st_source {
    int fd;
    char *label;
    uint64_t data_start; /* 8 + header length */
    uint64_t *begin;     /* per source_key: data_offsets[0] */
    size_t n;
} st_source;

static void source_free(st_source *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    free(s->label);
    free(s->begin);
    free(s);
}
static void source_close(void *ctx) { source_free(ctx); }

static rnnck_status read_at(int fd, uint64_t offset, void *dst, size_t n, const char *label, const char *what) {
    unsigned char *p = dst;
    while (n) {
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return rnnck__err(RNNCK_E_IO, "%s: %s: read error: %s", label, what, strerror(errno));
        if (got == 0) return rnnck__err(RNNCK_E_FORMAT, "%s: %s: the file ends early (was it truncated?)", label, what);
        p += got;
        n -= (size_t)got;
        offset += (uint64_t)got;
    }
    return RNNCK_OK;
}

static rnnck_status source_read(void *ctx, const rnnck_tensor *t, void *dst, size_t nbytes) {
    st_source *s = ctx;
    const char *name = rnnck_tensor_name(t);
    if (t->source_key < 0 || (uint64_t)t->source_key >= s->n)
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s has no record", s->label, name);
    if (nbytes != rnnck_tensor_nbytes(t))
        return rnnck__err(RNNCK_E_USAGE, "%s: %s: read of %zu bytes, tensor has %zu", s->label, name, nbytes,
                          rnnck_tensor_nbytes(t));
    rnnck_status st = read_at(s->fd, s->data_start + s->begin[t->source_key], dst, nbytes, s->label, name);
    if (st) return st;
    if (t->dtype == RNNCK_BOOL) {
        const unsigned char *b = dst;
        for (size_t i = 0; i < nbytes; i++)
            if (b[i] > 1)
                return rnnck__err(RNNCK_E_FORMAT, "%s: %s: BOOL element %zu is %u, not 0 or 1", s->label, name, i,
                                  b[i]);
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    rnnck__swap_bytes(dst, nbytes, rnnck_dtype_size(t->dtype));
#endif
    return RNNCK_OK;
}

/* Data in the host's (little-endian) byte order that needs no check: where
 * it lies, so a writer can copy it file to file. BOOL bytes are checked on
 * reading, so they are read. */
static rnnck_status source_locate(void *ctx, const rnnck_tensor *t, int *fd, uint64_t *offset, bool *check_due) {
    (void)check_due; /* nothing to check */
    st_source *s = ctx;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return RNNCK_E_UNSUPPORTED;
#endif
    if (t->source_key < 0 || (uint64_t)t->source_key >= s->n || t->dtype == RNNCK_BOOL) return RNNCK_E_UNSUPPORTED;
    *fd = s->fd;
    *offset = s->data_start + s->begin[t->source_key];
    return RNNCK_OK;
}

static const rnnck_source_ops source_ops = {.read = source_read, .close = source_close, .locate = source_locate};

/* ------------------------------------------------------------ the header */

typedef struct entry {
    const char *name; /* in the cJSON tree */
    rnnck_dtype dtype;
    int ndim;
    int64_t shape[RNNCK_MAX_DIMS];
    uint64_t begin, end;
} entry;

typedef struct parse {
    const char *path;
    rnnck_limits lim;
    uint64_t data_len;
    entry *items;
    size_t n;
    const cJSON *md; /* __metadata__ or NULL */
} parse;

/* Whether a JSON string in text[0, n) holds the escape \u0000: cJSON
 * would end the C string there, so "a\u0000b" would read as "a". *at gets
 * its offset. */
static bool has_nul_escape(const char *text, size_t n, size_t *at) {
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '"') {
            in_string = !in_string;
        } else if (in_string && text[i] == '\\') {
            if (i + 5 < n && !memcmp(text + i + 1, "u0000", 5)) {
                *at = i;
                return true;
            }
            i++; /* the escaped character, a quote or a backslash included */
        }
    }
    return false;
}

/* A JSON number that is a whole number in [0, 2^53] (exact in a double). */
static bool json_count(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

static rnnck_status read_shape(const parse *p, const char *name, const cJSON *v, entry *e) {
    if (!cJSON_IsArray(v))
        return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: shape is not an array", p->path, name);
    int nd = cJSON_GetArraySize(v);
    if (nd > RNNCK_MAX_DIMS)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: tensor %.200s: shape has %d dimensions, rnnck holds up to %d",
                          p->path, name, nd, RNNCK_MAX_DIMS);
    e->ndim = 0;
    for (const cJSON *d = v->child; d; d = d->next) {
        uint64_t x;
        if (!json_count(d, &x))
            return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: shape[%d] is not a non-negative integer", p->path,
                              name, e->ndim);
        if (x > (uint64_t)p->lim.max_dim)
            return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: shape[%d] = %llu is over the limit of %lld", p->path,
                              name, e->ndim, (unsigned long long)x, (long long)p->lim.max_dim);
        e->shape[e->ndim++] = (int64_t)x;
    }
    return RNNCK_OK;
}

/* One tensor's entry: an object holding exactly dtype, shape and
 * data_offsets, consistent with each other and inside the data. */
static rnnck_status read_entry(const parse *p, const cJSON *obj, entry *e) {
    const char *name = obj->string;
    if (!cJSON_IsObject(obj))
        return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: entry is not an object", p->path, name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *f = obj->child; f; f = f->next) {
        const cJSON **slot = !strcmp(f->string, "dtype")          ? &dtype
                             : !strcmp(f->string, "shape")        ? &shape
                             : !strcmp(f->string, "data_offsets") ? &offsets
                                                                  : NULL;
        if (!slot)
            return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: unknown field '%.100s'", p->path, name, f->string);
        if (*slot)
            return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: field %s appears twice", p->path, name, f->string);
        *slot = f;
    }
    if (!dtype || !shape || !offsets)
        return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: missing field %s", p->path, name,
                          !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    e->name = name;
    if (!cJSON_IsString(dtype))
        return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: dtype is not a string", p->path, name);
    bool known;
    e->dtype = rnnck__st_dtype_from_name(dtype->valuestring, &known);
    if (!e->dtype)
        return rnnck__err(known ? RNNCK_E_UNSUPPORTED : RNNCK_E_FORMAT, "%s: tensor %.200s: dtype %.40s %s", p->path,
                          name, dtype->valuestring,
                          known ? "has no rnnck equivalent" : "is not a safetensors dtype");
    rnnck_status st = read_shape(p, name, shape, e);
    if (st) return st;
    const cJSON *b = cJSON_IsArray(offsets) ? offsets->child : NULL, *en = b ? b->next : NULL;
    if (!b || !en || en->next || !json_count(b, &e->begin) || !json_count(en, &e->end))
        return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: data_offsets is not a pair of non-negative integers",
                          p->path, name);
    if (e->begin > e->end || e->end > p->data_len)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: tensor %.200s: data_offsets [%llu, %llu] %s (the data is %llu bytes)", p->path, name,
                          (unsigned long long)e->begin, (unsigned long long)e->end,
                          e->begin > e->end ? "end before begin" : "run past the end of the file",
                          (unsigned long long)p->data_len);
    int64_t numel;
    size_t bytes;
    if (!rnnck__shape_numel(e->ndim, e->shape, &numel) ||
        rnnck__mul_overflow_size((size_t)numel, rnnck_dtype_size(e->dtype), &bytes))
        return rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: shape's element count overflows", p->path, name);
    if (bytes != e->end - e->begin)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: tensor %.200s: data_offsets span %llu bytes, but shape and dtype need %zu", p->path,
                          name, (unsigned long long)(e->end - e->begin), bytes);
    if ((int64_t)bytes > p->lim.max_tensor_bytes)
        return rnnck__err(RNNCK_E_NOMEM, "%s: tensor %.200s: %zu bytes, over the limit of %lld", p->path, name, bytes,
                          (long long)p->lim.max_tensor_bytes);
    return RNNCK_OK;
}

static rnnck_status read_metadata(parse *p, const cJSON *v) {
    if (cJSON_IsNull(v)) return RNNCK_OK; /* allowed by the format */
    if (!cJSON_IsObject(v))
        return rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ is not an object of strings", p->path);
    rnnck__strmap keys;
    rnnck_status st = rnnck__strmap_init(&keys, 16, false);
    for (const cJSON *e = v->child; e && !st; e = e->next) {
        bool added = false;
        if (!cJSON_IsString(e))
            st = rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ %.200s: value is not a string", p->path, e->string);
        else if (!(st = rnnck__strmap_add(&keys, e->string, 0, &added)) && !added)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: __metadata__ %.200s: key appears twice", p->path, e->string);
    }
    rnnck__strmap_free(&keys);
    if (!st) p->md = v;
    return st;
}

static int by_offset(const void *a, const void *b) {
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors' byte ranges tile [0, data_len) exactly, as the format
 * requires: sorted by offset, each begins where the one before ends. */
static rnnck_status check_tiling(const parse *p) {
    entry **order = malloc((p->n ? p->n : 1) * sizeof *order);
    if (!order) return rnnck__oom();
    for (size_t i = 0; i < p->n; i++) order[i] = &p->items[i];
    qsort(order, p->n, sizeof *order, by_offset);
    rnnck_status st = RNNCK_OK;
    uint64_t at = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < p->n && !st; i++) {
        const entry *e = order[i];
        if (e->begin < at)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: data_offsets [%llu, %llu] overlap tensor %.200s's",
                            p->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end, prev);
        else if (e->begin > at)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: tensor %.200s: data_offsets begin at %llu, leaving bytes %llu to %llu "
                            "unused (the format forbids gaps)", p->path, e->name, (unsigned long long)e->begin,
                            (unsigned long long)at, (unsigned long long)e->begin);
        at = e->end;
        prev = e->name;
    }
    if (!st && at != p->data_len)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: data_offsets: the tensors cover %llu of the %llu data bytes after the "
                        "header (incomplete buffer)", p->path, (unsigned long long)at,
                        (unsigned long long)p->data_len);
    free(order);
    return st;
}

/* The whole header: top-level keys unique, tensor entries valid, offsets
 * tiling the data. */
static rnnck_status read_header(parse *p, const cJSON *root) {
    if (!cJSON_IsObject(root)) return rnnck__err(RNNCK_E_FORMAT, "%s: header is not a JSON object", p->path);
    int count = cJSON_GetArraySize(root);
    p->items = malloc((size_t)(count > 0 ? count : 1) * sizeof *p->items);
    if (!p->items) return rnnck__oom();
    rnnck__strmap names;
    rnnck_status st = rnnck__strmap_init(&names, (size_t)count, false);
    for (const cJSON *e = root->child; e && !st; e = e->next) {
        bool added = false;
        if ((st = rnnck__strmap_add(&names, e->string, 0, &added))) break;
        if (!added) {
            st = rnnck__err(RNNCK_E_FORMAT, "%s: header: name %.200s appears twice", p->path, e->string);
        } else if (!strcmp(e->string, "__metadata__")) {
            st = read_metadata(p, e);
        } else if ((int64_t)p->n >= p->lim.max_tensors) {
            st = rnnck__err(RNNCK_E_NOMEM, "%s: more than %lld tensors (the limit)", p->path,
                            (long long)p->lim.max_tensors);
        } else if (!(st = read_entry(p, e, &p->items[p->n]))) {
            p->n++;
        }
    }
    rnnck__strmap_free(&names);
    return st ? st : check_tiling(p);
}

/* The header bytes: length sane, inside the file, UTF-8, one JSON value
 * with only whitespace after it. */
static rnnck_status load_header(int fd, const char *path, int64_t size, cJSON **root, uint64_t *hlen) {
    unsigned char len8[8];
    if (size < 8)
        return rnnck__err(RNNCK_E_FORMAT, "%s: %lld bytes, too short for the 8-byte header length", path,
                          (long long)size);
    rnnck_status st = read_at(fd, 0, len8, 8, path, "header length");
    if (st) return st;
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--) n = n << 8 | len8[k];
    uint64_t limit = rnnck__meta_limit((uint64_t)size);
    if (n > RNNCK__ST_MAX_HEADER)
        return rnnck__err(RNNCK_E_FORMAT, "%s: header length %llu is over the format's limit of %llu bytes", path,
                          (unsigned long long)n, (unsigned long long)RNNCK__ST_MAX_HEADER);
    if (n > (uint64_t)size - 8)
        return rnnck__err(RNNCK_E_FORMAT, "%s: header length %llu runs past the end of the %lld-byte file", path,
                          (unsigned long long)n, (long long)size);
    if (n > limit)
        return rnnck__err(RNNCK_E_FORMAT, "%s: header length %llu is over rnnck's metadata limit of %llu bytes "
                          "(docs/BUDGETS.md)", path, (unsigned long long)n, (unsigned long long)limit);
    if (n < 2) return rnnck__err(RNNCK_E_FORMAT, "%s: header length %llu is too short for JSON", path,
                                 (unsigned long long)n);
    char *text = malloc((size_t)n + 1);
    if (!text) return rnnck__oom();
    st = read_at(fd, 8, text, (size_t)n, path, "header");
    text[n] = 0;
    size_t bad = 0;
    if (!st && text[0] != '{')
        st = rnnck__err(RNNCK_E_FORMAT, "%s: header does not start with '{'", path);
    if (!st && !rnnck__st_utf8_ok((const unsigned char *)text, (size_t)n, &bad))
        st = rnnck__err(RNNCK_E_FORMAT, "%s: header is not valid UTF-8 (byte %zu)", path, bad);
    if (!st && has_nul_escape(text, (size_t)n, &bad))
        st = rnnck__err(RNNCK_E_FORMAT, "%s: header has a \\u0000 escape (byte %zu): a name or value with a NUL",
                        path, bad);
    const char *end = NULL;
    cJSON *json = st ? NULL : cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!st && !json) {
        size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        st = rnnck__err(RNNCK_E_FORMAT, "%s: header is not valid JSON (error near byte %zu, or nested deeper than %d)",
                        path, at, CJSON_NESTING_LIMIT);
    }
    for (const char *q = end; !st && q < text + n; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r')
            st = rnnck__err(RNNCK_E_FORMAT, "%s: header has bytes after its JSON object (byte %zu)", path,
                            (size_t)(q - text));
    free(text);
    if (st) {
        cJSON_Delete(json);
        return st;
    }
    *root = json;
    *hlen = n;
    return RNNCK_OK;
}

/* A state_dict of unloaded tensors (source keys = entry indices) and, for
 * rnnck's own files, the modules its metadata describes. */
static rnnck_status build(const parse *p, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, opts, p->path);
    rnnck_module_info *infos = NULL;
    size_t nmods = 0;
    bool described = p->md && cJSON_GetObjectItemCaseSensitive(p->md, RNNCK__ST_KEY_SCHEMA);
    rnnck_status st = described ? rnnck__st_meta_read(p->md, p->path, p->lim.max_tensors, &infos, &nmods) : RNNCK_OK;
    size_t *file_index = NULL; /* model position -> file's tensor, when rnnck reordered them */
    if (!st && described) st = rnnck__st_meta_read_order(p->md, p->path, p->n, &file_index);
    for (size_t i = 0; i < nmods && !st; i++) st = rnnck__sd_add_module(&sd, &infos[i]);
    for (size_t k = 0; k < p->n && !st; k++) {
        size_t i = file_index ? file_index[k] : k;
        const entry *e = &p->items[i];
        rnnck_tensor *t;
        if ((st = rnnck__tensor_new_unloaded(e->dtype, e->ndim, e->shape, &t))) break;
        t->source_key = (int64_t)i;
        st = rnnck__sd_add_tensor(&sd, e->name, t);
        rnnck_tensor_free(t);
    }
    rnnck_model *m = NULL;
    if (!st) st = rnnck__sd_build(&sd, p->path, opts, &m);
    /* rnnck's metadata lists every module: names that look like one more
     * are not the file rnnck wrote */
    if (!st && described && rnnck_model_module_count(m) != nmods) {
        const rnnck_module_info *extra = rnnck_model_module(m, nmods);
        st = rnnck__err(RNNCK_E_FORMAT, "%s: tensors of module %s, which __metadata__ does not describe", p->path,
                        *extra->name ? extra->name : "(root)");
    }
    rnnck__sd_free(&sd);
    free(infos);
    free(file_index);
    if (st) {
        rnnck_model_free(m);
        return st;
    }
    *out = m;
    return RNNCK_OK;
}

static rnnck_status read_st(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "safetensors reader: NULL argument");
    parse p = {.path = path};
    if (opts && opts->limits)
        p.lim = *opts->limits;
    else
        rnnck_limits_init(&p.lim);
    int64_t size = 0;
    rnnck_status st = rnnck__require_regular_input(path, &size);
    if (st) return st;
    st_source *src = calloc(1, sizeof *src);
    if (!src) return rnnck__oom();
    src->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (src->fd < 0) {
        st = rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
        source_free(src);
        return st;
    }
    cJSON *root = NULL;
    uint64_t hlen = 0;
    st = load_header(src->fd, path, size, &root, &hlen);
    if (!st) {
        p.data_len = (uint64_t)size - 8 - hlen;
        st = read_header(&p, root);
    }
    rnnck_model *m = NULL;
    if (!st) st = build(&p, opts, &m);
    if (!st) {
        src->label = rnnck__strdup(path);
        src->begin = malloc((p.n ? p.n : 1) * sizeof *src->begin);
        if (!src->label || !src->begin) st = rnnck__oom();
        for (size_t i = 0; i < p.n && !st; i++) src->begin[i] = p.items[i].begin;
        src->n = p.n;
        src->data_start = 8 + hlen;
    }
    free(p.items);
    cJSON_Delete(root);
    if (st) {
        rnnck_model_free(m);
        source_free(src);
        return st;
    }
    rnnck__model_set_source(m, &source_ops, src); /* the model reads from the file from now on */
    *out = m;
    return RNNCK_OK;
}

const rnnck__format rnnck__format_safetensors = {
    .name = "safetensors",
    .extensions = ",.safetensors,",
    .detect = detect_st,
    .read = read_st,
    .write = rnnck__st_write,
};
