/* The recurrent kernel, written once for float and double. Included by
 * forward_f32.c / forward_f64.c after defining:
 *   REAL        float or double
 *   FWD(name)   name with the precision suffix
 *   GEMM, GEMV  cblas_sgemm/cblas_dgemm, cblas_sgemv/cblas_dgemv
 *   ACT         rnnck__act_f32 / rnnck__act_f64
 *   RNNCK_DT    RNNCK_F32 / RNNCK_F64
 *
 * Per layer: one GEMM projects the input of ALL time steps for BOTH
 * directions (weights stacked); then per step one recurrent GEMM (two for a
 * GRU with the reset before the product) and the gate maths as a few long
 * vectorised loops over the whole (gates, batch) block. Biases are folded
 * once per layer. All buffers are allocated once per call; nothing is
 * allocated inside the time loop. (Projecting the input in cache-sized
 * chunks of steps instead was measured slower: OpenBLAS repacks W_ih for
 * every chunk.)
 *
 * Variable lengths: at step s a batch row is active while s < its length;
 * the forward direction reads time s, the reverse direction time len-1-s, so
 * each sequence's reverse pass starts at its own last step. Finished rows go
 * through the same arithmetic but their state is never committed, so h_n/c_n
 * keep the last valid step and their outputs stay zero. */
#include "forward_internal.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Parameters of one layer, converted to the compute dtype. */
typedef struct FWD(layer) {
    REAL *w_ih;     /* (D*GH, I_l): both directions stacked */
    REAL *w_hh[2];  /* (GH, H_out) */
    REAL *b_x[2];   /* (GH): b_ih + b_hh, except GRU lbr=1 where the n block is b_in only */
    REAL *b_hn[2];  /* (H): GRU lbr=1 recurrent n bias, applied inside r*(...) */
    REAL *w_hr[2];  /* (P, H) projection */
    REAL *peep[2];  /* (3H): i, f, o */
} FWD(layer);

/* Sizes of the run and its workspace. Inside a direction the state and the
 * gates are kept TRANSPOSED, feature-major: hT (H_out, B), cT (H, B), gates
 * (GH, B). The per-step GEMM is then W_hh . hT, the BLAS layout that packs
 * fastest, and every gate loop runs over H*B contiguous values. */
typedef struct FWD(ctx) {
    const rnnck__fwd_run *run;
    const rnnck_module_info *info;
    int64_t T, B, TB, H, P, G, GH, D, L;
    int lstm, gru, lbr;
    REAL fb, clip;
    /* workspace */
    REAL *gx;      /* (T*B, D*GH) input projections of every step */
    REAL *z;       /* (GH, B) gates of one step */
    REAL *hT;      /* (P, B) */
    REAL *cT;      /* (H, B) */
    REAL *hnew;    /* (max(P, H), B) candidate new h (projected, or GRU r*h) */
    REAL *m;       /* (H, B) LSTM o*act(c) */
    REAL *tmp;     /* (H, B) */
    int64_t *col;  /* (B) row of gx (= t*B + b) each batch row reads at this step */
    unsigned char *active; /* (B) 1 while the row's sequence runs */
    REAL *ybuf[2]; /* (T*B, D*P) intermediate layer outputs */
    REAL *params;  /* one block holding a layer's parameters */
    FWD(layer) lp;
} FWD(ctx);

/* Copies one parameter into dst in the compute dtype (loading lazily). */
static rnnck_status FWD(fetch)(FWD(ctx) *c, rnnck_param kind, int64_t layer, int rev, REAL *dst, size_t n) {
    rnnck_tensor *t;
    rnnck_status st = rnnck_model_param(c->run->m, c->run->module, kind, layer, rev, &t);
    if (!st && !rnnck__tensor_loaded(t)) st = rnnck_model_load_tensor(c->run->m, t);
    if (!st) st = rnnck_tensor_copy_out(t, RNNCK_DT, dst, n * sizeof(REAL));
    return st;
}

