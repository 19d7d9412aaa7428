/* Opening untrusted HDF5 files and turning failures into rnnck messages. */
#include "h5/h5_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
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

rnnck_status rnnck__h5_open(const char *path, const rnnck_limits *lim, rnnck__h5_file *f) {
    memset(f, 0, sizeof *f);
    f->fid = H5I_INVALID_HID;
    f->path = path;
    if (lim) {
        f->lim = *lim;
    } else {
        rnnck_limits_init(&f->lim);
    }
    /* open() first: it reports permission problems and missing files plainly;
     * O_NONBLOCK so that a FIFO is refused below instead of blocking here. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int stat_ok = fstat(fd, &sb) == 0;
    int e = errno;
    close(fd);
    if (!stat_ok) return rnnck__err(RNNCK_E_IO, "%s: cannot stat: %s", path, strerror(e));
    if (!S_ISREG(sb.st_mode))
        return rnnck__err(RNNCK_E_IO, "%s: is %s, not a checkpoint file", path, rnnck__file_kind(sb.st_mode));
    if (sb.st_size == 0) return rnnck__err(RNNCK_E_FORMAT, "%s: empty file, not an HDF5 checkpoint", path);
    f->file_size = (int64_t)sb.st_size;
    rnnck__h5_silence();
    atomic_fetch_add(&inproc_opens, 1); /* libhdf5 reads the file from here on */
    if (H5Fis_hdf5(path) <= 0) return rnnck__err(RNNCK_E_FORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return rnnck__err(RNNCK_E_NOMEM, "%s: cannot create an HDF5 property list", path);
    /* STRONG: closing the file closes every object still open in it, so an
     * early return can never leave HDF5 handles behind. */
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    f->fid = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f->fid < 0)
        return rnnck__err(RNNCK_E_FORMAT, "%s: has the HDF5 signature but cannot be opened (truncated or corrupt)",
                          path);
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
