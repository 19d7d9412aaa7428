/* Zip archives: a checked reader over libzip and a writer of stored members
 * aligned the way torch.save aligns them. */
#include "common/zipfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

/* Deflate cannot expand data by more than about 1032:1 (258-byte matches coded
 * in 2 bits); a member declaring more than this is lying about its size. */
#define DEFLATE_MAX_RATIO 1040u

struct rnnck__zip {
    zip_t *za;
    char *path;
    int fd;                  /* ours, a dup of the one libzip reads: pread only */
    uint64_t *data_at;       /* per member: where its data starts */
    uint64_t file_size;
    unsigned char *verified; /* per member: CRC-32 checked by a full read */
    pthread_mutex_t lock;    /* libzip handles are not thread-safe */
};

static rnnck_status open_error(const char *path, int code) {
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    const char *why = zip_error_strerror(&ze);
    rnnck_status st = (code == ZIP_ER_OPEN || code == ZIP_ER_NOENT || code == ZIP_ER_READ || code == ZIP_ER_SEEK ||
                       code == ZIP_ER_MEMORY)
                          ? RNNCK_E_IO
                          : RNNCK_E_FORMAT;
    st = rnnck__err(st, "%s: not a readable zip archive: %s", path, why);
    zip_error_fini(&ze);
    return st;
}

rnnck_status rnnck__zip_open(const char *path, rnnck__zip **out) {
    /* One open file for libzip and for rnnck__zip_locate's copies (a dup:
     * libzip owns the one it is given), so both see the same file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int lz_fd = fstat(fd, &sb) == 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (lz_fd < 0) {
        rnnck_status st = rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    int code = 0;
    zip_t *za = zip_fdopen(lz_fd, ZIP_CHECKCONS, &code);
    if (!za) {
        close(lz_fd);
        /* name the member and field where libzip says only "inconsistent" */
        rnnck_status st = code == ZIP_ER_INCONS && rnnck__zip_check_headers_fd(fd, path, NULL, 0)
                              ? RNNCK_E_FORMAT
                              : open_error(path, code);
        close(fd);
        return st;
    }
    rnnck__zip *z = calloc(1, sizeof *z);
    char *p = rnnck__strdup(path);
    zip_int64_t count = zip_get_num_entries(za, 0);
    size_t n = count > 0 ? (size_t)count : 1;
    unsigned char *verified = calloc(n, 1);
    uint64_t *data_at = malloc(n * sizeof *data_at);
    if (!z || !p || !verified || !data_at) {
        free(z);
        free(p);
        free(verified);
        free(data_at);
        zip_discard(za);
        close(fd);
        return rnnck__oom();
    }
    for (size_t i = 0; i < n; i++) data_at[i] = UINT64_MAX;
    rnnck_status hst = rnnck__zip_check_headers_fd(fd, path, data_at, count > 0 ? (uint64_t)count : 0);
    z->za = za;
    z->path = p;
    z->fd = fd;
    z->data_at = data_at;
    z->verified = verified;
    pthread_mutex_init(&z->lock, NULL);
    z->file_size = (uint64_t)sb.st_size;
    if (hst) {
        rnnck__zip_close(z);
        return hst;
    }
    *out = z;
    return RNNCK_OK;
}

void rnnck__zip_close(rnnck__zip *z) {
    if (!z) return;
    zip_discard(z->za); /* read-only: never writes anything back */
    close(z->fd);
    pthread_mutex_destroy(&z->lock);
    free(z->verified);
    free(z->data_at);
    free(z->path);
    free(z);
}

int64_t rnnck__zip_count(const rnnck__zip *z) { return (int64_t)zip_get_num_entries(z->za, 0); }
uint64_t rnnck__zip_file_size(const rnnck__zip *z) { return z->file_size; }

