/* Outputs: a temporary file renamed into place on success, or a direct
 * write to a stream (standard output, a character device, a FIFO, a
 * socket), which must never be renamed over (as root, rename() would
 * replace the device node itself). */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether commits on this thread make the output durable (rnnck_write_ex
 * sets it for the one write it runs, from RNNCK_WRITE_FSYNC). */
static _Thread_local bool durable;
static atomic_ulong syncs; /* fsyncs done, for tests */

void rnnck__atomic_set_durable(bool on) { durable = on; }

unsigned long rnnck__atomic_syncs(void) { return atomic_load(&syncs); }

static int sync_fd(int fd) {
    if (fsync(fd) != 0) return errno;
    atomic_fetch_add(&syncs, 1);
    return 0;
}

/* fsync of a file or directory by name: 0, or errno. */
static int sync_path(const char *path, int flags) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) return errno;
    int e = sync_fd(fd);
    close(fd);
    return e;
}

/* The directory holding path ("." for a bare name), for its fsync once a
 * name in it has changed. NULL when out of memory. */
static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return rnnck__strdup(".");
    if (slash == path) return rnnck__strdup("/");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) memcpy(d, path, (size_t)(slash - path)), d[slash - path] = '\0';
    return d;
}

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

/* Opens a stream destination for writing. A FIFO's open blocks until a
 * reader comes, as for any writer; a socket is connected to. */
static int open_stream(const char *path, mode_t mode) {
    if (!S_ISSOCK(mode)) return open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        fd = -1;
    }
    return fd;
}

static rnnck_status begin_stream(rnnck__atomic *a, const char *path, const char *what, mode_t mode, bool want_fp) {
    if (!want_fp)
        return rnnck__err(RNNCK_E_WRITE, "%s: is %s; this format needs a seekable file (write a regular file)", path,
                          what);
    int fd = strcmp(path, "-") == 0 ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3) : open_stream(path, mode);
    if (fd < 0) return rnnck__err(RNNCK_E_WRITE, "%s: cannot open %s for writing: %s", path, what, strerror(errno));
    a->final_path = rnnck__strdup(path);
    a->fp = a->final_path ? fdopen(fd, "wb") : NULL;
    if (!a->fp) {
        close(fd);
        rnnck__atomic_abort(a);
        return rnnck__oom();
    }
    a->stream = true;
    return RNNCK_OK;
}

/* Decides what kind of output path is (see internal.h). On success with
 * *target set, a->final_path must be *target (a symlink's resolved target
 * or path itself). */
static rnnck_status classify_output(rnnck__atomic *a, const char *path, bool want_fp, char **target, bool *done) {
    *done = false;
    *target = NULL;
    if (strcmp(path, "-") == 0) {
        *done = true;
        return begin_stream(a, path, "standard output", S_IFIFO, want_fp);
    }
    struct stat sb, lsb;
    if (stat(path, &sb) != 0) {
        if (lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode))
            return rnnck__err(RNNCK_E_WRITE, "%s: is a symbolic link to a missing file; rnnck writes through links "
                              "to existing files only", path);
        return RNNCK_OK; /* missing: created; any other problem, creating the temporary file names */
    }
    if (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)) {
        *done = true;
        return begin_stream(a, path, rnnck__file_kind(sb.st_mode), sb.st_mode, want_fp);
    }
    if (!S_ISREG(sb.st_mode))
        return rnnck__err(RNNCK_E_WRITE, "%s: is %s; rnnck writes regular files, character devices, FIFOs and sockets",
                          path, rnnck__file_kind(sb.st_mode));
    if (lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
        /* Write through: the link keeps pointing at the (replaced) file. */
        *target = realpath(path, NULL);
        if (!*target) return rnnck__err(RNNCK_E_WRITE, "%s: cannot resolve the symbolic link: %s", path, strerror(errno));
    }
    return RNNCK_OK;
}

rnnck_status rnnck__atomic_begin(rnnck__atomic *a, const char *path, bool want_fp) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return rnnck__err(RNNCK_E_USAGE, "output path is empty");
    char *target;
    bool done;
    rnnck_status st = classify_output(a, path, want_fp, &target, &done);
    if (st || done) return st;
    const char *where = target ? target : path;
    a->final_path = rnnck__strdup(where);
    a->tmp_path = rnnck__asprintf("%s.rnnck-tmp-XXXXXX", where);
    free(target);
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
    bool synced = false; /* the temporary file, through a->fp */
    if (a->fp) {
        struct stat sb;
        bool regular = fstat(fileno(a->fp), &sb) == 0 && S_ISREG(sb.st_mode);
        int bad = fflush(a->fp) != 0 || ferror(a->fp) || (durable && regular && (errno = sync_fd(fileno(a->fp))) != 0);
        synced = durable && regular;
        int e = errno;
        bad |= fclose(a->fp) != 0;
        a->fp = NULL;
        if (bad) {
            rnnck_status st = rnnck__err(RNNCK_E_WRITE, "%s: write failed: %s", a->final_path, strerror(e));
            rnnck__atomic_abort(a);
            return st;
        }
    }
    if (a->stream) {
        free(a->final_path);
        memset(a, 0, sizeof *a);
        return RNNCK_OK;
    }
    int e = durable && !synced ? sync_path(a->tmp_path, 0) : 0; /* written by a library that closed it */
    if (e) {
        rnnck_status st = rnnck__err(RNNCK_E_WRITE, "%s: cannot sync to disk: %s", a->final_path, strerror(e));
        rnnck__atomic_abort(a);
        return st;
    }
    if (rename(a->tmp_path, a->final_path) != 0) {
        rnnck_status st = rnnck__err(RNNCK_E_WRITE, "%s: cannot rename the finished output into place: %s",
                                     a->final_path, strerror(errno));
        rnnck__atomic_abort(a);
        return st;
    }
    /* The rename is on disk once the directory is: only then is the output. */
    char *dir = durable ? parent_dir(a->final_path) : NULL;
    e = !durable ? 0 : dir ? sync_path(dir, O_DIRECTORY) : ENOMEM;
    rnnck_status st = e ? rnnck__err(RNNCK_E_WRITE, "%s: renamed into place, but its directory cannot be synced: %s",
                                     a->final_path, strerror(e))
                        : RNNCK_OK;
    free(dir);
    free(a->tmp_path);
    free(a->final_path);
    memset(a, 0, sizeof *a);
    return st;
}

void rnnck__atomic_abort(rnnck__atomic *a) {
    if (a->fp) fclose(a->fp);
    if (a->tmp_path) unlink(a->tmp_path);
    free(a->tmp_path);
    free(a->final_path);
    memset(a, 0, sizeof *a);
}
