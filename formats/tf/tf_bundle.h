/* TensorFlow tensor bundles (checkpoints: PREFIX.index + PREFIX.data-NNNNN-
 * of-NNNNN), read into a flat list of named tensors. The interface between
 * the container reader (tf_bundle.c) and the cell mapping (tf_cells.c). Not
 * installed. */
#ifndef RNNCK_TF_BUNDLE_H
#define RNNCK_TF_BUNDLE_H

#include "common/state_dict.h"

/* Reads a TensorFlow tensor bundle. `path` is the prefix (PREFIX.index must exist),
 * or the .index file itself, or a .data-NNNNN-of-NNNNN shard. Every variable is appended to
 * `out` (initialised by the caller with rnnck__sd_init_for) under its full key, loaded
 * (all shards, slices stitched, CRC-32C checked), in key order. Non-numeric (string)
 * tensors are skipped and counted in *skipped (may be NULL). The header entry (empty key) is
 * checked (endianness, version) and not listed. */
rnnck_status rnnck__tf_bundle_read(const char *path, const rnnck_open_opts *opts,
                                   rnnck__sd *out, size_t *skipped);
/* 1 if `path` (prefix, .index or shard) names a tensor bundle: the .index exists and its
 * footer has TF's table magic. Never fails. */
int rnnck__tf_bundle_probe(const char *path);

#endif