const char *rnnck__zip_name(rnnck__zip *z, int64_t i) {
    if (i < 0 || i >= rnnck__zip_count(z)) return NULL;
    return zip_get_name(z->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
}

rnnck_status rnnck__zip_find(rnnck__zip *z, const char *name, int64_t *index) {
    zip_int64_t i = zip_name_locate(z->za, name, ZIP_FL_ENC_RAW);
    if (i < 0) return rnnck__err(RNNCK_E_NOTFOUND, "%s: archive has no member %.300s", z->path, name);
    *index = i;
    return RNNCK_OK;
}

rnnck_status rnnck__zip_member_size(rnnck__zip *z, int64_t i, uint64_t *size) {
    const char *name = rnnck__zip_name(z, i);
    zip_stat_t zs;
    if (!name || zip_stat_index(z->za, (zip_uint64_t)i, 0, &zs) != 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: cannot read the directory entry of member %lld", z->path, (long long)i);
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((zs.valid & need) != need)
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: directory entry lacks sizes", z->path, name);
    if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: member %.200s is encrypted", z->path, name);
    if (zs.comp_size > z->file_size)
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s declares %llu compressed bytes but the file has %llu",
                          z->path, name, (unsigned long long)zs.comp_size, (unsigned long long)z->file_size);
    if (zs.comp_method == ZIP_CM_STORE) {
        if (zs.size != zs.comp_size)
            return rnnck__err(RNNCK_E_FORMAT, "%s: stored member %.200s declares size %llu but %llu stored bytes",
                              z->path, name, (unsigned long long)zs.size, (unsigned long long)zs.comp_size);
    } else if (zs.comp_method == ZIP_CM_DEFLATE) {
        if (zs.size / DEFLATE_MAX_RATIO > zs.comp_size + 1)
            return rnnck__err(RNNCK_E_FORMAT,
                              "%s: member %.200s declares %llu bytes from %llu compressed (beyond deflate's ratio)",
                              z->path, name, (unsigned long long)zs.size, (unsigned long long)zs.comp_size);
    } else {
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: member %.200s uses compression method %u (only stored/deflate)",
                          z->path, name, (unsigned)zs.comp_method);
    }
    *size = zs.size;
    return RNNCK_OK;
}

/* Reads len bytes of open member f into dst (NULL: read and discard), after
 * discarding its first `skip` bytes. With `to_end` (skip + len is the member's
 * size) one more read must report end of data: libzip checks the CRC-32 only
 * when a member has been read to its end. */
static rnnck_status read_open_member(rnnck__zip *z, zip_file_t *f, const char *name, uint64_t size, uint64_t skip,
                                     unsigned char *dst, uint64_t len, bool to_end) {
    unsigned char scratch[16384];
    uint64_t got = 0, want = skip + len;
    while (got < want) {
        unsigned char *to = got < skip || !dst ? scratch : dst + (got - skip);
        uint64_t room = got < skip ? skip - got : want - got;
        if (to == scratch && room > sizeof scratch) room = sizeof scratch;
        zip_int64_t n = zip_fread(f, to, room);
        if (n <= 0) break;
        got += (uint64_t)n;
    }
    unsigned char extra;
    zip_int64_t tail = got == want && to_end ? zip_fread(f, &extra, 1) : 0;
    if (got == want && tail == 0) return RNNCK_OK;
    int code = zip_error_code_zip(zip_file_get_error(f));
    if (code == ZIP_ER_CRC) return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s fails its CRC-32 check", z->path, name);
    if (tail > 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s holds more data than its declared %llu bytes", z->path,
                          name, (unsigned long long)size);
    if (code != ZIP_ER_OK)
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: %s", z->path, name,
                          zip_error_strerror(zip_file_get_error(f)));
    return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s is truncated (shorter than its declared %llu bytes)", z->path,
                      name, (unsigned long long)size);
}

/* Above this offset a range of a stored member is reached by seeking rather
 * than by reading through the bytes before it. */
#define SEEK_OVER (1u << 20)

