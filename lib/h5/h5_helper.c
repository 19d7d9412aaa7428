/* The body of rnnck-h5-reader, the helper program that runs untrusted HDF5
 * work for the library (h5_isolate.c starts it; libexec/rnnck_h5_reader.c is
 * its main). It is in the library so that it runs exactly the library's own
 * walk, check and read code, in-process from its own point of view.
 *
 * Usage (from the library only; argv is trusted, the file is not):
 *   rnnck-h5-reader walk  AS_BYTES CPU_S PATH MAX_TENSORS MAX_TENSOR_BYTES MAX_DIM FLAGS
 *   rnnck-h5-reader check AS_BYTES CPU_S PATH MAX_TENSORS MAX_TENSOR_BYTES MAX_DIM FLAGS
 *   rnnck-h5-reader tree|probe (same arguments as walk; h5_tree.c)
 *   rnnck-h5-reader serve AS_BYTES CPU_S PATH   (reads requested on fd 0)
 * walk replies with the model's description as report lines (h5_remote.c),
 * check with the report, tree and probe with h5_tree.c's lines.
 * The file itself is fd 3, the library's own descriptor, reopened as
 * /proc/self/fd/3 (h5_file.c); PATH names it in messages only.
 * Replies on fd 1 (see h5_isolate.c for the records). Exit 0 after a
 * complete reply (serve: at the end of the requests), 2 on bad usage or a
 * malformed request, 3 if the reply could not be written. */
#include "h5/h5_internal.h"
#include "h5/h5_tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static bool write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool send_record(int out, char kind, int32_t status, const void *payload, uint64_t len) {
    unsigned char head[13];
    head[0] = (unsigned char)kind;
    memcpy(head + 1, &status, 4);
    memcpy(head + 5, &len, 8);
    return write_all(out, head, sizeof head) && write_all(out, payload, (size_t)len);
}

static bool send_text(int out, char kind, int32_t status, const char *text) {
    size_t n = strnlen(text, 60000);
    return send_record(out, kind, status, text, n);
}

static bool parse_i64(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return false;
    *out = v;
    return true;
}

static void limit(int resource, int64_t value) {
    struct rlimit rl = {(rlim_t)value, (rlim_t)value};
    if (resource == RLIMIT_CPU) rl.rlim_max = (rlim_t)value + 5; /* SIGXCPU first, then SIGKILL */
    setrlimit(resource, &rl);
}

static int reply_status(rnnck_report *report, rnnck_status st) {
    bool ok = write_all(1, RNNCK__H5_HELPER_MAGIC, 8);
    for (size_t i = 0; ok && report && i < report->count; i++)
        ok = send_text(1, 'L', 0, report->items[i]);
    return ok && send_text(1, 'S', st, st ? rnnck_errmsg() : "") ? 0 : 3;
}

static int run_job(int argc, char **argv, const char *job) {
    bool check = strcmp(job, "check") == 0, probe = strcmp(job, "probe") == 0, tree = strcmp(job, "tree") == 0;
    rnnck_limits lim;
    int64_t flags;
    if (argc != 9 || !parse_i64(argv[5], &lim.max_tensors) || !parse_i64(argv[6], &lim.max_tensor_bytes) ||
        !parse_i64(argv[7], &lim.max_dim) || !parse_i64(argv[8], &flags))
        return 2;
    rnnck_report *report = calloc(1, sizeof *report);
    rnnck_status st;
    if (!report)
        st = rnnck__oom();
    else if (probe)
        st = rnnck__h5_probe_with_walk(argv[4], &lim, (unsigned)flags, report);
    else if (tree)
        st = rnnck__h5_tree_walk_here(argv[4], &lim, report);
    else
        st = check ? rnnck__h5_check_here(argv[4], &lim, (unsigned)flags, report)
                   : rnnck__h5_walk_describe(argv[4], &lim, report);
    int rc = reply_status(report, st);
    rnnck_report_free(report);
    return rc;
}

