/* Small dense linear algebra for the initialisers: the orthogonal factor of a
 * Householder QR, with the sign convention torch.nn.init.orthogonal_ uses. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Thin QR of the m x n matrix a (m >= n), stored column-major (column j is
 * a[j*m .. j*m+m-1]). On return a holds the thin Q (m x n, column-major) with
 * every column multiplied by sign(R[j][j]), i.e. the unique factor whose R has
 * a positive diagonal. v (m*n) and beta (n) are scratch. */
static void householder_q(double *a, int64_t m, int64_t n, double *v, double *beta, double *rdiag) {
    for (int64_t k = 0; k < n; k++) {
        double *col = a + k * m;
        double *vk = v + k * m; /* reflector k lives in rows k..m-1 */
        double norm2 = 0;
        for (int64_t i = k; i < m; i++) norm2 += col[i] * col[i];
        double norm = sqrt(norm2);
        /* alpha takes the sign opposite to col[k] so that v = x - alpha e1
         * never cancels. */
        double alpha = col[k] >= 0 ? -norm : norm;
        for (int64_t i = k; i < m; i++) vk[i] = col[i];
        vk[k] -= alpha;
        double vv = 0;
        for (int64_t i = k; i < m; i++) vv += vk[i] * vk[i];
        beta[k] = vv > 0 ? 2.0 / vv : 0.0;
        rdiag[k] = alpha;
        for (int64_t j = k + 1; j < n; j++) {
            double *cj = a + j * m;
            double s = 0;
            for (int64_t i = k; i < m; i++) s += vk[i] * cj[i];
            s *= beta[k];
            for (int64_t i = k; i < m; i++) cj[i] -= s * vk[i];
        }
    }
    /* Q = H_0 H_1 ... H_{n-1} [I_n; 0]: apply the reflectors last to first to
     * the first n columns of the identity. */
    memset(a, 0, sizeof *a * (size_t)(m * n));
    for (int64_t j = 0; j < n; j++) a[j * m + j] = 1.0;
    for (int64_t k = n - 1; k >= 0; k--) {
        const double *vk = v + k * m;
        for (int64_t j = k; j < n; j++) { /* columns j < k are untouched by H_k */
            double *cj = a + j * m;
            double s = 0;
            for (int64_t i = k; i < m; i++) s += vk[i] * cj[i];
            s *= beta[k];
            for (int64_t i = k; i < m; i++) cj[i] -= s * vk[i];
        }
    }
    for (int64_t j = 0; j < n; j++)
        if (rdiag[j] < 0)
            for (int64_t i = 0; i < m; i++) a[j * m + i] = -a[j * m + i];
}

rnnck_status rnnck__orthogonal_factor(const double *src, int64_t rows, int64_t cols, double *dst) {
    if (rows < 1 || cols < 1) return rnnck__err(RNNCK_E_USAGE, "orthogonal factor of an empty matrix");
    /* Work on the tall orientation: (m x n) with m >= n. */
    int transposed = rows < cols;
    int64_t m = transposed ? cols : rows, n = transposed ? rows : cols;
    size_t mn, bytes;
    if (rnnck__mul_overflow_size((size_t)m, (size_t)n, &mn) || rnnck__mul_overflow_size(mn, 2 * sizeof(double), &bytes) ||
        rnnck__add_overflow_size(bytes, 2 * (size_t)n * sizeof(double), &bytes))
        return rnnck__err(RNNCK_E_NOMEM, "orthogonal block of %lld x %lld is too large", (long long)rows,
                          (long long)cols);
    double *work = malloc(bytes);
    if (!work) return rnnck__err(RNNCK_E_NOMEM, "cannot allocate %zu bytes for an orthogonal block", bytes);
    double *a = work, *v = work + mn, *beta = v + mn, *rdiag = beta + n;
    /* Column-major tall matrix: element (i, j) of the tall matrix is src
     * (i, j) when not transposed, src (j, i) when transposed; src is
     * row-major rows x cols. */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            double x = src[r * cols + c];
            if (transposed) a[r * m + c] = x; /* tall (c, r), column r */
            else a[c * m + r] = x;            /* tall (r, c), column c */
        }
    householder_q(a, m, n, v, beta, rdiag);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) dst[r * cols + c] = transposed ? a[r * m + c] : a[c * m + r];
    free(work);
    return RNNCK_OK;
}