static rnnck_status crc_mismatch(rnnck__zip *z, const char *name) {
    return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s fails its CRC-32 check", z->path, name);
}

/* pread of exactly len bytes at off of the archive, or an error naming the member. */
static rnnck_status pread_all(rnnck__zip *z, const char *name, uint64_t off, unsigned char *dst, uint64_t len) {
    for (uint64_t done = 0; done < len;) {
        size_t want = len - done > ((uint64_t)1 << 30) ? (size_t)1 << 30 : (size_t)(len - done);
        ssize_t got = pread(z->fd, dst + done, want, (off_t)(off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return rnnck__err(RNNCK_E_IO, "%s: member %.200s: cannot read: %s", z->path, name, strerror(errno));
        if (got == 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s is truncated (the file ended while being read)",
                              z->path, name);
        done += (uint64_t)got;
    }
    return RNNCK_OK;
}

/* A stored member whose data offset is known (zip_headers.c walked its local
 * header) is read with pread and its CRC-32 checked by ISA-L against the
 * central directory's (which zip_headers.c found equal to the local header's
 * and the data descriptor's): libzip would read it in small pieces and check
 * it with zlib's crc32, several times slower (bench/RESULTS.md). A whole
 * member is checked over the bytes read into dst; a part of one, or a check
 * alone (dst NULL), first checks the whole member over the file, once. */
static rnnck_status read_stored_range(rnnck__zip *z, int64_t i, const zip_stat_t *zs, uint64_t offset,
                                      unsigned char *dst, uint64_t len) {
    const char *name = rnnck__zip_name(z, i);
    uint64_t at = z->data_at[i], size = zs->size;
    if (dst && offset == 0 && len == size) {
        rnnck_status st = pread_all(z, name, at, dst, len);
        if (st) return st;
        if (rnnck__crc32(0, dst, (size_t)len) != zs->crc) return crc_mismatch(z, name);
        z->verified[i] = 1;
        return RNNCK_OK;
    }
    if (!z->verified[i]) {
        uint32_t crc = 0;
        rnnck_status st = rnnck__crc32_range(z->fd, at, size, &crc, z->path);
        if (st) return st;
        if (crc != zs->crc) return crc_mismatch(z, name);
        z->verified[i] = 1;
    }
    return dst ? pread_all(z, name, at + offset, dst, len) : RNNCK_OK;
}

/* Reads [offset, offset + len) of member i (size `size`, checked) into dst
 * (NULL: verify only). */
static rnnck_status read_member_range(rnnck__zip *z, int64_t i, uint64_t size, uint64_t offset, unsigned char *dst,
                                      uint64_t len) {
    const char *name = rnnck__zip_name(z, i);
    zip_stat_t zs;
    if (zip_stat_index(z->za, (zip_uint64_t)i, 0, &zs) != 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: cannot read the directory entry of member %.200s", z->path, name);
    if (zs.comp_method == ZIP_CM_STORE && (zs.valid & ZIP_STAT_CRC) && zs.size == size &&
        z->data_at[i] <= z->file_size && size <= z->file_size - z->data_at[i])
        return read_stored_range(z, i, &zs, offset, dst, len);
    bool seek = zs.comp_method == ZIP_CM_STORE && offset > SEEK_OVER;
    bool to_end = !seek && offset + len == size;
    /* A range that does not run from the start to the end escapes libzip's
     * CRC-32 check: the whole member is checked once, streamed, first. */
    if (!to_end && !z->verified[i]) {
        rnnck_status st = read_member_range(z, i, size, 0, NULL, size);
        if (st) return st;
    }
    zip_file_t *f = zip_fopen_index(z->za, (zip_uint64_t)i, 0);
    if (!f) return rnnck__err(RNNCK_E_FORMAT, "%s: cannot open member %.200s: %s", z->path, name, zip_strerror(z->za));
    rnnck_status st = RNNCK_OK;
    if (seek && zip_fseek(f, (zip_int64_t)offset, SEEK_SET) != 0)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: cannot seek to byte %llu", z->path, name,
                        (unsigned long long)offset);
    if (!st) st = read_open_member(z, f, name, size, seek ? 0 : offset, dst, len, to_end);
    if (zip_fclose(f) != 0 && !st) st = crc_mismatch(z, name);
    if (!st && to_end) z->verified[i] = 1;
    return st;
}

rnnck_status rnnck__zip_read(rnnck__zip *z, int64_t i, uint64_t max_bytes, unsigned char **data, size_t *len) {
    uint64_t size = 0;
    rnnck_status st = rnnck__zip_member_size(z, i, &size);
    if (st) return st;
    const char *name = rnnck__zip_name(z, i);
    if (size > max_bytes || size >= SIZE_MAX)
        return rnnck__err(RNNCK_E_NOMEM, "%s: member %.200s of %llu bytes is over the limit of %llu", z->path, name,
                          (unsigned long long)size, (unsigned long long)max_bytes);
    unsigned char *buf = malloc((size_t)size + 1);
    if (!buf)
        return rnnck__err(RNNCK_E_NOMEM, "%s: cannot allocate %llu bytes for member %.200s", z->path,
                          (unsigned long long)size, name);
    pthread_mutex_lock(&z->lock);
    st = read_member_range(z, i, size, 0, buf, size);
    pthread_mutex_unlock(&z->lock);
    if (st) {
        free(buf);
        return st;
    }
    buf[size] = 0;
    *data = buf;
    *len = (size_t)size;
    return RNNCK_OK;
}

/* The size of member i, checked to hold bytes [offset, offset + len). */
static rnnck_status member_range(rnnck__zip *z, int64_t i, uint64_t offset, size_t len, uint64_t *size) {
    rnnck_status st = rnnck__zip_member_size(z, i, size);
    if (st) return st;
    const char *name = rnnck__zip_name(z, i);
    if (offset > *size || len > *size - offset)
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s has %llu bytes, not the %zu wanted from byte %llu",
                          z->path, name ? name : "?", (unsigned long long)*size, len, (unsigned long long)offset);
    return RNNCK_OK;
}

rnnck_status rnnck__zip_read_range(rnnck__zip *z, int64_t i, uint64_t offset, void *dst, size_t len) {
    uint64_t size = 0;
    rnnck_status st = member_range(z, i, offset, len, &size);
    if (st) return st;
    pthread_mutex_lock(&z->lock);
    st = read_member_range(z, i, size, offset, dst, len);
    pthread_mutex_unlock(&z->lock);
    return st;
}

rnnck_status rnnck__zip_read_head(rnnck__zip *z, int64_t i, void *dst, size_t len, size_t *got) {
    uint64_t size = 0;
    rnnck_status st = rnnck__zip_member_size(z, i, &size);
    if (st) return st;
    if (len > size) len = (size_t)size;
    const char *name = rnnck__zip_name(z, i);
    pthread_mutex_lock(&z->lock);
    zip_file_t *f = zip_fopen_index(z->za, (zip_uint64_t)i, 0);
    if (!f)
        st = rnnck__err(RNNCK_E_FORMAT, "%s: cannot open member %.200s: %s", z->path, name, zip_strerror(z->za));
    else
        st = read_open_member(z, f, name, size, 0, dst, len, false);
    if (f) zip_fclose(f);
    pthread_mutex_unlock(&z->lock);
    if (!st) *got = len;
    return st;
}

bool rnnck__zip_is_stored(rnnck__zip *z, int64_t i) {
    zip_stat_t zs;
    return i >= 0 && i < rnnck__zip_count(z) && zip_stat_index(z->za, (zip_uint64_t)i, 0, &zs) == 0 &&
           (zs.valid & ZIP_STAT_COMP_METHOD) && zs.comp_method == ZIP_CM_STORE;
}

rnnck_status rnnck__zip_locate(rnnck__zip *z, int64_t i, uint64_t offset, size_t len, int *fd, uint64_t *file_offset,
                               bool *check_due) {
    uint64_t size = 0;
    rnnck_status st = member_range(z, i, offset, len, &size);
    if (st) return st;
    if (!rnnck__zip_is_stored(z, i) || z->data_at[i] == UINT64_MAX)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: member %.200s is not stored in place", z->path,
                          rnnck__zip_name(z, i));
    /* libzip checked the stored size against the file; the start must be
     * inside it too. */
    if (z->data_at[i] > z->file_size || size > z->file_size - z->data_at[i])
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: data runs past the end of the file", z->path,
                          rnnck__zip_name(z, i));
    pthread_mutex_lock(&z->lock);
    bool defer = check_due && offset == 0 && len == size && !z->verified[i];
    if (!z->verified[i] && !defer) st = read_member_range(z, i, size, 0, NULL, size);
    pthread_mutex_unlock(&z->lock);
    if (st) return st;
    if (check_due) *check_due = defer;
    *fd = z->fd;
    *file_offset = z->data_at[i] + offset;
    return RNNCK_OK;
}

