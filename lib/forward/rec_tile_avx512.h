/* One AVX-512 micro-kernel of rec_gemm.c, instantiated per tile shape:
 * included with TILE_MR (rows), TILE_NV (16-float vectors across the batch)
 * and TILE_NAME defined. z[0:rows, 0:width] += A . h[0:K, 0:width] (= when
 * !accumulate), where A is
 * one packed panel (K, TILE_MR). Masked loads and stores handle width < 16 *
 * TILE_NV; all TILE_MR x TILE_NV accumulators stay in zmm registers (the
 * pragmas make GCC unroll fully; without them it spilled them every step). */
REC_AVX512 static void TILE_NAME(const float *a, const float *h, int64_t ldh, int64_t K, float *z, int64_t ldz,
                                 int rows, int width, int accumulate) {
    __mmask16 mk[TILE_NV];
    _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) {
        int left = width - 16 * v;
        mk[v] = left >= 16 ? (__mmask16)0xffff : (left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1));
    }
    __m512 acc[TILE_MR][TILE_NV];
    _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)
        _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) acc[i][v] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m512 hv[TILE_NV];
        _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) hv[v] =
            _mm512_maskz_loadu_ps(mk[v], h + k * ldh + 16 * v);
        _mm_prefetch((const char *)(a + 16 * TILE_MR), _MM_HINT_T0);
        _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) acc[i][v] =
                _mm512_fmadd_ps(av, hv[v], acc[i][v]);
        }
        a += TILE_MR;
    }
    if (rows == TILE_MR) {
        _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)
            _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) {
                float *zp = z + i * ldz + 16 * v;
                __m512 r = accumulate ? _mm512_add_ps(acc[i][v], _mm512_maskz_loadu_ps(mk[v], zp)) : acc[i][v];
                _mm512_mask_storeu_ps(zp, mk[v], r);
            }
        return;
    }
    /* The last panel of a matrix: spill, then add only the real rows (indexing
     * acc by a run-time row count would move it to memory for the whole loop). */
    float tile[TILE_MR][16 * TILE_NV];
    _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)
        _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) _mm512_storeu_ps(&tile[i][16 * v], acc[i][v]);
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < TILE_NV; v++) {
            float *zp = z + i * ldz + 16 * v;
            __m512 r = _mm512_loadu_ps(&tile[i][16 * v]);
            if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mk[v], zp));
            _mm512_mask_storeu_ps(zp, mk[v], r);
        }
}
#undef TILE_MR
#undef TILE_NV
#undef TILE_NAME
