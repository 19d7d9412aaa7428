/* safetensors (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON header (UTF-8, starting
 * with '{', padded with spaces), then the tensor data, each tensor's bytes at
 * data_offsets [begin, end) from the end of the header, contiguous, no gaps.
 * rnnck keeps its module descriptions in "__metadata__" (string -> string)
 * under "rnnck.*" keys (docs/SCHEMA.md, "safetensors"). Not installed. */
#ifndef RNNCK_SAFETENSORS_INTERNAL_H
#define RNNCK_SAFETENSORS_INTERNAL_H

#include "core/internal.h"

#include <cjson/cJSON.h>

/* The format's own limit on the header (the Rust library's MAX_HEADER_SIZE). */
#define RNNCK__ST_MAX_HEADER ((uint64_t)100000000)

/* The safetensors spelling of an rnnck dtype ("F32"); NULL if none. */
const char *rnnck__st_dtype_name(rnnck_dtype d);
/* The rnnck dtype of a safetensors spelling: RNNCK_DTYPE_INVALID with
 * *known set when the format defines it but rnnck has no such dtype (U16,
 * F8_E4M3...), with *known clear when the format does not define it. */
rnnck_dtype rnnck__st_dtype_from_name(const char *name, bool *known);

/* Bytes [0, n) are UTF-8 (RFC 3629: shortest forms, no surrogates, up to
 * U+10FFFF) with no NUL; else false with *bad at the first bad byte. */
bool rnnck__st_utf8_ok(const unsigned char *s, size_t n, size_t *bad);

/* Writes m to path (safetensors_write.c). */
rnnck_status rnnck__st_write(rnnck_model *m, const char *path);

/* ---- rnnck's __metadata__ keys (safetensors_meta.c) ---- */
#define RNNCK__ST_KEY_SCHEMA "rnnck.schema"
#define RNNCK__ST_KEY_MODULES "rnnck.modules"
#define RNNCK__ST_KEY_MODULE "rnnck.module." /* rnnck.module.<i>.<attribute> */

/* Adds rnnck's keys describing every module of m to the __metadata__ object
 * md (string values). */
rnnck_status rnnck__st_meta_write(const rnnck_model *m, cJSON *md);
#define RNNCK__ST_KEY_ORDER "rnnck.order"
/* order[k] is the model position of the file's k-th tensor (the file keeps
 * the reference library's alignment order: larger dtypes first): written
 * as "rnnck.order" unless it is the identity. */
rnnck_status rnnck__st_meta_write_order(cJSON *md, const size_t *order, size_t n);
/* The inverse of a file's "rnnck.order" over its n tensors: *file_index
 * (caller frees; NULL when the key is absent) gives, for each model
 * position, the file's tensor. RNNCK_E_FORMAT unless it is a permutation. */
rnnck_status rnnck__st_meta_read_order(const cJSON *md, const char *path, size_t n, size_t **file_index);
/* Reads the module descriptions from a __metadata__ object whose keys are
 * unique (checked by the caller) and that holds rnnck.schema. *infos (n of
 * them) have names that point into md: valid while md lives; caller frees
 * the array. RNNCK_E_FORMAT naming file and key for anything malformed,
 * RNNCK_E_UNSUPPORTED for a newer schema major. */
rnnck_status rnnck__st_meta_read(const cJSON *md, const char *path, int64_t max_modules,
                                 rnnck_module_info **infos, size_t *n);

#endif
