/* Crafting torch.save-style archives with hand-written pickles, for tests of
 * hostile inputs: the protocol-2 opcodes torch emits, a _rebuild_tensor_v2
 * tensor, and a zip of archive/{data.pkl,byteorder,data/N,version} (data.pkl
 * stored or deflated). Real torch 1.13 loads what pkb_basic_state_dict makes. */
#ifndef RNNCK_PTCRAFT_H
#define RNNCK_PTCRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pkb {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} pkb;

void pkb_free(pkb *b);
void pkb_raw(pkb *b, const void *data, size_t len);
void pkb_op(pkb *b, unsigned char op);                  /* one opcode byte */
void pkb_repeat(pkb *b, const void *data, size_t len, size_t times);
void pkb_proto2(pkb *b);                                /* \x80\x02 */
void pkb_str(pkb *b, const char *s);                    /* BINUNICODE */
void pkb_put(pkb *b, uint32_t i);                       /* LONG_BINPUT */
void pkb_get(pkb *b, uint32_t i);                       /* LONG_BINGET */
void pkb_binget(pkb *b, unsigned char i);               /* BINGET (2 bytes) */
void pkb_global(pkb *b, const char *module, const char *name);
void pkb_long(pkb *b, int64_t v);                       /* LONG1, 8 bytes */
/* _rebuild_tensor_v2 of a float32 storage `key` (numel elements), shape and
 * contiguous strides given by ndim/shape. */
void pkb_tensor(pkb *b, const char *key, int64_t numel, int ndim, const int64_t *shape);

typedef struct pt_storage_spec {
    const char *key;
    const void *data;
    size_t len;
} pt_storage_spec;

/* Writes the archive; `prefix` is the archive's top folder (NULL: "archive").
 * Returns 0 on success. */
int pt_write(const char *path, const pkb *pickle, const pt_storage_spec *storages, size_t nstorages,
             bool deflate_pickle, const char *prefix);

/* ---- hostile pickles of the budget tests (docs/BUDGETS.md) ---- */
/* Protocol 2, then a one-float tensor of storage "0" memoised at `memo` and
 * popped: later entries refer to it with pkb_get(memo). */
void pkb_begin_with_tensor(pkb *b, uint32_t memo);
/* A list of n items (memoised None) appended k times to another list: the
 * unpickler's cycle check used to cost n*k. */
void pkb_cycle_check(pkb *b, size_t n, size_t k);
/* A torch.nn.Module object whose _buffers table has n entries (names b<i>,
 * or all "b0" unless distinct) against a _non_persistent_buffers_set of m
 * memoised strings: compared n*m before. */
void pkb_skip_set(pkb *b, size_t n, size_t m, bool distinct);
/* A dict of n names m<i>.weight_ih_l0, each its own module prefix, all
 * naming one memoised tensor. */
void pkb_module_prefixes(pkb *b, size_t n);
/* Writes the pickle with the one-float storage "0" (1.0f). */
int pt_write_one_float(const char *path, const pkb *pickle, bool deflate_pickle);

#endif
