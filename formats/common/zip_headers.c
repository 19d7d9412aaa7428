/* The sizes a zip archive states twice, compared: each member's local header
 * (or, when its flag bit 3 is set, the data descriptor after its data)
 * against the central directory, which is what libzip reads by.
 *
 * libzip's ZIP_CHECKCONS compares local headers with the directory, but
 * refuses with one word ("inconsistent") naming neither member nor field,
 * and skips the sizes of members written with data descriptors, as
 * torch.save writes every record: a descriptor may then claim any size. A
 * reader that trusts the descriptor (a streaming unzip) would then see other
 * data than rnnck. This walks the directory once, reading each local header
 * and descriptor (a few dozen bytes each), and names the first field that
 * disagrees. Work and memory: linear in the member count, O(1) per member. */
#include "common/zipfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static bool read_at(int fd, uint64_t size, uint64_t off, void *buf, size_t len) {
    if (off > size || len > size - off) return false;
    return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

typedef struct entry {
    uint64_t crc, csize, usize, offset;
} entry;

/* Finds id 0x0001 (zip64) in an extra block and fills the fields that were
 * 0xFFFFFFFF in the fixed header, in the order the format gives them. */
static void zip64_fields(const unsigned char *extra, size_t len, uint64_t *fields[], int nfields) {
    for (size_t p = 0; p + 4 <= len;) {
        unsigned id = (unsigned)le(extra + p, 2), sz = (unsigned)le(extra + p + 2, 2);
        if (p + 4 + sz > len) return;
        if (id == 1) {
            size_t q = p + 4;
            for (int i = 0; i < nfields; i++)
                if (*fields[i] == 0xFFFFFFFFu && q + 8 <= p + 4 + sz) {
                    *fields[i] = le(extra + q, 8);
                    q += 8;
                }
            return;
        }
        p += 4 + sz;
    }
}

static rnnck_status disagree(const char *path, const char *name, const char *where, const char *field,
                             uint64_t have, uint64_t want) {
    return rnnck__err(RNNCK_E_FORMAT,
                      "%s: member %.200s: the %s says %s %llu but the central directory says %llu", path, name, where,
                      field, (unsigned long long)have, (unsigned long long)want);
}

/* Compares member `e` (named `name`) with its local header and descriptor;
 * *data_at is where its data starts. */
static rnnck_status check_member(int fd, uint64_t size, const char *path, const char *name, const entry *e,
                                 uint64_t *data_at) {
    unsigned char h[30], small[1024];
    if (!read_at(fd, size, e->offset, h, sizeof h) || le(h, 4) != 0x04034b50)
        return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: no local header at offset %llu", path, name,
                          (unsigned long long)e->offset);
    unsigned flags = (unsigned)le(h + 6, 2);
    uint64_t crc = le(h + 14, 4), csize = le(h + 18, 4), usize = le(h + 22, 4);
    size_t nlen = (size_t)le(h + 26, 2), xlen = (size_t)le(h + 28, 2);
    bool zip64 = false;
    /* up to 64 KiB (a 16-bit length): rnnck pads a large record's data to
     * its source's place in a page there, up to 4 KiB (zipfile.c) */
    unsigned char *extra = xlen <= sizeof small ? small : malloc(xlen);
    if (!extra) return rnnck__oom();
    if (read_at(fd, size, e->offset + 30 + nlen, extra, xlen)) {
        for (size_t p = 0; p + 4 <= xlen; p += 4 + (size_t)le(extra + p + 2, 2))
            if (le(extra + p, 2) == 1) zip64 = true;
        uint64_t *fields[] = {&usize, &csize};
        zip64_fields(extra, xlen, fields, 2);
    }
    if (extra != small) free(extra);
    uint64_t data = e->offset + 30 + nlen + xlen;
    *data_at = data;
    if (flags & 8) {
        /* sizes then follow the data; the header's own are zero, or agree */
        if (csize && csize != 0xFFFFFFFFu && csize != e->csize)
            return disagree(path, name, "local header", "compressed size", csize, e->csize);
        if (usize && usize != 0xFFFFFFFFu && usize != e->usize)
            return disagree(path, name, "local header", "uncompressed size", usize, e->usize);
        /* data descriptor: [signature] crc, compressed, uncompressed (8-byte sizes with zip64) */
        unsigned char d[24];
        size_t dlen = zip64 ? 20 : 12;
        if (data > size || e->csize > size - data || !read_at(fd, size, data + e->csize, d, 4))
            return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: data descriptor lies beyond the end of the file",
                              path, name);
        uint64_t at = data + e->csize + (le(d, 4) == 0x08074b50 ? 4 : 0);
        if (!read_at(fd, size, at, d, dlen))
            return rnnck__err(RNNCK_E_FORMAT, "%s: member %.200s: data descriptor lies beyond the end of the file",
                              path, name);
        crc = le(d, 4);
        csize = le(d + 4, zip64 ? 8 : 4);
        usize = le(d + (zip64 ? 12 : 8), zip64 ? 8 : 4);
        if (crc != e->crc) return disagree(path, name, "data descriptor", "CRC-32", crc, e->crc);
        if (csize != e->csize) return disagree(path, name, "data descriptor", "compressed size", csize, e->csize);
        if (usize != e->usize) return disagree(path, name, "data descriptor", "uncompressed size", usize, e->usize);
        return RNNCK_OK;
    }
    if (crc != e->crc) return disagree(path, name, "local header", "CRC-32", crc, e->crc);
    if (csize != e->csize) return disagree(path, name, "local header", "compressed size", csize, e->csize);
    if (usize != e->usize) return disagree(path, name, "local header", "uncompressed size", usize, e->usize);
    return RNNCK_OK;
}

