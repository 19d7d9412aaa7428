/* The native format: rnnck's HDF5 schema (reader and writer live in lib/). */
#include "formats.h"

#include <string.h>

/* HDF5 superblock signature; a file may carry a user block of 512, 1024, ...
 * bytes before it, but rnnck never writes one, so only offset 0 is claimed. */
static int detect_hdf5(const unsigned char *head, size_t n) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    return n >= 8 && memcmp(head, sig, 8) == 0;
}

static rnnck_status read_rnnck(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    return rnnck__load(path, opts ? opts->limits : NULL, opts && (opts->flags & RNNCK_OPEN_TRUSTED), out);
}

const rnnck__format rnnck__format_rnnck = {
    .name = "rnnck",
    .extensions = ",.h5,.hdf5,.rnnck,",
    .detect = detect_hdf5,
    .read = read_rnnck,
    .write = rnnck_save,
};