rnnck_status rnnck__zip_check_crc(rnnck__zip *z, int64_t i, uint32_t crc) {
    zip_stat_t zs;
    if (i < 0 || i >= rnnck__zip_count(z) || zip_stat_index(z->za, (zip_uint64_t)i, 0, &zs) != 0 ||
        !(zs.valid & ZIP_STAT_CRC))
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %lld has no CRC-32 to check", z->path, (long long)i);
    if (zs.crc != crc) return crc_mismatch(z, rnnck__zip_name(z, i));
    pthread_mutex_lock(&z->lock);
    z->verified[i] = 1;
    pthread_mutex_unlock(&z->lock);
    return RNNCK_OK;
}

/* ------------------------------------------------------------------ writer */

typedef struct zipw_entry {
    char *name;
    uint32_t crc;
    uint64_t size, offset;
} zipw_entry;

struct rnnck__zipw {
    FILE *fp;
    char *label;
    uint64_t pos;
    zipw_entry *entries;
    size_t n, cap;
};

static void put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static rnnck_status zw_write(rnnck__zipw *w, const void *data, size_t len) {
    if (len && fwrite(data, 1, len, w->fp) != len)
        return rnnck__err(RNNCK_E_WRITE, "%s: write failed: %s", w->label, strerror(errno));
    w->pos += len;
    return RNNCK_OK;
}

