#define _GNU_SOURCE /* MAP_POPULATE */
/* Copies a byte range from one open file to another, and the CRC-32 of a
 * range. Converting a checkpoint is mostly moving tensor bytes that need no
 * change from the input file to the output, and zip records carry a CRC-32
 * that must be checked (reading) or computed (writing) over the same bytes.
 * The range is mapped a window at a time and each piece is checksummed and
 * written while it is in the cache: one pass over the bytes, one copy (the
 * kernel's, from the mapping into the output's page cache). A file that
 * cannot be mapped (not a regular file, or mmap fails) goes through one
 * bounded buffer. Why not copy_file_range, and why not the CRC-32 on a second
 * thread: measured in bench/RESULTS.md and docs/DESIGN-NOTES.md (issue 13). */
#include "core/internal.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FALLBACK_BUFFER ((size_t)1 << 20)

static rnnck_status short_source(const char *label, uint64_t done, uint64_t len) {
    return rnnck__err(RNNCK_E_FORMAT, "%s: input ended after %llu of %llu bytes (changed while being read?)", label,
                      (unsigned long long)done, (unsigned long long)len);
}

static rnnck_status write_all(int out_fd, const unsigned char *p, size_t n, uint64_t at, const char *label) {
    for (size_t put = 0; put < n;) {
        ssize_t w = pwrite(out_fd, p + put, n - put, (off_t)(at + put));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return rnnck__err(RNNCK_E_WRITE, "%s: cannot write: %s", label, strerror(w < 0 ? errno : ENOSPC));
        put += (size_t)w;
    }
    return RNNCK_OK;
}

/* Reads [in_off + done, in_off + len) of in_fd through one bounded buffer,
 * writing it at the same place after out_off of out_fd (out_fd >= 0) and
 * continuing *crc over it (crc not NULL). */
static rnnck_status pass_buffered(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
                                  uint64_t done, uint32_t *crc, const char *label) {
    size_t cap = len - done < FALLBACK_BUFFER ? (size_t)(len - done) : FALLBACK_BUFFER;
    unsigned char *buf = malloc(cap ? cap : 1);
    if (!buf) return rnnck__oom();
    rnnck_status st = RNNCK_OK;
    while (done < len && !st) {
        size_t want = len - done < cap ? (size_t)(len - done) : cap;
        ssize_t got = pread(in_fd, buf, want, (off_t)(in_off + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            st = got < 0 ? rnnck__err(RNNCK_E_IO, "%s: cannot read: %s", label, strerror(errno))
                         : short_source(label, done, len);
            break;
        }
        if (crc) *crc = rnnck__crc32(*crc, buf, (size_t)got);
        if (out_fd >= 0) st = write_all(out_fd, buf, (size_t)got, out_off + done, label);
        done += (uint64_t)got;
    }
    free(buf);
    return st;
}

/* Mapped 8 MiB at a time (MAP_POPULATE: one call fills the page tables):
 * measured on a 940 MB checkpoint in the page cache, 0.08 s of CPU against
 * 0.16-0.31 s for pread into a buffer (bench/RESULTS.md); and the address
 * space used stays bounded (tests/test_stream.c). */
#define MAP_WINDOW ((uint64_t)8 << 20)
/* Each window is checked and written a piece at a time, so the bytes the
 * CRC-32 has just read are still in the cache when write() reads them. */
#define FUSED_PIECE ((size_t)1 << 20)

/* A mapping past the end of the file would fault (SIGBUS): [off, off + len)
 * must lie inside the file as it is now. *ok false: not a regular file, so
 * not mapped but read. */
static rnnck_status mappable(int fd, uint64_t off, uint64_t len, bool *ok, const char *label) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return rnnck__err(RNNCK_E_IO, "%s: cannot stat: %s", label, strerror(errno));
    *ok = S_ISREG(sb.st_mode);
    if (*ok && ((uint64_t)sb.st_size < off || (uint64_t)sb.st_size - off < len))
        return short_source(label, (uint64_t)sb.st_size > off ? (uint64_t)sb.st_size - off : 0, len);
    return RNNCK_OK;
}

/* Runs over [in_off, in_off + len) of in_fd mapped a window at a time,
 * continuing *crc (not NULL) over it and writing it to out_off of out_fd
 * (>= 0). The CRC-32 and the copy make one pass over the bytes: measured on
 * a 940 MB .pt in the page cache, 0.25-0.33 s for both, where
 * copy_file_range alone took 0.41-0.56 s from a source 64 bytes into a page
 * and 0.26-0.32 s from a page-aligned one, before the CRC-32's own pass. */
static rnnck_status pass_mapped(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
                                uint32_t *crc, const char *label) {
    bool ok;
    rnnck_status st = mappable(in_fd, in_off, len, &ok, label);
    if (st) return st;
    if (!ok) return pass_buffered(in_fd, in_off, out_fd, out_off, len, 0, crc, label);
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t done = 0;
    while (done < len && !st) {
        uint64_t at = in_off + done, base = at - at % page;
        uint64_t want = len - done < MAP_WINDOW ? len - done : MAP_WINDOW;
        size_t map_len = (size_t)(at - base + want);
        void *p = mmap(NULL, map_len, PROT_READ, MAP_SHARED | MAP_POPULATE, in_fd, (off_t)base);
        if (p == MAP_FAILED) return pass_buffered(in_fd, in_off, out_fd, out_off, len, done, crc, label);
        const unsigned char *q = (const unsigned char *)p + (at - base);
        for (size_t k = 0; k < want && !st; k += FUSED_PIECE) {
            size_t piece = want - k < FUSED_PIECE ? (size_t)(want - k) : FUSED_PIECE;
            if (crc) *crc = rnnck__crc32(*crc, q + k, piece);
            if (out_fd >= 0) st = write_all(out_fd, q + k, piece, out_off + done + k, label);
        }
        munmap(p, map_len);
        done += want;
    }
    return st;
}

rnnck_status rnnck__copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
                               uint32_t *crc, const char *label) {
    return pass_mapped(in_fd, in_off, out_fd, out_off, len, crc, label);
}

/* ISA-L's crc32_gzip_refl is zlib's crc32 (same start, same extension), at
 * 40-48 GB per CPU second here against libdeflate's 12-13 (docs/DESIGN-NOTES.md).
 * An empty piece (even NULL, 0) leaves the CRC as it is. */
uint32_t rnnck__crc32(uint32_t crc, const void *data, size_t n) {
    return n ? crc32_gzip_refl(crc, (const unsigned char *)data, (uint64_t)n) : crc;
}

rnnck_status rnnck__crc32_range(int fd, uint64_t off, uint64_t len, uint32_t *crc, const char *label) {
    return pass_mapped(fd, off, -1, 0, len, crc, label);
}
