/* Outputs written to a temporary file and renamed into place on success. */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A name no one uses yet, created with O_EXCL so that the kernel applies the
 * process umask to mode 0666 as for any new file. (mkstemp makes 0600 files,
 * and reading the umask means changing it, a race with other threads.) */
static int create_unique(char *tmp, size_t len) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)tmp;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = seed ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)attempt * 0x2545f4914f6cdd1dull;
        for (size_t i = len - 6; i < len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            tmp[i] = alphabet[(x >> 33) % (sizeof alphabet - 1)];
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

rnnck_status rnnck__atomic_begin(rnnck__atomic *a, const char *path, bool want_fp) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return rnnck__err(RNNCK_E_USAGE, "output path is empty");
    a->final_path = rnnck__strdup(path);
    a->tmp_path = rnnck__asprintf("%s.rnnck-tmp-XXXXXX", path);
    if (!a->final_path || !a->tmp_path) {
        rnnck__atomic_abort(a);
        return rnnck__oom();
    }
    int fd = create_unique(a->tmp_path, strlen(a->tmp_path));
    if (fd < 0) {
        int e = errno;
        free(a->tmp_path);
        a->tmp_path = NULL; /* nothing to remove */
        rnnck__atomic_abort(a);
        return rnnck__err(RNNCK_E_WRITE, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    if (want_fp) {
        a->fp = fdopen(fd, "wb");
        if (!a->fp) {
            int e = errno;
            close(fd);
            rnnck__atomic_abort(a);
            return rnnck__err(RNNCK_E_WRITE, "%s: %s", path, strerror(e));
        }
    } else {
        close(fd);
    }
    return RNNCK_OK;
}

rnnck_status rnnck__atomic_commit(rnnck__atomic *a) {
    if (a->fp) {
        int bad = fflush(a->fp) != 0 || ferror(a->fp) || fsync(fileno(a->fp)) != 0;
        int e = errno;
        bad |= fclose(a->fp) != 0;
        a->fp = NULL;
        if (bad) {
            rnnck_status st = rnnck__err(RNNCK_E_WRITE, "%s: write failed: %s", a->final_path, strerror(e));
            rnnck__atomic_abort(a);
            return st;
        }
    }
    if (rename(a->tmp_path, a->final_path) != 0) {
        int e = errno;
        rnnck_status st = rnnck__err(RNNCK_E_WRITE, "%s: cannot rename the finished output into place: %s",
                                     a->final_path, strerror(e));
        rnnck__atomic_abort(a);
        return st;
    }
    free(a->tmp_path);
    free(a->final_path);
    memset(a, 0, sizeof *a);
    return RNNCK_OK;
}

void rnnck__atomic_abort(rnnck__atomic *a) {
    if (a->fp) fclose(a->fp);
    if (a->tmp_path) unlink(a->tmp_path);
    free(a->tmp_path);
    free(a->final_path);
    memset(a, 0, sizeof *a);
}
