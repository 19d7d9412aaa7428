/* PLACEHOLDER — replaced by the reference forward pass. */
#include "internal.h"
rnnck_status rnnck_forward(rnnck_model *m, size_t module, const rnnck_tensor *input, const rnnck_tensor *h0, const rnnck_tensor *c0, const rnnck_tensor *lengths, const rnnck_forward_opts *opts, rnnck_tensor **output, rnnck_tensor **h_n, rnnck_tensor **c_n) { (void)m; (void)module; (void)input; (void)h0; (void)c0; (void)lengths; (void)opts; (void)output; (void)h_n; (void)c_n; return rnnck__err(RNNCK_E_UNSUPPORTED, "not implemented yet"); }
