/* Lazy reads of tensors from zip archive records (torch.save, npz): the
 * model's source. Not installed. */
#ifndef RNNCK_ZIP_SOURCE_H
#define RNNCK_ZIP_SOURCE_H

#include "common/zipfile.h"

typedef struct rnnck__zsrc rnnck__zsrc;

enum {
    RNNCK__ZSRC_SWAP = 1,    /* bytes are in the other byte order */
    RNNCK__ZSRC_NPY = 2,     /* .npy data: swap, Fortran order, bool checks */
    RNNCK__ZSRC_FORTRAN = 4, /* .npy data in Fortran order */
};

rnnck_status rnnck__zsrc_new(rnnck__zsrc **out);
/* Frees s and the archive it took over (if any). NULL-safe. */
void rnnck__zsrc_free(rnnck__zsrc *s);
/* A tensor whose C-order bytes start `offset` bytes into record `member`
 * (range already checked against the record's size): its source_key. */
rnnck_status rnnck__zsrc_add(rnnck__zsrc *s, int64_t member, uint64_t offset, unsigned flags, int64_t *key);
/* Gives m the source; the source takes over the archive z (closed with the
 * model) on success. `label` (the file) prefixes messages. */
rnnck_status rnnck__zsrc_attach(rnnck_model *m, rnnck__zsrc *s, rnnck__zip *z, const char *label);
/* Reverses the byte order of each es-byte element of p[0..n). */
void rnnck__swap_bytes(unsigned char *p, size_t n, size_t es);

#endif