static rnnck_status FWD(load_layer)(FWD(ctx) *c, int64_t l) {
    const rnnck_module_info *info = c->info;
    int64_t in = rnnck__layer_input(info, l), GH = c->GH, H = c->H, P = c->P;
    REAL *p = c->params;
    FWD(layer) *lp = &c->lp;
    memset(lp, 0, sizeof *lp);
    lp->w_ih = p;
    p += c->D * GH * in;
    for (int d = 0; d < c->D; d++) {
        rnnck_status st = FWD(fetch)(c, RNNCK_PARAM_WEIGHT_IH, l, d, lp->w_ih + d * GH * in, (size_t)(GH * in));
        if (st) return st;
        lp->w_hh[d] = p;
        p += GH * P;
        if ((st = FWD(fetch)(c, RNNCK_PARAM_WEIGHT_HH, l, d, lp->w_hh[d], (size_t)(GH * P)))) return st;
        lp->b_x[d] = p;
        p += GH;
        lp->b_hn[d] = p;
        p += H;
        memset(lp->b_x[d], 0, sizeof(REAL) * (size_t)(GH + H));
        if (info->bias) {
            REAL *bhh = p; /* scratch for b_hh, overwritten below by later params */
            if ((st = FWD(fetch)(c, RNNCK_PARAM_BIAS_IH, l, d, lp->b_x[d], (size_t)GH))) return st;
            if ((st = FWD(fetch)(c, RNNCK_PARAM_BIAS_HH, l, d, bhh, (size_t)GH))) return st;
            /* Folding b_hh into the input bias is exact maths; GRU lbr=1 keeps
             * b_hn apart because the reset gate multiplies it. */
            int64_t fold = (c->gru && c->lbr) ? 2 * H : GH;
            for (int64_t k = 0; k < fold; k++) lp->b_x[d][k] += bhh[k];
            if (fold < GH) memcpy(lp->b_hn[d], bhh + fold, sizeof(REAL) * (size_t)H);
        }
        if (P != H) {
            lp->w_hr[d] = p;
            p += P * H;
            if ((st = FWD(fetch)(c, RNNCK_PARAM_WEIGHT_HR, l, d, lp->w_hr[d], (size_t)(P * H)))) return st;
        }
        if (info->peepholes) {
            lp->peep[d] = p;
            p += 3 * H;
            if ((st = FWD(fetch)(c, RNNCK_PARAM_PEEPHOLE, l, d, lp->peep[d], (size_t)(3 * H)))) return st;
        }
    }
    return RNNCK_OK;
}

/* C(M, N) = A(M, K) . B(K, N), all row-major; GEMV when N == 1. */
static void FWD(gemm_nn)(int64_t M, int64_t N, int64_t K, const REAL *a, int64_t lda, const REAL *b, int64_t ldb,
                         REAL *c, int64_t ldc) {
    if (N == 1)
        GEMV(CblasRowMajor, CblasNoTrans, (int)M, (int)K, 1, a, (int)lda, b, (int)ldb, 0, c, (int)ldc);
    else
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1, a, (int)lda, b, (int)ldb, 0, c,
             (int)ldc);
}

/* C(M, N) = A(M, K) . B(N, K)^T; GEMV when N == 1. */
static void FWD(gemm_nt)(int64_t M, int64_t N, int64_t K, const REAL *a, int64_t lda, const REAL *b, int64_t ldb,
                         REAL *c, int64_t ldc) {
    if (N == 1)
        GEMV(CblasRowMajor, CblasNoTrans, (int)M, (int)K, 1, a, (int)lda, b, 1, 0, c, (int)ldc);
    else
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1, a, (int)lda, b, (int)ldb, 0, c,
             (int)ldc);
}

static void FWD(clip)(REAL *x, int64_t n, REAL lim) {
    if (lim <= 0) return;
    for (int64_t i = 0; i < n; i++) x[i] = x[i] < -lim ? -lim : (x[i] > lim ? lim : x[i]);
}

/* z[k, b] += gx[col[b], d*GH + k] + bias[k] for gate rows [k0, k1): a
 * transposing add, reading each batch row's projections contiguously. */
