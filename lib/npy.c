/* PLACEHOLDER — replaced by the .npy reader/writer. */
#include "internal.h"
rnnck_status rnnck_npy_load(const char *path, rnnck_tensor **out) { (void)out; return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: not implemented yet", path); }
rnnck_status rnnck_npy_parse(const void *buf, size_t len, const char *what, rnnck_tensor **out) { (void)buf; (void)len; (void)out; return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: not implemented yet", what); }
rnnck_status rnnck_npy_save(const rnnck_tensor *t, const char *path) { (void)t; return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: not implemented yet", path); }
