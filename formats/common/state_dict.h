/* From a flat list of named tensors (a PyTorch state_dict, an npz archive) to
 * a model: recurrent modules found from parameter names and shapes, or taken
 * from descriptions a reader found (whole-module pickles); user overrides
 * (opts->sets) applied; and the reverse for writers. Not installed. */
#ifndef RNNCK_STATE_DICT_H
#define RNNCK_STATE_DICT_H

#include "core/internal.h"

typedef struct rnnck__sd_entry {
    char *name;
    rnnck_tensor *t; /* loaded; owned reference */
} rnnck__sd_entry;

typedef struct rnnck__sd {
    rnnck__sd_entry *items;
    size_t n, cap;
    rnnck_module_info *mods; /* descriptions known from the file (name owned) */
    size_t nmods, modcap;
    int64_t max_tensors; /* checked as entries arrive (limits.max_tensors) */
    const char *label;   /* the file, for messages (borrowed) */
} rnnck__sd;

/* Empty list that refuses more entries than the caller's max_tensors (opts
 * may be NULL: the default); label names the file in messages. */
void rnnck__sd_init_for(rnnck__sd *sd, const rnnck_open_opts *opts, const char *label);
void rnnck__sd_free(rnnck__sd *sd);
/* Adds `t` under `name`: the list keeps its own view of t's data, so one
 * tensor may be listed under several names (tied weights). */
rnnck_status rnnck__sd_add_tensor(rnnck__sd *sd, const char *name, rnnck_tensor *t);
/* A second tensor header over t's storage (same view, same source key):
 * a model can take it while t stays with its list. Caller frees. */
rnnck_status rnnck__tensor_alias(const rnnck_tensor *t, rnnck_tensor **out);
/* Records a recurrent module described by the file itself (copied). */
rnnck_status rnnck__sd_add_module(rnnck__sd *sd, const rnnck_module_info *info);
/* Builds the model. `label` (the file) prefixes messages. Every tensor whose
 * name looks like a recurrent parameter must belong to a consistent module;
 * RNNCK_E_FORMAT names the first inconsistency. opts->sets is applied;
 * RNNCK_E_USAGE for an override that names no module or attribute. */
rnnck_status rnnck__sd_build(rnnck__sd *sd, const char *label, const rnnck_open_opts *opts, rnnck_model **out);

/* Overrides (opts->sets): "[MODULE.]ATTR=VALUE" split into module ("" for
 * none) and attr, both in key, and value (in set). RNNCK_E_USAGE naming
 * label when malformed or RNNCK__SET_MAX bytes or longer. */
#define RNNCK__SET_MAX 1024
rnnck_status rnnck__split_set(const char *set, const char *label, char key[RNNCK__SET_MAX], const char **module,
                              const char **attr, const char **value);
/* 1 for true/True/1, 0 for false/False/0, -1 otherwise. */
int rnnck__parse_bool(const char *v);

/* ---- export (writers keyed by PyTorch names) ---- */
/* RNNCK_OK if every module of m means exactly torch.nn semantics, or differs
 * only by an LSTM run-time forget_bias (which export folds into bias_ih);
 * else RNNCK_E_INEXACT naming the module and the feature. */
rnnck_status rnnck__export_check(const rnnck_model *m, const char *label);
/* Tensor i of m as a new C-contiguous buffer in its own dtype (caller frees),
 * loading it from the model's source if needed, with a forget_bias folded
 * into the f block when tensor i is such a module's bias_ih. */
rnnck_status rnnck__export_tensor(rnnck_model *m, size_t i, void **data, size_t *nbytes);
/* Where tensor i of m lies verbatim in its source file, as exported (no
 * forget_bias to fold into it): rnnck__model_locate's answer, so a writer
 * can copy it file to file with rnnck__export_copy (a rnnck__zipw_copier
 * taking the filled-in rnnck__export_extent) and the label naming the
 * output. RNNCK_E_UNSUPPORTED: use rnnck__export_tensor. */
typedef struct {
    rnnck_model *m;
    const rnnck_tensor *t;
    rnnck__extent at;
    const char *label;
} rnnck__export_extent;
rnnck_status rnnck__export_locate(rnnck_model *m, size_t i, const char *label, rnnck__export_extent *x);
rnnck_status rnnck__export_copy(void *x, int out_fd, uint64_t out_off, uint32_t *crc);
/* Tensor i of m as it is (no fold): a new C-contiguous buffer in its own
 * dtype (caller frees), loaded from the model's source if needed. */
rnnck_status rnnck__tensor_bytes(rnnck_model *m, size_t i, void **data, size_t *nbytes);
/* Copies the elements of a loaded, possibly strided tensor into dst in C
 * order, byte for byte (bit-exact for every dtype). */
void rnnck__strided_copy(const rnnck_tensor *t, void *dst);

#endif
