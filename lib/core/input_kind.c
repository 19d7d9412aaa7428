/* Inputs must be regular files: decided without blocking.
 *
 * Why O_NONBLOCK: open() of a FIFO for reading blocks until a writer comes,
 * forever if none does; with O_NONBLOCK it returns at once, and fstat then
 * tells what the path is. A terminal or other device would block the first
 * read instead, and a directory fails it with EISDIR: all are refused here,
 * by name, before any reader sees the path. (The command line spools "-"
 * and FIFOs into a temporary file itself: tools/cli_input.c.) */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *rnnck__file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

rnnck_status rnnck__open_regular_input(const char *path, int *fd_out, struct stat *sb) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        struct stat lsb;
        /* A socket cannot be open()ed (ENXIO): name it rather than the errno. */
        if (stat(path, &lsb) == 0 && !S_ISREG(lsb.st_mode))
            return rnnck__err(RNNCK_E_IO, "%s: is %s, not a checkpoint file", path, rnnck__file_kind(lsb.st_mode));
        return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, sb) != 0) {
        int e = errno;
        close(fd);
        return rnnck__err(RNNCK_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb->st_mode)) {
        close(fd);
        return rnnck__err(RNNCK_E_IO, "%s: is %s, not a checkpoint file%s", path, rnnck__file_kind(sb->st_mode),
                          S_ISFIFO(sb->st_mode) ? " (the rnnck command spools FIFOs and '-'; the library reads files)"
                                                : "");
    }
    *fd_out = fd;
    return RNNCK_OK;
}

rnnck_status rnnck__require_regular_input(const char *path, int64_t *size) {
    int fd = -1;
    struct stat sb;
    rnnck_status st = rnnck__open_regular_input(path, &fd, &sb);
    if (st) return st;
    close(fd);
    if (size) *size = (int64_t)sb.st_size;
    return RNNCK_OK;
}
