#include "onnx/onnx_internal.h"
rnnck_status rnnck__onnx_write(rnnck_model *m, const char *path) { (void)m; (void)path; return RNNCK_E_UNSUPPORTED; }
