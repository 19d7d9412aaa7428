/* Test helpers for the HDF5 schema: a small example model, and the HDF5 C API
 * calls that turn a good rnnck file into a hostile one. Every function
 * returns 0 on success and -1 on failure. */
#ifndef RNNCK_H5CRAFT_H
#define RNNCK_H5CRAFT_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "rnnck.h"

/* Deterministic value number i of tensor number k (no two tensors alike). */
double craft_value(size_t k, int64_t i);
/* Fills every tensor of m with craft_value (converted to its dtype). */
int craft_fill(rnnck_model *m);

/* The example model: "embed.weight" (5, 3) f32, then module "enc.rnn" (LSTM,
 * input 3, hidden 4, 2 layers, bidirectional, parameters of `dtype`), then
 * "head.weight" (2, 8) f32 and "head.steps" (scalar int64); filled. */
rnnck_model *craft_example(rnnck_dtype dtype);
/* Saves craft_example(RNNCK_F32) to path. */
int craft_save_example(const char *path);
/* Path (malloc'd) of a fresh copy of the example file dir/name; asserts. */
char *craft_example_copy(const char *dir, const char *name);

/* Mutations of an existing file (opened read-write, closed again). Objects
 * are absolute HDF5 paths. */
int h5c_set_attr_string(const char *path, const char *object, const char *name, const char *value);
int h5c_set_attr_i64(const char *path, const char *object, const char *name, int64_t value);
int h5c_set_attr_f64(const char *path, const char *object, const char *name, double value);
int h5c_delete_attr(const char *path, const char *object, const char *name);
int h5c_delete_link(const char *path, const char *object);
/* Replaces (or creates) dataset `object` with the given file type, shape and
 * creation plist (H5P_DEFAULT allowed); data (in `type`) may be NULL. */
int h5c_put_dataset(const char *path, const char *object, hid_t type, int rank, const hsize_t *dims, hid_t dcpl,
                    const void *data);
/* The same with a chunked layout (chunk dims, deflate level 0-9, 0: none)
 * or a compact one. */
int h5c_put_chunked(const char *path, const char *object, hid_t type, int rank, const hsize_t *dims,
                    const hsize_t *chunk, int deflate, const void *data);
int h5c_put_compact(const char *path, const char *object, hid_t type, int rank, const hsize_t *dims,
                    const void *data);
int h5c_soft_link(const char *path, const char *target, const char *link);
int h5c_external_link(const char *path, const char *file, const char *target, const char *link);
int h5c_hard_link(const char *path, const char *target, const char *link);
/* Rewrites the stored byte size in the layout message of contiguous dataset
 * `object` (found by its address and size) to new_size. */
int h5c_patch_contiguous_size(const char *path, const char *object, uint64_t new_size);
/* Writes the first n bytes of src to dst. */
int h5c_truncate_copy(const char *src, const char *dst, size_t n);

/* A schema file with one chunked float32 dataset "big" of numel elements,
 * the first `written` of them zeros, the rest never stored. 0 on success. */
int h5c_chunked_zeros_file(const char *path, hsize_t numel, hsize_t chunk, hsize_t written);

#endif