RNNCK_VECTOR_CLONES
static void FWD(add_input)(FWD(ctx) *c, int d, int64_t k0, int64_t k1) {
    const int64_t B = c->B, ld = c->D * c->GH;
    const REAL *bx = c->lp.b_x[d];
    if (B == 1) {
        const REAL *g = c->gx + c->col[0] * ld + d * c->GH;
        for (int64_t k = k0; k < k1; k++) c->z[k] += g[k] + bx[k];
        return;
    }
    /* Blocks of 16 gate rows keep the strided writes to z within a few
     * cache lines while each gx row is streamed. */
    for (int64_t kb = k0; kb < k1; kb += 16) {
        int64_t ke = kb + 16 < k1 ? kb + 16 : k1;
        for (int64_t b = 0; b < B; b++) {
            const REAL *g = c->gx + c->col[b] * ld + d * c->GH;
            for (int64_t k = kb; k < ke; k++) c->z[k * B + b] += g[k] + bx[k];
        }
    }
}

/* dst[k, b] = src[k, b] for rows [0, rows) and every active column b. */
RNNCK_VECTOR_CLONES
static void FWD(commit)(FWD(ctx) *c, REAL *dst, const REAL *src, int64_t rows, bool all_active) {
    const int64_t B = c->B;
    if (all_active) {
        memcpy(dst, src, sizeof(REAL) * (size_t)(rows * B));
        return;
    }
    for (int64_t k = 0; k < rows; k++)
        for (int64_t b = 0; b < B; b++)
            if (c->active[b]) dst[k * B + b] = src[k * B + b];
}

/* LSTM step on the transposed gates; leaves the new h in c->hnew / c->m. */
RNNCK_VECTOR_CLONES
static const REAL *FWD(lstm_step)(FWD(ctx) *c, int d, bool all_active) {
    const int64_t H = c->H, B = c->B, HB = H * B;
    const REAL *pp = c->lp.peep[d];
    const rnnck_activation *act = c->info->act[d];
    REAL *zi = c->z, *zf = zi + HB, *zg = zf + HB, *zo = zg + HB, *cs = c->cT;
    if (pp)
        for (int64_t k = 0; k < H; k++)
            for (int64_t b = 0; b < B; b++) {
                zi[k * B + b] += pp[k] * cs[k * B + b];
                zf[k * B + b] += pp[H + k] * cs[k * B + b];
            }
    /* TF1's forget_bias is part of the f pre-activation, so an ONNX clip
     * would bound it too (no framework has both). */
    if (c->fb != 0)
        for (int64_t i = 0; i < HB; i++) zf[i] += c->fb;
    FWD(clip)(zi, 3 * HB, c->clip);
    ACT(act[0], zi, 2 * HB); /* i and f: adjacent blocks, one activation */
    if (c->info->input_forget)
        for (int64_t i = 0; i < HB; i++) zi[i] = 1 - zf[i];
    ACT(act[1], zg, HB);
    REAL *cn = c->tmp;
    for (int64_t i = 0; i < HB; i++) cn[i] = zf[i] * cs[i] + zi[i] * zg[i];
    FWD(commit)(c, cs, cn, H, all_active);
    if (pp)
        for (int64_t k = 0; k < H; k++)
            for (int64_t b = 0; b < B; b++) zo[k * B + b] += pp[2 * H + k] * cs[k * B + b];
    FWD(clip)(zo, HB, c->clip);
    ACT(act[0], zo, HB);
    memcpy(cn, cs, sizeof(REAL) * (size_t)HB);
    ACT(act[2], cn, HB);
    for (int64_t i = 0; i < HB; i++) c->m[i] = zo[i] * cn[i];
    if (c->P == H) return c->m;
    FWD(gemm_nn)(c->P, B, H, c->lp.w_hr[d], H, c->m, B, c->hnew, B);
    return c->hnew;
}

