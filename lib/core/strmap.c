#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

rnnck_status rnnck__strmap_init(rnnck__strmap *m, size_t expected, bool owns_keys) {
    memset(m, 0, sizeof *m);
    m->owns_keys = owns_keys;
    size_t slots = 16;
    while (slots < 2 * expected + 2) {
        if (slots > SIZE_MAX / 4 / sizeof(uintptr_t)) return rnnck__oom();
        slots *= 2;
    }
    m->keys = calloc(slots, sizeof *m->keys);
    m->vals = calloc(slots, sizeof *m->vals);
    if (!m->keys || !m->vals) {
        rnnck__strmap_free(m);
        return rnnck__oom();
    }
    m->nslots = slots;
    return RNNCK_OK;
}

void rnnck__strmap_free(rnnck__strmap *m) {
    if (m->owns_keys && m->keys)
        for (size_t i = 0; i < m->nslots; i++) free((char *)m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* The slot holding key[0..len) or the empty slot where it would go. */
static size_t slot_of(const rnnck__strmap *m, const char *key, size_t len) {
    size_t i = (size_t)fnv1a(key, len) & (m->nslots - 1);
    while (m->keys[i] && !(strlen(m->keys[i]) == len && !memcmp(m->keys[i], key, len))) i = (i + 1) & (m->nslots - 1);
    return i;
}

static rnnck_status grow(rnnck__strmap *m) {
    rnnck__strmap big;
    rnnck_status st = rnnck__strmap_init(&big, m->nslots, m->owns_keys);
    if (st) return st;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->keys[i]) {
            size_t j = slot_of(&big, m->keys[i], strlen(m->keys[i]));
            big.keys[j] = m->keys[i];
            big.vals[j] = m->vals[i];
        }
    big.n = m->n;
    free(m->keys);
    free(m->vals);
    *m = big;
    return RNNCK_OK;
}

static rnnck_status put(rnnck__strmap *m, const char *key, uintptr_t val, bool replace, bool *added) {
    if (added) *added = false;
    if (2 * (m->n + 1) > m->nslots) {
        rnnck_status st = grow(m);
        if (st) return st;
    }
    size_t len = strlen(key), i = slot_of(m, key, len);
    if (m->keys[i]) {
        if (replace) m->vals[i] = val;
        return RNNCK_OK;
    }
    const char *k = key;
    if (m->owns_keys && !(k = rnnck__strdup(key))) return rnnck__oom();
    m->keys[i] = k;
    m->vals[i] = val;
    m->n++;
    if (added) *added = true;
    return RNNCK_OK;
}

rnnck_status rnnck__strmap_add(rnnck__strmap *m, const char *key, uintptr_t val, bool *added) {
    return put(m, key, val, false, added);
}

rnnck_status rnnck__strmap_set(rnnck__strmap *m, const char *key, uintptr_t val) { return put(m, key, val, true, NULL); }

bool rnnck__strmap_get_n(const rnnck__strmap *m, const char *key, size_t len, uintptr_t *val) {
    if (!m->nslots) return false;
    size_t i = slot_of(m, key, len);
    if (!m->keys[i]) return false;
    if (val) *val = m->vals[i];
    return true;
}

bool rnnck__strmap_get(const rnnck__strmap *m, const char *key, uintptr_t *val) {
    return rnnck__strmap_get_n(m, key, strlen(key), val);
}
