/* The budgets every reader keeps (docs/BUDGETS.md): metadata streams get
 * their own small limits, separate from the limit for tensor data, and no
 * declared size allocates beyond what the file really stores. Not installed. */
#ifndef RNNCK_BUDGET_H
#define RNNCK_BUDGET_H

#include <stdint.h>

/* A metadata stream (a torch data.pkl, a JSON header, a protobuf graph) may
 * decompress to at most RATIO times the bytes the file stores, never below
 * FLOOR (tiny re-zipped files stay readable) and never above MAX. Real ones
 * are KBs: torch.save stores data.pkl uncompressed, about 200 bytes per
 * tensor, and pickle text deflates about 4-8:1. */
#define RNNCK__META_MAX_BYTES ((uint64_t)64 << 20)
#define RNNCK__META_FLOOR_BYTES ((uint64_t)64 << 10)
#define RNNCK__META_MAX_RATIO 64

static inline uint64_t rnnck__meta_limit(uint64_t stored_bytes) {
    uint64_t lim = stored_bytes > RNNCK__META_MAX_BYTES / RNNCK__META_MAX_RATIO ? RNNCK__META_MAX_BYTES
                                                                               : stored_bytes * RNNCK__META_MAX_RATIO;
    return lim < RNNCK__META_FLOOR_BYTES ? RNNCK__META_FLOOR_BYTES : lim;
}

/* A chunked HDF5 dataset may declare at most this many times the bytes it
 * has allocated on disk, plus one chunk's worth of slack: deflate's best
 * ratio is about 1032:1, so a real compressed tensor always fits. */
#define RNNCK__H5_MAX_INFLATION 1100
/* Bytes a chunk may declare beyond its dataset's own size (h5py's largest
 * automatic chunk): lib/h5/h5_dataset.c. */
#define RNNCK__H5_MAX_SPARE_CHUNK (1 << 20)

#endif