/* 1: n bytes read; 0: the end of input before the first byte; -1: else. */
static int read_all(int fd, void *buf, size_t n) {
    char *p = buf;
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(fd, p + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (r == 0 && done)) return -1;
        if (r == 0) return 0;
        done += (size_t)r;
    }
    return 1;
}

#define MAX_OBJECT ((uint64_t)64 << 10)

/* Many reads of one file: a request {u8 'R', i32 dtype, u64 numel, u64
 * length, the dataset's path} gets the 'S' record, then 'D' when OK. */
static int run_serve(int argc, char **argv) {
    if (argc != 5) return 2;
    return rnnck__h5_serve(0, 1, argv[4]);
}

int rnnck__h5_serve(int in, int out, const char *path) {
    if (!write_all(out, RNNCK__H5_HELPER_MAGIC, 8)) return 3;
    rnnck__h5_file f;
    rnnck__h5_lock();
    rnnck_status open_st = rnnck__h5_open(path, NULL, &f);
    rnnck__h5_unlock();
    char *open_msg = open_st ? rnnck__strdup(rnnck_errmsg()) : NULL;
    char *object = malloc(MAX_OBJECT + 1);
    int rc = object ? 0 : 3;
    while (!rc) {
        unsigned char head[21];
        int r = read_all(in, head, sizeof head);
        if (r == 0) break;
        int32_t dtype;
        uint64_t numel, len;
        memcpy(&dtype, head + 1, 4);
        memcpy(&numel, head + 5, 8);
        memcpy(&len, head + 13, 8);
        size_t es = r > 0 ? rnnck_dtype_size((rnnck_dtype)dtype) : 0, nbytes;
        if (r < 0 || head[0] != 'R' || es == 0 || numel > (uint64_t)INT64_MAX ||
            rnnck__mul_overflow_size((size_t)numel, es, &nbytes) || len > MAX_OBJECT ||
            (len && read_all(in, object, (size_t)len) != 1)) {
            rc = 2;
            break;
        }
        object[len] = '\0';
        if (memchr(object, '\0', (size_t)len)) {
            rc = 2;
            break;
        }
        void *buf = malloc(nbytes ? nbytes : 1);
        rnnck_status st;
        if (open_st)
            st = open_msg ? rnnck__err(open_st, "%s", open_msg) : rnnck__oom();
        else if (!buf)
            st = rnnck__oom();
        else {
            rnnck__h5_lock();
            st = rnnck__h5_read_dataset(&f, object, (rnnck_dtype)dtype, (int64_t)numel, buf);
            rnnck__h5_unlock();
        }
        if (!send_text(out, 'S', st, st ? rnnck_errmsg() : "") || (!st && !send_record(out, 'D', 0, buf, nbytes)))
            rc = 3;
        free(buf);
    }
    free(object);
    free(open_msg);
    rnnck__h5_lock();
    if (!open_st) rnnck__h5_close(&f);
    rnnck__h5_unlock();
    return rc;
}

int rnnck__h5_helper_main(int argc, char **argv) {
    int64_t as, cpu;
    if (argc < 5 || !parse_i64(argv[2], &as) || !parse_i64(argv[3], &cpu) || as <= 0 || cpu <= 0) return 2;
#ifndef RNNCK_SANITIZE
    limit(RLIMIT_AS, as); /* a sanitizer's shadow memory needs terabytes of address space */
#endif
    limit(RLIMIT_CPU, cpu);
    limit(RLIMIT_CORE, 0); /* a crash here is expected on hostile files: no core dumps */
    rnnck__h5_silence();
    /* The file is fd 3, opened once by the library; PATH only names it. */
    rnnck__h5_open_through(3, "/proc/self/fd/3");
    if (strcmp(argv[1], "walk") == 0 || strcmp(argv[1], "check") == 0 || strcmp(argv[1], "tree") == 0 ||
        strcmp(argv[1], "probe") == 0)
        return run_job(argc, argv, argv[1]);
    if (strcmp(argv[1], "serve") == 0) return run_serve(argc, argv);
    return 2;
}
