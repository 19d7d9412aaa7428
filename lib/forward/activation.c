/* Activation functions of the forward pass, applied in place to a contiguous
 * run of gate pre-activations. One switch per run, then a plain loop the
 * compiler can vectorise. */
#include "forward/forward_internal.h"

/* The gate loops must vectorise even in -O2 builds: O3 turns the vectoriser
 * fully on, and without trapping-math GCC may if-convert the selects below
 * (clamps, tanh's small/large branches). Nothing here reads FP exception
 * flags or errno. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3", "no-trapping-math", "no-math-errno")
#endif

#include <math.h>
#include <string.h>

/* e^x for float without a libm call, so loops over it vectorise: x = n*ln2 + r
 * with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial (truncation error
 * below 1e-8 relative), 2^n assembled in the exponent bits. Inputs are clamped
 * to the range where 2^n stays a normal float; callers only need that range
 * (sigmoid and tanh saturate long before). */
static inline float fast_expf(float x0) {
    /* Clamp, sending NaN to a finite value so the float->int conversion below
     * is defined; the NaN itself is given back at the end. */
    float x = x0 > -87.0f ? x0 : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    /* Round to nearest with the 1.5*2^23 trick: vectorises without SSE4.1. */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    /* ln2 split so n*LN2_HI is exact (Cody-Waite reduction). */
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x0 == x0 ? p * scale : x0;
}

static inline float fast_sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

static inline float fast_tanhf(float x) {
    float ax = fabsf(x);
    float t = fast_expf(-2.0f * ax);
    float large = (1.0f - t) / (1.0f + t);
    /* Near 0, 1 - e^-2|x| cancels; the odd series keeps full relative accuracy. */
    float x2 = x * x;
    float small = ax * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
    return copysignf(ax < 0.0625f ? small : large, x);
}

/* Static, so the clones' ifunc resolver is not exported from the shared
 * library; rnnck__act_f32 below is a plain wrapper. */
RNNCK_VECTOR_CLONES
static void act_f32(rnnck_activation a, float *x, int64_t n) {
    const float alpha = (float)a.alpha, beta = (float)a.beta;
    switch (a.kind) {
    case RNNCK_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) x[i] = fast_sigmoidf(x[i]);
        break;
    case RNNCK_ACT_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = fast_tanhf(x[i]);
        break;
    case RNNCK_ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case RNNCK_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float v = alpha * x[i] + beta;
            x[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    case RNNCK_ACT_AFFINE:
        for (int64_t i = 0; i < n; i++) x[i] = alpha * x[i] + beta;
        break;
    case RNNCK_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
        break;
    case RNNCK_ACT_THRESHOLDED_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > alpha ? x[i] : 0.0f;
        break;
    case RNNCK_ACT_SCALED_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = alpha * fast_tanhf(beta * x[i]);
        break;
    case RNNCK_ACT_ELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0f ? alpha * expm1f(x[i]) : x[i];
        break;
    case RNNCK_ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case RNNCK_ACT_SOFTPLUS:
        /* log(1+e^x) = max(x,0) + log1p(e^-|x|): no overflow for large x. */
        for (int64_t i = 0; i < n; i++) x[i] = fmaxf(x[i], 0.0f) + log1pf(expf(-fabsf(x[i])));
        break;
    default: break; /* validated by rnnck_module_info_validate */
    }
}

void rnnck__act_f32(rnnck_activation a, float *x, int64_t n) { act_f32(a, x, n); }

void rnnck__act_f64(rnnck_activation a, double *x, int64_t n) {
    const double alpha = a.alpha, beta = a.beta;
    switch (a.kind) {
    case RNNCK_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) x[i] = 1.0 / (1.0 + exp(-x[i]));
        break;
    case RNNCK_ACT_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = tanh(x[i]);
        break;
    case RNNCK_ACT_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0.0 ? x[i] : 0.0;
        break;
    case RNNCK_ACT_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            double v = alpha * x[i] + beta;
            x[i] = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
        }
        break;
    case RNNCK_ACT_AFFINE:
        for (int64_t i = 0; i < n; i++) x[i] = alpha * x[i] + beta;
        break;
    case RNNCK_ACT_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0 ? alpha * x[i] : x[i];
        break;
    case RNNCK_ACT_THRESHOLDED_RELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > alpha ? x[i] : 0.0;
        break;
    case RNNCK_ACT_SCALED_TANH:
        for (int64_t i = 0; i < n; i++) x[i] = alpha * tanh(beta * x[i]);
        break;
    case RNNCK_ACT_ELU:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] < 0.0 ? alpha * expm1(x[i]) : x[i];
        break;
    case RNNCK_ACT_SOFTSIGN:
        for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1.0 + fabs(x[i]));
        break;
    case RNNCK_ACT_SOFTPLUS:
        for (int64_t i = 0; i < n; i++) x[i] = fmax(x[i], 0.0) + log1p(exp(-fabs(x[i])));
        break;
    default: break;
    }
}
