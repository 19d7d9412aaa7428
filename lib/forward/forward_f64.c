/* The forward kernel in double precision. */
/* Vectorise the element-wise gate loops even in -O2 builds (see activation.c). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math", "no-math-errno")
#endif
#define REAL double
#define FWD(name) name##_f64
#define ACT rnnck__act_f64
#define RNNCK_DT RNNCK_F64
#include "forward/forward_kernel.h"