rnnck_status rnnck__zip_check_headers(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    rnnck_status st = rnnck__zip_check_headers_fd(fd, path, NULL, 0);
    close(fd);
    return st;
}

rnnck_status rnnck__zip_check_headers_fd(int fd, const char *path, uint64_t *data_at, uint64_t n) {
    struct stat sb;
    uint64_t size = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    rnnck_status st = RNNCK_OK;
    /* end of central directory record: the last "PK\5\6" whose comment ends the file */
    enum { TAIL = 65557 }; /* end record (22) + the longest comment */
    unsigned char *tail = malloc(TAIL);
    if (!tail) return rnnck__oom();
    size_t tlen = size < TAIL ? (size_t)size : TAIL;
    uint64_t eocd = UINT64_MAX;
    if (read_at(fd, size, size - tlen, tail, tlen))
        for (size_t p = tlen >= 22 ? tlen - 22 + 1 : 0; p-- > 0;)
            if (le(tail + p, 4) == 0x06054b50 && p + 22 + le(tail + p + 20, 2) == tlen) {
                eocd = size - tlen + p;
                break;
            }
    uint64_t count = 0, cd = 0;
    if (eocd != UINT64_MAX) { /* else libzip judges what is not a zip archive */
        const unsigned char *e = tail + (eocd - (size - tlen));
        count = le(e + 10, 2);
        cd = le(e + 16, 4);
    }
    free(tail);
    unsigned char z[56];
    if (eocd != UINT64_MAX && (count == 0xFFFF || cd == 0xFFFFFFFFu) && eocd >= 20 && read_at(fd, size, eocd - 20, z, 20) &&
        le(z, 4) == 0x07064b50) {
        uint64_t rec = le(z + 8, 8);
        if (read_at(fd, size, rec, z, 56) && le(z, 4) == 0x06064b50) {
            count = le(z + 32, 8);
            cd = le(z + 48, 8);
        }
    }
    if (count > size / 46) count = 0; /* not this many entries: libzip judges */
    uint64_t p = cd;
    for (uint64_t i = 0; i < count && !st; i++) {
        unsigned char c[46], var[1024 + 256];
        if (!read_at(fd, size, p, c, sizeof c) || le(c, 4) != 0x02014b50) break; /* libzip judges */
        entry en = {le(c + 16, 4), le(c + 20, 4), le(c + 24, 4), le(c + 42, 4)};
        size_t nlen = (size_t)le(c + 28, 2), xlen = (size_t)le(c + 30, 2), klen = (size_t)le(c + 32, 2);
        char name[256];
        size_t shown = nlen < sizeof name - 1 ? nlen : sizeof name - 1;
        if (!read_at(fd, size, p + 46, name, shown)) break;
        name[shown] = '\0';
        if (xlen <= sizeof var && read_at(fd, size, p + 46 + nlen, var, xlen)) {
            uint64_t *fields[] = {&en.usize, &en.csize, &en.offset};
            zip64_fields(var, xlen, fields, 3);
        }
        uint64_t data = UINT64_MAX;
        st = check_member(fd, size, path, name, &en, &data);
        if (!st && data_at && i < n) data_at[i] = data;
        p += 46 + nlen + xlen + klen;
    }
    return st;
}