rnnck_status rnnck__zipw_begin(FILE *fp, const char *label, rnnck__zipw **out) {
    rnnck__zipw *w = calloc(1, sizeof *w);
    if (!w || !(w->label = rnnck__strdup(label))) {
        free(w);
        return rnnck__oom();
    }
    w->fp = fp;
    *out = w;
    return RNNCK_OK;
}

void rnnck__zipw_free(rnnck__zipw *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->entries[i].name);
    free(w->entries);
    free(w->label);
    free(w);
}

/* Like torch.save, every record is written in ZIP64 form (sizes and offsets
 * in zip64 extra fields), so there is no 4 GiB limit and one code path. */
#define ZIP64_VERSION 45
#define ZIP64_MARK32 0xFFFFFFFFu

#define PAGE 4096u

/* Records member `name` (size bytes, CRC-32 crc) and writes its local
 * header; its data comes next, starting on a 64-byte boundary, and where
 * page_at is below PAGE (a multiple of 64) at page_at bytes into a page. */
static rnnck_status zw_header(rnnck__zipw *w, const char *name, uint32_t crc, uint64_t size, unsigned page_at) {
    size_t name_len = strlen(name);
    if (name_len > 0xFFFF) return rnnck__err(RNNCK_E_USAGE, "%s: member name too long", w->label);
    /* local header (30) + name + zip64 extra (20) + "FB" extra (4 + pad):
     * the data starts on a 64-byte boundary */
    uint64_t data_at = w->pos + 30 + name_len + 20 + 4;
    size_t pad = page_at < PAGE ? (size_t)((PAGE + page_at - data_at % PAGE) % PAGE)
                                : (size_t)((64 - data_at % 64) % 64);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        zipw_entry *p = realloc(w->entries, cap * sizeof *p);
        if (!p) return rnnck__oom();
        w->entries = p;
        w->cap = cap;
    }
    zipw_entry *e = &w->entries[w->n];
    e->name = rnnck__strdup(name);
    if (!e->name) return rnnck__oom();
    e->crc = crc;
    e->size = size;
    e->offset = w->pos;
    w->n++;
    unsigned char h[30];
    put32(h, 0x04034b50);
    put16(h + 4, ZIP64_VERSION);
    put16(h + 6, 0);     /* flags */
    put16(h + 8, 0);     /* stored */
    put16(h + 10, 0);    /* time */
    put16(h + 12, 0x21); /* date 1980-01-01 */
    put32(h + 14, e->crc);
    put32(h + 18, ZIP64_MARK32);
    put32(h + 22, ZIP64_MARK32);
    put16(h + 26, (unsigned)name_len);
    put16(h + 28, (unsigned)(20 + 4 + pad));
    unsigned char extra[20 + 4 + PAGE];
    put16(extra, 0x0001); /* zip64: uncompressed, compressed size */
    put16(extra + 2, 16);
    put64(extra + 4, e->size);
    put64(extra + 12, e->size);
    put16(extra + 20, 0x4246); /* "FB": torch's padding field */
    put16(extra + 22, (unsigned)pad);
    memset(extra + 24, 'Z', pad);
    rnnck_status st = zw_write(w, h, sizeof h);
    if (!st) st = zw_write(w, name, name_len);
    if (!st) st = zw_write(w, extra, 24 + pad);
    return st;
}

