/* PLACEHOLDER — replaced by the HDF5 schema implementation. */
#include "internal.h"
void rnnck_limits_init(rnnck_limits *l) { l->max_tensors = 100000; l->max_tensor_bytes = (int64_t)16 << 30; l->max_dim = (int64_t)1 << 31; }
rnnck_status rnnck_load(const char *path, const rnnck_limits *limits, rnnck_model **out) { (void)limits; (void)out; return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: not implemented yet", path); }
rnnck_status rnnck_save(rnnck_model *m, const char *path) { (void)m; return rnnck__err(RNNCK_E_UNSUPPORTED, "%s: not implemented yet", path); }
