/* Shared by the torch.save reader's files (pytorch*.c). Not installed. */
#ifndef RNNCK_PYTORCH_INTERNAL_H
#define RNNCK_PYTORCH_INTERNAL_H

#include "common/pickle.h"
#include "common/state_dict.h"
#include "common/zip_source.h"
#include "common/zipfile.h"

/* pk_value ext_tag of our payloads; TAG_INERT: a placeholder that stands for
 * an admitted call that was not made (an old module's _backend) */
enum { TAG_STORAGE = 1, TAG_TENSOR = 2, TAG_INERT = 3 };

typedef struct pt_storage {
    char key[32];
    rnnck_dtype dtype;
    int64_t numel;
    rnnck_storage *storage; /* NULL until the data is read (legacy files) */
    int64_t member;         /* zip: record read lazily, in place; else -1 */
} pt_storage;

typedef struct pt_reader {
    const char *path;
    rnnck__zip *z; /* NULL for legacy files */
    rnnck__zsrc *src; /* zip: where unloaded tensors will be read from */
    char *prefix;  /* "archive" in "archive/data.pkl" */
    rnnck_limits lim;
    int big_endian;
    pt_storage **st; /* entries never move: pickle values point at them */
    size_t nst, capst;
    size_t *slots; /* open-addressing hash of keys -> index + 1 */
    size_t nslots;
    uint64_t storage_bytes, copy_bytes;
} pt_reader;

/* Most pickle values a file may create: generous for real state_dicts. */
#define PT_MAX_VALUES(r) ((uint64_t)(r)->lim.max_tensors * 32 + 1000000)

void rnnck__pt_reader_free(pt_reader *r);

/* pytorch_storage.c: the unpickler hooks and the storage table */
int rnnck__pt_classify(void *ctx, const char *module, const char *name);
rnnck_status rnnck__pt_persistent_load(void *ctx, pk_machine *pm, pk_value *pid, pk_value **out);
rnnck_status rnnck__pt_reduce(void *ctx, pk_machine *pm, const pk_value *fn, pk_value *args, pk_value **out);
rnnck_status rnnck__pt_parse_pid(pk_machine *pm, const pk_value *pid, const char **key, rnnck_dtype *dtype,
                                 int64_t *numel);
bool rnnck__pt_module_class_pid(const pk_value *pid, pk_value **out);
pt_storage *rnnck__pt_find_storage(const pt_reader *r, const char *key);
rnnck_status rnnck__pt_add_storage(pt_reader *r, const char *key, rnnck_dtype dtype, int64_t numel, pt_storage **out);
rnnck_status rnnck__pt_attach_data(pt_reader *r, pt_storage *e, unsigned char *data, size_t len);

/* pytorch_collect.c: the state_dict (or module) inside what was saved */
rnnck_status rnnck__pt_collect(rnnck__sd *sd, const pk_value *root, const rnnck_open_opts *opts, const char *label);

/* pytorch_legacy.c: torch < 1.6 streams */
rnnck_status rnnck__pt_read_legacy(pt_reader *r, const rnnck_open_opts *opts, rnnck_model **out);

#endif