rnnck_status rnnck__zipw_add2(rnnck__zipw *w, const char *name, const void *head, size_t head_len, const void *data,
                             size_t len) {
    uint32_t crc = rnnck__crc32(rnnck__crc32(0, head, head_len), data, len);
    rnnck_status st = zw_header(w, name, crc, (uint64_t)head_len + len, PAGE);
    if (!st) st = zw_write(w, head, head_len);
    if (!st) st = zw_write(w, data, len);
    return st;
}

rnnck_status rnnck__zipw_add_copy(rnnck__zipw *w, const char *name, const void *head, size_t head_len, uint64_t len,
                                  uint64_t src_off, rnnck__zipw_copier copy, void *arg) {
    struct stat sb;
    int out_fd = fileno(w->fp);
    if (out_fd < 0 || fstat(out_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return RNNCK_E_UNSUPPORTED; /* a stream */
    /* A large record from a 64-byte aligned source is padded to sit at the
     * same place in a page (an rnnck .h5 puts such datasets on page
     * boundaries: h5_write.c), where a kernel copy between the files costs
     * least (docs/DESIGN-NOTES.md); torch.save's 64-byte alignment holds. */
    unsigned page_at = head_len == 0 && len >= ((uint64_t)1 << 20) && src_off % 64 == 0 ? (unsigned)(src_off % PAGE) : PAGE;
    uint64_t header_at = w->pos;
    /* The CRC-32 is computed as the body is copied, in one pass over it, and
     * put in the local header (and the central directory) afterwards. */
    rnnck_status st = zw_header(w, name, 0, (uint64_t)head_len + len, page_at);
    if (!st) st = zw_write(w, head, head_len);
    if (!st && fflush(w->fp) != 0)
        st = rnnck__err(RNNCK_E_WRITE, "%s: write failed: %s", w->label, strerror(errno));
    uint32_t body_crc = 0;
    if (!st) st = copy(arg, out_fd, w->pos, &body_crc);
    if (st) return st;
    uint32_t crc = (uint32_t)crc32_combine(rnnck__crc32(0, head, head_len), body_crc, (z_off_t)len);
    unsigned char field[4];
    put32(field, crc);
    if (pwrite(out_fd, field, 4, (off_t)(header_at + 14)) != 4)
        return rnnck__err(RNNCK_E_WRITE, "%s: cannot write: %s", w->label, strerror(errno));
    w->entries[w->n - 1].crc = crc;
    if (fseeko(w->fp, (off_t)(w->pos + len), SEEK_SET) != 0)
        return rnnck__err(RNNCK_E_WRITE, "%s: seek failed: %s", w->label, strerror(errno));
    w->pos += len;
    return RNNCK_OK;
}

rnnck_status rnnck__zipw_add(rnnck__zipw *w, const char *name, const void *data, size_t len) {
    return rnnck__zipw_add2(w, name, NULL, 0, data, len);
}

rnnck_status rnnck__zipw_finish(rnnck__zipw *w) {
    uint64_t cd_start = w->pos;
    for (size_t i = 0; i < w->n; i++) {
        const zipw_entry *e = &w->entries[i];
        size_t name_len = strlen(e->name);
        unsigned char h[46 + 28];
        put32(h, 0x02014b50);
        put16(h + 4, 0x0300 | ZIP64_VERSION); /* made by: unix */
        put16(h + 6, ZIP64_VERSION);
        put16(h + 8, 0);
        put16(h + 10, 0);
        put16(h + 12, 0);
        put16(h + 14, 0x21);
        put32(h + 16, e->crc);
        put32(h + 20, ZIP64_MARK32);
        put32(h + 24, ZIP64_MARK32);
        put16(h + 28, (unsigned)name_len);
        put16(h + 30, 28); /* extra length */
        put16(h + 32, 0);
        put16(h + 34, 0);
        put16(h + 36, 0);
        put32(h + 38, 0644u << 16); /* external attributes: a regular file */
        put32(h + 42, ZIP64_MARK32);
        unsigned char *x = h + 46; /* zip64 extra: size, compressed size, offset */
        put16(x, 0x0001);
        put16(x + 2, 24);
        put64(x + 4, e->size);
        put64(x + 12, e->size);
        put64(x + 20, e->offset);
        rnnck_status st = zw_write(w, h, 46);
        if (!st) st = zw_write(w, e->name, name_len);
        if (!st) st = zw_write(w, x, 28);
        if (st) return st;
    }
    uint64_t cd_size = w->pos - cd_start, z64_at = w->pos;
    unsigned char end[56 + 20 + 22];
    unsigned char *z = end; /* zip64 end of central directory record */
    put32(z, 0x06064b50);
    put64(z + 4, 44);
    put16(z + 12, 0x0300 | ZIP64_VERSION);
    put16(z + 14, ZIP64_VERSION);
    put32(z + 16, 0);
    put32(z + 20, 0);
    put64(z + 24, w->n);
    put64(z + 32, w->n);
    put64(z + 40, cd_size);
    put64(z + 48, cd_start);
    unsigned char *l = end + 56; /* its locator */
    put32(l, 0x07064b50);
    put32(l + 4, 0);
    put64(l + 8, z64_at);
    put32(l + 16, 1);
    unsigned char *e = end + 76; /* classic end record pointing at zip64 */
    put32(e, 0x06054b50);
    put16(e + 4, 0);
    put16(e + 6, 0);
    put16(e + 8, 0xFFFF);
    put16(e + 10, 0xFFFF);
    put32(e + 12, ZIP64_MARK32);
    put32(e + 16, ZIP64_MARK32);
    put16(e + 20, 0);
    return zw_write(w, end, sizeof end);
}
