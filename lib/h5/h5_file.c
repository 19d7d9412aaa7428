/* Opening untrusted HDF5 files and turning failures into rnnck messages. */
#include "h5/h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_ullong inproc_opens;

unsigned long long rnnck__h5_inproc_opens(void) { return atomic_load(&inproc_opens); }

void rnnck__h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

rnnck_status rnnck__h5_fail(const rnnck__h5_file *f, rnnck_status st, const char *object, const char *fmt, ...) {
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return rnnck__err(st, "%s: %s: %s", f->path, object, text);
}

rnnck_status rnnck__h5_problem(rnnck__h5_file *f, rnnck_status st) {
    if (st == RNNCK_OK || !f->report || st == RNNCK_E_NOMEM) return st;
    return rnnck__report_add(f->report, rnnck_errmsg());
}

/* The helper's input (rnnck__h5_open_through): set once, before any job. */
static int through_fd = -1;
static const char *through_path;

void rnnck__h5_open_through(int fd, const char *proc_path) {
    through_fd = fd;
    through_path = proc_path;
}

int rnnck__h5_inherited_fd(void) { return through_fd; }

static bool same_inode(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* In the helper: the check that libhdf5 opened the descriptor's file (its
 * stdio driver's FILE, given as a FILE **, has the same inode). */
static rnnck_status check_through(const char *path, hid_t fid, const struct stat *want) {
    void *handle = NULL;
    struct stat got;
    if (H5Fget_vfd_handle(fid, H5P_DEFAULT, &handle) < 0 || !handle || fstat(fileno(*(FILE **)handle), &got) != 0 ||
        !same_inode(&got, want))
        return rnnck__err(RNNCK_E_IO, "%s: libhdf5 did not open the file the library handed to the isolated reader",
                          path);
    return RNNCK_OK;
}

rnnck_status rnnck__h5_open(const char *path, const rnnck_limits *lim, rnnck__h5_file *f) {
    memset(f, 0, sizeof *f);
    f->fid = H5I_INVALID_HID;
    f->path = path;
    if (lim) {
        f->lim = *lim;
    } else {
        rnnck_limits_init(&f->lim);
    }
    /* In the helper the file is the library's descriptor, reopened through
     * /proc: the path may name another file by now. Without /proc that
     * fails, and the file is refused (docs/DESIGN-NOTES.md, "One open"). */
    const char *real = through_path ? through_path : path;
    struct stat inherited;
    if (through_path && fstat(through_fd, &inherited) != 0)
        return rnnck__err(RNNCK_E_IO, "%s: the isolated reader was not handed the file (descriptor %d: %s)", path,
                          through_fd, strerror(errno));
    /* open() first: it reports permission problems and missing files plainly;
     * O_NONBLOCK so that a FIFO is refused below instead of blocking here. */
    int fd = open(real, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && through_path)
        return rnnck__err(RNNCK_E_IO,
                          "%s: the isolated reader cannot reopen the library's descriptor as %s: %s (is /proc "
                          "mounted? without it, untrusted HDF5 files are refused; open trusted files in-process "
                          "with RNNCK_OPEN_TRUSTED)",
                          path, real, strerror(errno));
    if (fd < 0) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int stat_ok = fstat(fd, &sb) == 0;
    int e = errno;
    close(fd);
    if (!stat_ok) return rnnck__err(RNNCK_E_IO, "%s: cannot stat: %s", path, strerror(e));
    if (through_path && !same_inode(&sb, &inherited))
        return rnnck__err(RNNCK_E_IO, "%s: %s is not the file the library handed to the isolated reader", path, real);
    if (!S_ISREG(sb.st_mode))
        return rnnck__err(RNNCK_E_IO, "%s: is %s, not a checkpoint file", path, rnnck__file_kind(sb.st_mode));
    if (sb.st_size == 0) return rnnck__err(RNNCK_E_FORMAT, "%s: empty file, not an HDF5 checkpoint", path);
    f->file_size = (int64_t)sb.st_size;
    rnnck__h5_silence();
    atomic_fetch_add(&inproc_opens, 1); /* libhdf5 reads the file from here on */
    if (H5Fis_hdf5(real) <= 0) return rnnck__err(RNNCK_E_FORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return rnnck__err(RNNCK_E_NOMEM, "%s: cannot create an HDF5 property list", path);
    /* STRONG: closing the file closes every object still open in it, so an
     * early return can never leave HDF5 handles behind. */
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    /* Through /proc, the stdio driver: libhdf5 1.10 resolves a symbolic
     * link given to the sec2 driver with realpath() (H5F__build_actual_name),
     * which fails for a file deleted since the library opened it (the
     * link reads "... (deleted)"), such as one that another file was
     * renamed over. The stdio driver opens the name as it is. */
    if (through_path) H5Pset_fapl_stdio(fapl);
    f->fid = H5Fopen(real, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->fid < 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: has the HDF5 signature but cannot be opened (truncated or corrupt)",
                          path);
    if (through_path) {
        rnnck_status st = check_through(path, f->fid, &inherited);
        if (st) {
            rnnck__h5_close(f);
            return st;
        }
    }
    return RNNCK_OK;
}

void rnnck__h5_close(rnnck__h5_file *f) {
    if (f->fid >= 0) H5Fclose(f->fid);
    f->fid = H5I_INVALID_HID;
}

/* ext4 flushes a file truncated to nothing when it is closed (its
 * "auto_da_alloc" guard for files rewritten in place), and H5Fcreate's
 * H5F_ACC_TRUNC opens with O_TRUNC: that flush cost 17% of a 940 MB
 * conversion (bench/RESULTS.md). So the empty file is removed and created
 * again with O_EXCL (H5F_ACC_EXCL): should another file take the name in
 * between, H5Fcreate fails rather than write into it. */
hid_t rnnck__h5_create_fresh(const char *tmp_path, hid_t fcpl, hid_t fapl) {
    if (unlink(tmp_path) != 0) return H5I_INVALID_HID;
    return H5Fcreate(tmp_path, H5F_ACC_EXCL, fcpl, fapl);
}
