/* Shared by the reply fuzz targets (fuzz_rnnck_h5_reply.c, fuzz_keras_reply.c):
 * the caller side of the isolated HDF5 reader, fed with what a helper would
 * send, with no helper process and no libhdf5 reading anything.
 *
 * The input:
 *   u32 n, n bytes   the job's reply stream (magic, 'L' records, the 'S'
 *                    record), as the walk / tree / probe / check job sends it
 *   u32 g, g bytes   a read session's greeting (the magic)
 *   entries          u32 k, k bytes of a dataset path, u32 r, r bytes: the
 *                    session's reply ('S' record, then 'D' when OK) to a
 *                    request for that path
 *   u32 f, f bytes   the file itself (contiguous data is pread from it)
 * A missing part is empty. Every job reads the same job reply; every
 * session sends the greeting, then answers each request with the first
 * entry naming the requested path (nothing, and the end of the stream, if
 * none does). The library's hook (rnnck__h5_spawn_hook) hands these to the
 * code that would otherwise read a helper's pipe or socket.
 *
 * This is harness code: it aborts on OS failures. */
#ifndef RNNCK_H5_REPLY_HARNESS_H
#define RNNCK_H5_REPLY_HARNESS_H

#define _GNU_SOURCE /* memfd_create */
#include "fuzz_common.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct hr_bytes {
    const uint8_t *p;
    size_t n;
} hr_bytes;

static hr_bytes hr_job, hr_greeting, hr_entries, hr_file;

#define HR_MAX_SESSIONS 64
static pthread_t hr_threads[HR_MAX_SESSIONS];
static int hr_nthreads;

/* The next length-prefixed part of *in (empty when *in runs out). */
static hr_bytes hr_take(hr_bytes *in) {
    hr_bytes out = {in->p, 0};
    if (in->n < 4) {
        in->p += in->n;
        in->n = 0;
        return out;
    }
    uint32_t len;
    memcpy(&len, in->p, 4);
    in->p += 4;
    in->n -= 4;
    out.p = in->p;
    out.n = len < in->n ? len : in->n;
    in->p += out.n;
    in->n -= out.n;
    return out;
}

static void hr_split(const uint8_t *data, size_t size) {
    hr_bytes in = {data, size};
    hr_job = hr_take(&in);
    hr_greeting = hr_take(&in);
    /* entries run up to the last part, the file: scan them to find it */
    hr_bytes scan = in, last = in;
    while (scan.n) {
        last = scan;
        hr_take(&scan);
        if (!scan.n) break; /* a path with no reply: that was the file */
        hr_take(&scan);
    }
    hr_entries.p = in.p;
    hr_entries.n = (size_t)(last.p - in.p);
    hr_bytes f = last;
    hr_file = hr_take(&f);
}

static bool hr_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool hr_read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) return false;
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* How many bytes of pending (the bytes sent and not yet read) the session
 * reads for one request, at most: the 'S' record, then the 'D' record of
 * nbytes when the status is OK (h5_isolate.c, rnnck__h5_session_read). An
 * overestimate only ends the stream early; an underestimate could leave the
 * session waiting for bytes that never come. */
static size_t hr_reply_need(const uint8_t *p, size_t n, uint64_t nbytes) {
    size_t need = 13;
    if (n < need) return need;
    int32_t st;
    uint64_t len;
    memcpy(&st, p + 1, 4);
    memcpy(&len, p + 5, 8);
    if (p[0] != 'S' || len > ((uint64_t)64 << 10)) return need;
    need += (size_t)len;
    if (st != 0) return need;
    need += 13;
    if (n < need) return need;
    memcpy(&len, p + need - 8, 8);
    return p[need - 13] == 'D' && len == nbytes ? need + (size_t)nbytes : need;
}

/* The stand-in helper of one session: the greeting, then for each request
 * the first entry for its path, sent as it is. When what was sent cannot
 * complete the reply the session waits for (a truncated entry, or none), the
 * stream ends there, as it would if the helper had died. */
static void *hr_serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    size_t cap = hr_greeting.n + hr_entries.n + 1;
    uint8_t *pending = malloc(cap); /* sent, not yet read: a copy */
    char *path = malloc(((size_t)64 << 10) + 1);
    size_t np = 0;
    bool ok = pending && path && hr_write_all(fd, hr_greeting.p, hr_greeting.n);
    if (ok && hr_greeting.n < 8) ok = false; /* the session waits for 8 bytes */
    if (ok) {
        memcpy(pending, hr_greeting.p + 8, hr_greeting.n - 8);
        np = hr_greeting.n - 8;
    }
    while (ok) {
        unsigned char head[21];
        uint64_t len, numel;
        int32_t dtype;
        if (!hr_read_all(fd, head, sizeof head)) break;
        memcpy(&dtype, head + 1, 4);
        memcpy(&numel, head + 5, 8);
        memcpy(&len, head + 13, 8);
        if (len > ((uint64_t)64 << 10) || !hr_read_all(fd, path, (size_t)len)) break;
        hr_bytes e = hr_entries, reply = {NULL, 0};
        while (e.n) {
            hr_bytes name = hr_take(&e), r = hr_take(&e);
            if (name.n == len && memcmp(name.p, path, name.n) == 0) {
                reply = r;
                break;
            }
        }
        if (reply.n && (np + reply.n >= cap || !hr_write_all(fd, reply.p, reply.n))) break;
        if (reply.n) memcpy(pending + np, reply.p, reply.n);
        np += reply.n;
        uint64_t nbytes = numel * rnnck_dtype_size((rnnck_dtype)dtype);
        size_t need = hr_reply_need(pending, np, nbytes);
        if (need > np) break;
        memmove(pending, pending + need, np - need);
        np -= need;
    }
    shutdown(fd, SHUT_WR); /* the end of the replies; the session closes its end */
    while (ok) {
        char sink[256];
        if (read(fd, sink, sizeof sink) <= 0) break;
    }
    free(path);
    free(pending);
    close(fd);
    return NULL;
}

static int hr_hook(const char *job) {
    if (strcmp(job, "serve") != 0) {
        int fd = memfd_create("reply", MFD_CLOEXEC);
        FZ_REQUIRE(fd >= 0, "memfd_create");
        FZ_REQUIRE(hr_job.n == 0 || write(fd, hr_job.p, hr_job.n) == (ssize_t)hr_job.n, "memfd write");
        FZ_REQUIRE(lseek(fd, 0, SEEK_SET) == 0, "lseek");
        return fd;
    }
    if (hr_nthreads == HR_MAX_SESSIONS) return -1;
    int sv[2];
    FZ_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    FZ_REQUIRE(pthread_create(&hr_threads[hr_nthreads], NULL, hr_serve, (void *)(intptr_t)sv[1]) == 0,
               "pthread_create");
    hr_nthreads++;
    return sv[0];
}

/* Splits the input, writes its file part to the scratch file `name` and
 * returns its path; from now on jobs and sessions are answered from the
 * input. */
static const char *hr_begin(const uint8_t *data, size_t size, const char *name) {
    fz_clean_scratch();
    hr_split(data, size);
    const char *path = fz_path(name);
    fz_write_file(path, hr_file.p, hr_file.n);
    hr_nthreads = 0;
    rnnck__h5_spawn_hook = hr_hook;
    return path;
}

/* After every model is freed (its session closed): the stand-in helpers
 * have ended. */
static void hr_end(void) {
    for (int i = 0; i < hr_nthreads; i++) pthread_join(hr_threads[i], NULL);
    hr_nthreads = 0;
    rnnck__h5_spawn_hook = NULL;
}

#endif
