#define _GNU_SOURCE /* copy_file_range */
/* Copies a byte range from one open file to another inside the kernel
 * (copy_file_range: no pass through user memory, and on file systems that
 * share extents no copy at all). Converting a checkpoint is mostly moving
 * tensor bytes that need no change from the input file to the output; done
 * with read() and write() the kernel spends most of the time copying pages
 * in and out of user buffers (bench/RESULTS.md, issue 13). Where the call is
 * unsupported (another file system: EXDEV; old kernels: ENOSYS; special
 * files: EINVAL) the same range goes through one bounded buffer.
 * Also the CRC-32 of a range (zip records checked before they are copied,
 * and computed for records written from another file): libdeflate's,
 * over the file mapped a window at a time, so the bytes are not copied. */
#include "core/internal.h"

#include <errno.h>
#include <libdeflate.h>
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
        for (size_t put = 0; out_fd >= 0 && put < (size_t)got && !st;) {
            ssize_t w = pwrite(out_fd, buf + put, (size_t)got - put, (off_t)(out_off + done + put));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) st = rnnck__err(RNNCK_E_WRITE, "%s: cannot write: %s", label, strerror(w < 0 ? errno : ENOSPC));
            else put += (size_t)w;
        }
        done += (uint64_t)got;
    }
    free(buf);
    return st;
}

rnnck_status rnnck__copy_range(int in_fd, uint64_t in_off, int out_fd, uint64_t out_off, uint64_t len,
                               const char *label) {
    uint64_t done = 0;
    while (done < len) {
        loff_t src = (loff_t)(in_off + done), dst = (loff_t)(out_off + done);
        size_t want = len - done > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(len - done);
        ssize_t n = copy_file_range(in_fd, &src, out_fd, &dst, want, 0);
        if (n > 0) {
            done += (uint64_t)n;
            continue;
        }
        if (n == 0) return short_source(label, done, len);
        if (errno == EINTR) continue;
        if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP || errno == EPERM ||
            errno == ETXTBSY)
            return pass_buffered(in_fd, in_off, out_fd, out_off, len, done, NULL, label);
        return rnnck__err(errno == EIO ? RNNCK_E_IO : RNNCK_E_WRITE, "%s: cannot copy: %s", label, strerror(errno));
    }
    return RNNCK_OK;
}

/* libdeflate returns 0, not crc, for a NULL buffer: an empty piece (NULL,
 * 0) must leave the CRC as it is. */
uint32_t rnnck__crc32(uint32_t crc, const void *data, size_t n) { return n ? libdeflate_crc32(crc, data, n) : crc; }

/* Mapped 8 MiB at a time (MAP_POPULATE: one call fills the page tables):
 * measured on a 940 MB checkpoint in the page cache, 0.08 s of CPU against
 * 0.16-0.31 s for pread into a buffer (bench/RESULTS.md); and the address
 * space used stays bounded (tests/test_stream.c). */
#define CRC_WINDOW ((uint64_t)8 << 20)

rnnck_status rnnck__crc32_range(int fd, uint64_t off, uint64_t len, uint32_t *crc, const char *label) {
    /* A mapping past the end of the file would fault (SIGBUS): the range
     * must lie inside the file as it is now. */
    struct stat sb;
    if (fstat(fd, &sb) != 0) return rnnck__err(RNNCK_E_IO, "%s: cannot stat: %s", label, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return pass_buffered(fd, off, -1, 0, len, 0, crc, label);
    if ((uint64_t)sb.st_size < off || (uint64_t)sb.st_size - off < len)
        return short_source(label, (uint64_t)sb.st_size > off ? (uint64_t)sb.st_size - off : 0, len);
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t done = 0;
    while (done < len) {
        uint64_t at = off + done, base = at - at % page;
        uint64_t want = len - done < CRC_WINDOW ? len - done : CRC_WINDOW;
        size_t map_len = (size_t)(at - base + want);
        void *p = mmap(NULL, map_len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)base);
        if (p == MAP_FAILED) return pass_buffered(fd, off, -1, 0, len, done, crc, label);
        *crc = rnnck__crc32(*crc, (const unsigned char *)p + (at - base), (size_t)want);
        munmap(p, map_len);
        done += want;
    }
    return RNNCK_OK;
}