/* GRU step: z holds W_hr h, W_hz h (and W_hn h when lbr=1) on entry. */
RNNCK_VECTOR_CLONES
static const REAL *FWD(gru_step)(FWD(ctx) *c, int d) {
    const int64_t H = c->H, B = c->B, HB = H * B;
    const rnnck_activation *act = c->info->act[d];
    REAL *zr = c->z, *zu = zr + HB, *zn = zu + HB, *h = c->hT;
    FWD(add_input)(c, d, 0, 2 * H);
    FWD(clip)(zr, 2 * HB, c->clip);
    ACT(act[0], zr, 2 * HB);
    if (c->lbr) {
        const REAL *bhn = c->lp.b_hn[d];
        for (int64_t k = 0; k < H; k++)
            for (int64_t b = 0; b < B; b++) zn[k * B + b] = zr[k * B + b] * (zn[k * B + b] + bhn[k]);
    } else { /* reset before the product: W_hn (r*h) */
        for (int64_t i = 0; i < HB; i++) c->hnew[i] = zr[i] * h[i];
        FWD(gemm_nn)(H, B, H, c->lp.w_hh[d] + 2 * H * c->P, c->P, c->hnew, B, zn, B);
    }
    FWD(add_input)(c, d, 2 * H, 3 * H);
    FWD(clip)(zn, HB, c->clip);
    ACT(act[1], zn, HB);
    for (int64_t i = 0; i < HB; i++) c->hnew[i] = (1 - zu[i]) * zn[i] + zu[i] * h[i];
    return c->hnew;
}

static void FWD(transpose)(const REAL *src, REAL *dst, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++) dst[k * rows + r] = src[r * cols + k];
}

static void FWD(run_direction)(FWD(ctx) *c, int64_t l, int d, REAL *out) {
    const int64_t B = c->B, H = c->H, P = c->P, GH = c->GH, D = c->D;
    const int64_t *len = c->run->lengths;
    REAL *h_state = (REAL *)c->run->h + (l * D + d) * B * P;
    REAL *c_state = c->lstm ? (REAL *)c->run->c + (l * D + d) * B * H : NULL;
    FWD(transpose)(h_state, c->hT, B, P);
    if (c_state) FWD(transpose)(c_state, c->cT, B, H);
    int64_t steps = c->T;
    if (len) {
        steps = 0;
        for (int64_t b = 0; b < B; b++) steps = len[b] > steps ? len[b] : steps;
    }
    /* GRU with reset before the product needs r first: W_hh rows r,z | n. */
    const int64_t rec_rows = (c->gru && !c->lbr) ? 2 * H : GH;
    for (int64_t s = 0; s < steps; s++) {
        bool all_active = true;
        for (int64_t b = 0; b < B; b++) {
            int64_t L = len ? len[b] : c->T;
            c->active[b] = s < L;
            all_active &= s < L;
            int64_t t = d == 0 ? s : L - 1 - s;
            c->col[b] = (s < L ? t : 0) * B + b; /* row of gx; finished rows read a harmless one */
        }
        FWD(gemm_nn)(rec_rows, B, P, c->lp.w_hh[d], P, c->hT, B, c->z, B);
        const REAL *hn;
        if (c->lstm) {
            FWD(add_input)(c, d, 0, GH);
            hn = FWD(lstm_step)(c, d, all_active);
        } else if (c->gru) {
            hn = FWD(gru_step)(c, d);
        } else {
            FWD(add_input)(c, d, 0, GH);
            FWD(clip)(c->z, H * B, c->clip);
            ACT(c->info->act[d][0], c->z, H * B);
            hn = c->z;
        }
        FWD(commit)(c, c->hT, hn, P, all_active);
        for (int64_t b = 0; b < B; b++) {
            if (!c->active[b]) continue;
            REAL *o = out + c->col[b] * D * P + d * P;
            for (int64_t k = 0; k < P; k++) o[k] = c->hT[k * B + b];
        }
    }
    FWD(transpose)(c->hT, h_state, P, B);
    if (c_state) FWD(transpose)(c->cT, c_state, H, B);
}

