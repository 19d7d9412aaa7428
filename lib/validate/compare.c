/* Element-wise comparison of two outputs: absolute, relative and ULP error,
 * and where the largest error sits. */
#include "validate/validate_internal.h"

#include <math.h>
#include <string.h>

void rnnck__stats_init(rnnck_error_stats *s) {
    memset(s, 0, sizeof *s);
    s->where_t = s->where_b = s->where_unit = -1;
}

/* Maps a float's bits to an integer that orders like the float, so the
 * difference of two mapped values counts the representable floats between
 * them (both zeros map to 0). */
static int64_t ordered_f32(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : (int64_t)i;
}
static double ordered_f64_diff(double a, double b) {
    int64_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    /* Signed magnitude -> two's complement order, kept in long double to
     * avoid overflow when the signs differ. */
    long double oa = ia < 0 ? -(long double)(ia & INT64_MAX) : (long double)ia;
    long double ob = ib < 0 ? -(long double)(ib & INT64_MAX) : (long double)ib;
    return (double)fabsl(oa - ob);
}

double rnnck__ulp_distance(double a, double b, rnnck_dtype dtype) {
    if (isnan(a) || isnan(b)) return (isnan(a) && isnan(b)) ? 0.0 : INFINITY;
    if (dtype == RNNCK_F64) return ordered_f64_diff(a, b);
    float fa = (float)a, fb = (float)b;
    if (isinf(fa) || isinf(fb)) return fa == fb ? 0.0 : INFINITY;
    int64_t d = ordered_f32(fa) - ordered_f32(fb);
    return (double)(d < 0 ? -d : d);
}

/* |a-b|, treating identical non-finite values as equal and any other
 * non-finite pair as an infinite error. */
static double abs_err(double a, double b) {
    if (!isfinite(a) || !isfinite(b)) {
        if ((isnan(a) && isnan(b)) || a == b) return 0.0;
        return INFINITY;
    }
    return fabs(a - b);
}

static int within(double a, double err, const rnnck__tol *tol) {
    if (isinf(err)) return 0;
    return err <= tol->atol + tol->rtol * (isfinite(a) ? fabs(a) : 0.0);
}

void rnnck__compare_slice(const double *a, const double *b, int64_t T, int64_t B, int64_t W, int64_t col0,
                          int64_t width, const rnnck__tol *tol, int t_is_state, rnnck_error_stats *s,
                          double *step_max) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t bb = 0; bb < B; bb++) {
            const double *ra = a + (t * B + bb) * W + col0, *rb = b + (t * B + bb) * W + col0;
            for (int64_t u = 0; u < width; u++) {
                double err = abs_err(ra[u], rb[u]);
                double rel = err == 0.0 ? 0.0 : err / fabs(ra[u]); /* x/0 = Inf */
                if (isnan(rel)) rel = INFINITY;
                double ulp = rnnck__ulp_distance(ra[u], rb[u], tol->ulp_dtype);
                if (s->count == 0 || err > s->max_abs) {
                    s->max_abs = err;
                    s->where_t = t_is_state ? -1 : t;
                    s->where_b = bb;
                    s->where_unit = u;
                }
                if (rel > s->max_rel) s->max_rel = rel;
                if (ulp > s->max_ulp) s->max_ulp = ulp;
                if (!within(ra[u], err, tol)) s->failures++;
                s->count++;
                if (step_max && err > step_max[t]) step_max[t] = err;
            }
        }
}

double rnnck__max_abs(const double *a, const double *b, int64_t n, const rnnck__tol *tol, int *all_pass) {
    double m = 0.0;
    int pass = 1;
    for (int64_t i = 0; i < n; i++) {
        double err = abs_err(a[i], b[i]);
        if (err > m) m = err;
        if (pass && !within(a[i], err, tol)) pass = 0;
    }
    *all_pass = pass;
    return m;
}
