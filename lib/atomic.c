/* Outputs written to a temporary file and renamed into place on success. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

rnnck_status rnnck__atomic_begin(rnnck__atomic *a, const char *path, bool want_fp) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return rnnck__err(RNNCK_E_USAGE, "output path is empty");
    a->final_path = rnnck__strdup(path);
    a->tmp_path = rnnck__asprintf("%s.rnnck-tmp-XXXXXX", path);
    if (!a->final_path || !a->tmp_path) {
        rnnck__atomic_abort(a);
        return rnnck__oom();
    }
    int fd = mkstemp(a->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(a->tmp_path);
        a->tmp_path = NULL; /* nothing to remove */
        rnnck__atomic_abort(a);
        return rnnck__err(RNNCK_E_WRITE, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    /* mkstemp makes the file 0600; give it the permissions a plain create would. */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
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