rnnck_status FWD(rnnck__forward)(const rnnck__fwd_run *run) {
    const rnnck_module_info *info = run->info;
    FWD(ctx) c;
    memset(&c, 0, sizeof c);
    c.run = run;
    c.info = info;
    c.T = run->T;
    c.B = run->B;
    c.H = info->hidden_size;
    c.P = rnnck__h_out(info);
    c.G = rnnck_cell_gates(info->cell);
    c.GH = c.G * c.H;
    c.D = info->bidirectional ? 2 : 1;
    c.L = info->num_layers;
    c.lstm = info->cell == RNNCK_CELL_LSTM;
    c.gru = info->cell == RNNCK_CELL_GRU;
    c.lbr = info->linear_before_reset;
    c.fb = (REAL)info->forget_bias;
    c.clip = (REAL)info->clip;

    /* Workspace sizes, overflow-checked; BLAS takes int dimensions. */
    int64_t gx_n, y_n, gb_n, max_in = info->input_size, par_n = 0;
    if (rnnck__layer_input(info, 1) > max_in) max_in = rnnck__layer_input(info, 1);
    bool bad = rnnck__mul_overflow_i64(c.T, c.B, &c.TB) || rnnck__mul_overflow_i64(c.TB, c.D * c.GH, &gx_n) ||
               rnnck__mul_overflow_i64(c.TB, c.D * c.P, &y_n) || rnnck__mul_overflow_i64(c.D * c.GH, max_in, &par_n) ||
               rnnck__mul_overflow_i64(c.GH, c.B, &gb_n) || c.TB > INT32_MAX || c.D * c.GH > INT32_MAX ||
               max_in > INT32_MAX;
    int64_t per_dir = c.GH * c.P + c.GH + c.H + c.P * c.H + 3 * c.H + c.GH; /* + b_hh scratch */
    if (bad || __builtin_add_overflow(par_n, c.D * per_dir, &par_n) || (uint64_t)gx_n > SIZE_MAX / sizeof(REAL) ||
        (uint64_t)par_n > SIZE_MAX / sizeof(REAL))
        return rnnck__err(RNNCK_E_NOMEM, "forward: module '%s' with T=%lld, B=%lld is too large for this build",
                          info->name, (long long)c.T, (long long)c.B);
    const size_t B = (size_t)c.B, H = (size_t)c.H, P = (size_t)c.P;
    c.gx = malloc(sizeof(REAL) * (size_t)(gx_n ? gx_n : 1));
    c.z = calloc((size_t)gb_n, sizeof(REAL));
    c.hT = calloc(P * B, sizeof(REAL));
    c.cT = calloc(H * B, sizeof(REAL));
    c.hnew = calloc((H > P ? H : P) * B, sizeof(REAL));
    c.m = calloc(H * B, sizeof(REAL));
    c.tmp = calloc(H * B, sizeof(REAL));
    c.col = calloc(B, sizeof(int64_t));
    c.active = calloc(B, 1);
    c.params = malloc(sizeof(REAL) * (size_t)par_n);
    int nbuf = c.L > 1 ? (c.L > 2 ? 2 : 1) : 0;
    for (int i = 0; i < nbuf; i++) c.ybuf[i] = malloc(sizeof(REAL) * (size_t)y_n);
    rnnck_status st = RNNCK_OK;
    if (!c.gx || !c.z || !c.hT || !c.cT || !c.hnew || !c.m || !c.tmp || !c.col || !c.active || !c.params ||
        (nbuf > 0 && !c.ybuf[0]) || (nbuf > 1 && !c.ybuf[1])) {
        st = rnnck__oom();
        goto done;
    }
    const REAL *in = run->x;
    for (int64_t l = 0; l < c.L; l++) {
        if ((st = FWD(load_layer)(&c, l))) goto done;
        int64_t in_w = rnnck__layer_input(info, l);
        REAL *out = l == c.L - 1 ? (REAL *)run->y : c.ybuf[l & 1];
        /* Positions past a sequence's end stay zero (run->y arrives zeroed). */
        if (out != run->y && run->lengths) memset(out, 0, sizeof(REAL) * (size_t)y_n);
        /* Both directions' input projections of all steps in one GEMM:
         * gx (T*B, D*GH) = x (T*B, I) . W_ih (D*GH, I)^T. */
        FWD(gemm_nt)(c.TB, c.D * c.GH, in_w, in, in_w, c.lp.w_ih, in_w, c.gx, c.D * c.GH);
        for (int d = 0; d < c.D; d++) FWD(run_direction)(&c, l, d, out);
        in = out;
    }
done:
    free(c.gx);
    free(c.z);
    free(c.hT);
    free(c.cT);
    free(c.hnew);
    free(c.m);
    free(c.tmp);
    free(c.col);
    free(c.active);
    free(c.params);
    free(c.ybuf[0]);
    free(c.ybuf[1]);
    return st;
}
