/* The forward kernel in single precision. */
/* Vectorise the element-wise gate loops even in -O2 builds (see activation.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math", "no-math-errno")
#endif
#define REAL float
#define FWD(name) name##_f32
#define ACT rnnck__act_f32
#define RNNCK_DT RNNCK_F32
#define FWD_PACKED 1 /* recurrent products by rec_gemm.c */
#include "forward/forward_kernel.h"
