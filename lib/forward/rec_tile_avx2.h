/* The AVX2+FMA micro-kernel of rec_gemm.c: same contract as
 * rec_tile_avx512.h with 8-float vectors; included with TILE_MR, TILE_NV and
 * TILE_NAME defined. Partial widths use vmaskmov loads and stores. */
REC_AVX2 static void TILE_NAME(const float *a, const float *h, int64_t ldh, int64_t K, float *z, int64_t ldz,
                               int rows, int width, int accumulate) {
    __m256i mk[TILE_NV];
    _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) {
        int left = width - 8 * v;
        left = left < 0 ? 0 : (left > 8 ? 8 : left);
        /* lane j is on when j < left: compare 0..7 with left */
        mk[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    __m256 acc[TILE_MR][TILE_NV];
    _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)
        _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) acc[i][v] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m256 hv[TILE_NV];
        _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) hv[v] =
            _mm256_maskload_ps(h + k * ldh + 8 * v, mk[v]);
        _mm_prefetch((const char *)(a + 16 * TILE_MR), _MM_HINT_T0);
        _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + i);
            _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) acc[i][v] =
                _mm256_fmadd_ps(av, hv[v], acc[i][v]);
        }
        a += TILE_MR;
    }
    float tile[TILE_MR][8 * TILE_NV];
    _Pragma("GCC unroll 16") for (int i = 0; i < TILE_MR; i++)
        _Pragma("GCC unroll 4") for (int v = 0; v < TILE_NV; v++) _mm256_storeu_ps(&tile[i][8 * v], acc[i][v]);
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < TILE_NV; v++) {
            float *zp = z + i * ldz + 8 * v;
            __m256 r = _mm256_loadu_ps(&tile[i][8 * v]);
            if (accumulate) r = _mm256_add_ps(r, _mm256_maskload_ps(zp, mk[v]));
            _mm256_maskstore_ps(zp, mk[v], r);
        }
}
#undef TILE_MR
#undef TILE_NV
#undef TILE_NAME
