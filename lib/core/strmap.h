/* A string-keyed hash map (open addressing, FNV-1a) for readers that look
 * names up: every lookup is O(length of the name), so a reader that resolves
 * n names against m entries does n + m work, not n * m (docs/BUDGETS.md).
 * Keys are borrowed unless the map owns them (copied on insert). Not
 * installed. */
#ifndef RNNCK_STRMAP_H
#define RNNCK_STRMAP_H

#include "core/internal.h"

typedef struct rnnck__strmap {
    const char **keys;
    uintptr_t *vals;
    size_t nslots, n;
    bool owns_keys;
} rnnck__strmap;

/* An empty map sized for about `expected` keys. */
rnnck_status rnnck__strmap_init(rnnck__strmap *m, size_t expected, bool owns_keys);
void rnnck__strmap_free(rnnck__strmap *m);
/* Adds key -> val unless key is there (the first insert wins: ONNX and
 * Python resolve the first of duplicate names). *added says which. */
rnnck_status rnnck__strmap_add(rnnck__strmap *m, const char *key, uintptr_t val, bool *added);
/* Sets key -> val, replacing. */
rnnck_status rnnck__strmap_set(rnnck__strmap *m, const char *key, uintptr_t val);
/* The value of key, or false when absent. */
bool rnnck__strmap_get(const rnnck__strmap *m, const char *key, uintptr_t *val);
/* The same for the first len bytes of key (no NUL needed). */
bool rnnck__strmap_get_n(const rnnck__strmap *m, const char *key, size_t len, uintptr_t *val);

#endif
