/* The recurrent kernel, written once for float and double. Included by
 * forward_f32.c / forward_f64.c after defining:
 *   REAL        float or double
 *   FWD(name)   name with the precision suffix
 *   ACT         rnnck__act_f32 / rnnck__act_f64
 *   RNNCK_DT    RNNCK_F32 / RNNCK_F64
 *
 * Per layer and direction: the input projection W_ih . x runs ahead of the
 * time loop, a few blocks of 512 time-major positions (512/B steps each) at
 * a time, into a small ring workspace (see "Input projections in a ring"
 * below); per step the gate
 * pre-activations start as that projection plus the folded biases, one
 * recurrent product adds
 * W_hh . h (two for a GRU with the reset before the product), and the gate
 * maths runs as a few long vectorised loops over the whole (gates, batch)
 * block. In float32 the recurrent products use W packed once per layer
 * (rec_gemm.h) instead of OpenBLAS, which re-packs W at every step. Every
 * product left to OpenBLAS runs in fixed blocks (blas_blocks.h), so no
 * result depends on the thread count. All
 * buffers are allocated once per call; nothing is allocated inside the time
 * loop.
 *
 * Input projections in a ring. The projection of a layer is one product,
 * W_ih (D*GH, I) . x (T*B, I)^T, cut into fixed 512x512 blocks like every
 * OpenBLAS product (blas_blocks.h). Its T*B axis (time-major positions
 * t*B + b) is computed block by block, just before the time loop reaches
 * it, into a ring of `ring` positions (a multiple of the 512 of a block),
 * position j at j % ring; each block is the same OpenBLAS call as in the
 * whole product, so the bits do not depend on the ring's size, only the
 * memory does: a new process pays a page fault and a zeroed page for every
 * page it first touches, and the whole projection of T100 B32 H512 was 26 MB
 * of fresh memory per layer (17% of the `rnnck forward` command's CPU in
 * page faults). A direction computes only the rows of its own gates,
 * rounded out to whole blocks: when D*GH has a block straddling the two
 * directions, that block row is computed twice (once per direction); when
 * none does, each direction multiplies its own W_ih where it lies, in the
 * same blocks, instead of a stacked copy of both (split_dirs). Where
 * a reverse direction reads unequal lengths, each batch row at its own time
 * step, the ring holds the whole sequence (as before). Every position is
 * projected before the step that writes its output, so a one-direction
 * layer after the first runs in place in run->y.
 *
 * Variable lengths: at step s a batch row is active while s < its length;
 * the forward direction reads time s, the reverse direction time len-1-s, so
 * each sequence's reverse pass starts at its own last step. Finished rows go
 * through the same arithmetic but their state is never committed, so h_n/c_n
 * keep the last valid step and their outputs stay zero. */
#include "forward/blas_blocks.h"
#include "forward/forward_internal.h"
#include "forward/rec_gemm.h"
#include "forward/rec_team.h"

#include <stdlib.h>
#include <string.h>

/* Workspace of 4 MiB or more: 2 MiB-aligned and marked for transparent huge
 * pages (Linux, where THP is "madvise"), so that first touching it costs one
 * page fault per 2 MiB instead of per 4 KiB (the projection ring, packed
 * weights, buffers between bidirectional layers). free() releases it. */
static void *rnnck__big_alloc(size_t n) {
    const size_t huge = (size_t)2 << 20;
    if (n < 2 * huge) return malloc(n);
    void *p = NULL;
    const size_t rounded = (n + huge - 1) / huge * huge;
    if (posix_memalign(&p, huge, rounded)) return NULL;
    rnnck__advise_huge_pages(p, rounded);
    return p;
}

/* Target size of the input-projection ring (see the top of this file). 4 MiB
 * is one 512-position block of 2048 gate rows in float32: LSTM H=512, issue
 * 10's row 1, whose whole projection was 26 MB. Smaller would not save page
 * faults worth having (4 MiB is two huge pages) and would cut the projection
 * into fills too thin to share between threads; larger only touches more
 * fresh memory per call and falls out of the last-level cache (32 MB, shared)
 * before the time loop reads it back. */
#define RING_BYTES ((size_t)4 << 20)

/* Parameters of one layer, converted to the compute dtype. */
typedef struct FWD(layer) {
    const REAL *w_ih;    /* (D*GH, I_l): both directions stacked, unless split_dirs */
    const REAL *w_ih_dir[2]; /* split_dirs: each direction's own (GH, I_l) */
    const REAL *w_hh[2]; /* (GH, H_out) */
    REAL *b_x[2];   /* (GH): b_ih + b_hh, except GRU lbr=1 where the n block is b_in only */
    REAL *b_hn[2];  /* (H): GRU lbr=1 recurrent n bias, applied inside r*(...) */
    REAL *w_hr[2];  /* (P, H) projection */
    REAL *peep[2];  /* (3H): i, f, o */
} FWD(layer);

/* A weight matrix the time loop multiplies by the state at every step:
 * row-major (m, k), and in float32 also packed for rec_gemm. */
typedef struct FWD(wmat) {
    const REAL *w;
    int64_t m, k;
    const rnnck__rec_kernel *kern; /* float32 packed kernel, or NULL: OpenBLAS */
    float *packed;
} FWD(wmat);

/* Sizes of the run and its workspace. Inside a direction the state and the
 * gates are kept TRANSPOSED, feature-major: hT (H_out, B), cT (H, B), gates
 * (GH, B). The per-step product is then W_hh . hT, with the batch as the
 * contiguous (vector) dimension, and every gate loop runs over H*B
 * contiguous values. */
typedef struct FWD(ctx) {
    const rnnck__fwd_run *run;
    const rnnck_module_info *info;
    int64_t T, B, TB, H, P, G, GH, D, L;
    int lstm, gru, lbr;
    REAL fb, clip;
    REAL cell_clip, proj_clip; /* TF1 LSTMCell: on the new c, on the projected h, when info's are
                                  > 0 (a limit below REAL's range clamps to 0) */
    /* workspace */
    /* Input projections, a ring over the time-major positions j = t*B + b:
     * element (gate row r = d*GH + k, position j) at
     * gx[(r - g0[d])*gx_rs + (j % ring)*gx_cs]. Feature-major (gates, ring)
     * when the batch is wide enough for a step's columns to fill vectors,
     * batch-major (ring, gates) otherwise (for B = 1 feature-major reads one
     * float per cache line: measured 10% slower on T=200 B=1 H=256). */
    REAL *gx;
    int64_t gx_rs, gx_cs;
    int64_t ring;         /* positions in the ring: a multiple of RNNCK__BLOCK_COLS */
    int64_t g0[2], g1[2]; /* gate rows [g0, g1) a direction projects: its own, rounded out to blocks */
    /* Two directions whose gate rows share no block (GH a multiple of the
     * block): each projects from its own W_ih, a product of GH rows cut into
     * the same blocks as the stacked one's, so W_ih is not copied. */
    bool split_dirs;
    rnnck__blas_product proj; /* this layer's whole projection (its c unset) */
    int64_t last_block;   /* last block of positions this direction reads */
    int64_t have_lo, have_hi; /* blocks of positions in the ring now; have_lo > have_hi: none */
    int64_t *gq;          /* (B) ring position each batch row reads at this step */
    REAL *z;       /* (GH, B) gates of one step */
    REAL *hT;      /* (P, B) */
    REAL *cT;      /* (H, B) */
    REAL *hnew;    /* (max(P, H), B) candidate new h (projected, or GRU r*h) */
    REAL *m;       /* (H, B) LSTM o*act(c) */
    REAL *tmp;     /* (H, B) */
    int64_t *col;  /* (B) row of gx (= t*B + b) each batch row reads at this step */
    unsigned char *active; /* (B) 1 while the row's sequence runs */
    REAL *ybuf[2]; /* (T*B, D*P) intermediate layer outputs (bidirectional only) */
    REAL *params;  /* one block holding a layer's parameters */
    FWD(layer) lp;
    /* Recurrent products per direction: W_hh rows the step multiplies by h
     * first (all of them, or r,z of a GRU with the reset before the
     * product), that GRU's n rows (applied to r*h), and the projection. */
    FWD(wmat) w_rec[2], w_rec_n[2], w_proj[2];
    float *packed;       /* packing space for every wmat above */
    int threads;         /* rnnck's threads; OpenBLAS runs at one (blas_blocks.h) */
    rnnck__team *team;   /* while a layer runs with threads > 1 */
} FWD(ctx);

/* Copies one parameter into dst in the compute dtype (loading lazily). */
static rnnck_status FWD(fetch)(FWD(ctx) *c, rnnck_param kind, int64_t layer, int rev, REAL *dst, size_t n) {
    rnnck_tensor *t;
    rnnck_status st = rnnck_model_param(c->run->m, c->run->module, kind, layer, rev, &t);
    if (!st && !rnnck__tensor_loaded(t)) st = rnnck_model_load_tensor(c->run->m, t);
    if (!st) st = rnnck_tensor_copy_out(t, RNNCK_DT, dst, n * sizeof(REAL));
    return st;
}

/* The parameter's own data when it is already in the compute dtype and
 * C-contiguous (no copy: the weights are not touched twice); else a copy in
 * dst, as fetch makes. */
static rnnck_status FWD(fetch_view)(FWD(ctx) *c, rnnck_param kind, int64_t layer, int rev, REAL *dst, size_t n,
                                    const REAL **out) {
    rnnck_tensor *t;
    rnnck_status st = rnnck_model_param(c->run->m, c->run->module, kind, layer, rev, &t);
    if (!st && !rnnck__tensor_loaded(t)) st = rnnck_model_load_tensor(c->run->m, t);
    if (st) return st;
    if (t->dtype == RNNCK_DT && rnnck_tensor_is_contiguous(t) && rnnck_tensor_numel(t) == (int64_t)n) {
        *out = rnnck_tensor_cdata(t);
        return RNNCK_OK;
    }
    *out = dst;
    return rnnck_tensor_copy_out(t, RNNCK_DT, dst, n * sizeof(REAL));
}

/* Shapes (m, k) of the three per-step products of a direction: W_hh rows
 * multiplied by h first, a GRU-with-reset-first's n rows, the projection;
 * m = 0 when absent. */
static void FWD(product_shapes)(const FWD(ctx) *c, int64_t m[3], int64_t k[3]) {
    const bool reset_first = c->gru && !c->lbr;
    m[0] = reset_first ? 2 * c->H : c->GH;
    m[1] = reset_first ? c->H : 0;
    m[2] = c->P != c->H ? c->P : 0;
    k[0] = k[1] = c->P;
    k[2] = c->H;
}

static const rnnck__rec_kernel *FWD(kernel_for)(const FWD(ctx) *c, int64_t m, int64_t k) {
#ifdef FWD_PACKED
    if (m > 0) return rnnck__rec_pick(c->B, m, k);
#endif
    (void)c, (void)m, (void)k;
    return NULL;
}

#ifdef FWD_PACKED
/* One part of a packed product split across the team by row panels. */
typedef struct FWD(mul_job) {
    const FWD(wmat) *W;
    const REAL *h;
    REAL *z;
    int64_t n, panels;
    bool accumulate;
} FWD(mul_job);

static void FWD(mul_part)(void *arg, int part, int nparts) {
    const FWD(mul_job) *j = arg;
    int64_t p0 = j->panels * part / nparts, p1 = j->panels * (part + 1) / nparts;
    rnnck__rec_apply(j->W->kern, j->W->packed, j->W->m, j->W->k, j->h, j->n, j->z, p0, p1, j->accumulate);
}
#endif

/* Floats of packing space for one layer's recurrent products (0 when no
 * product uses a packed kernel); *ok = false on overflow. */
static size_t FWD(packed_len)(const FWD(ctx) *c, bool *ok) {
    int64_t m[3], k[3];
    FWD(product_shapes)(c, m, k);
    size_t total = 0;
    for (int i = 0; i < 3; i++) {
        const rnnck__rec_kernel *kern = FWD(kernel_for)(c, m[i], k[i]);
        if (!kern) continue;
        size_t n = rnnck__rec_packed_len(kern, m[i], k[i]);
        if (!n || __builtin_add_overflow(total, n, &total)) *ok = false;
    }
    if (__builtin_mul_overflow(total, (size_t)c->D, &total)) *ok = false;
    return total;
}

/* Points the per-step products at this layer's weights and packs them. */
static void FWD(prepare_products)(FWD(ctx) *c) {
    int64_t m[3], k[3];
    FWD(product_shapes)(c, m, k);
    float *pk = c->packed;
    for (int d = 0; d < c->D; d++) {
        const REAL *w[3] = {c->lp.w_hh[d], c->lp.w_hh[d] + m[0] * c->P, c->lp.w_hr[d]};
        FWD(wmat) *mats[3] = {&c->w_rec[d], &c->w_rec_n[d], &c->w_proj[d]};
        for (int i = 0; i < 3; i++) {
            *mats[i] = (FWD(wmat)){m[i] ? w[i] : NULL, m[i], k[i], FWD(kernel_for)(c, m[i], k[i]), NULL};
#ifdef FWD_PACKED
            if (!mats[i]->kern) continue;
            mats[i]->packed = pk;
            rnnck__rec_pack(mats[i]->kern, w[i], k[i], m[i], k[i], pk);
            pk += rnnck__rec_packed_len(mats[i]->kern, m[i], k[i]);
#endif
        }
    }
    (void)pk;
}

static rnnck_status FWD(load_layer)(FWD(ctx) *c, int64_t l) {
    const rnnck_module_info *info = c->info;
    int64_t in = rnnck__layer_input(info, l), GH = c->GH, H = c->H, P = c->P;
    REAL *p = c->params;
    FWD(layer) *lp = &c->lp;
    memset(lp, 0, sizeof *lp);
    REAL *w_ih = p;
    p += c->D * GH * in;
    lp->w_ih = w_ih;
    for (int d = 0; d < c->D; d++) {
        /* One direction's W_ih is used where it lies; two are stacked for
         * their single GEMM. */
        rnnck_status st = c->split_dirs ? FWD(fetch_view)(c, RNNCK_PARAM_WEIGHT_IH, l, d, w_ih + d * GH * in,
                                                          (size_t)(GH * in), &lp->w_ih_dir[d])
                          : c->D == 1 ? FWD(fetch_view)(c, RNNCK_PARAM_WEIGHT_IH, l, d, w_ih, (size_t)(GH * in), &lp->w_ih)
                                    : FWD(fetch)(c, RNNCK_PARAM_WEIGHT_IH, l, d, w_ih + d * GH * in, (size_t)(GH * in));
        if (st) return st;
        REAL *w_hh = p;
        p += GH * P;
        if ((st = FWD(fetch_view)(c, RNNCK_PARAM_WEIGHT_HH, l, d, w_hh, (size_t)(GH * P), &lp->w_hh[d]))) return st;
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
    FWD(prepare_products)(c);
    return RNNCK_OK;
}

/* z (m, B) = W . h, or z += W . h when `accumulate`; h is (k, B). */
static void FWD(mul)(const FWD(ctx) *c, const FWD(wmat) *W, const REAL *h, REAL *z, bool accumulate) {
    const int64_t B = c->B;
#ifdef FWD_PACKED
    if (W->packed) {
        FWD(mul_job) job = {W, h, z, B, rnnck__rec_panels(W->kern, W->m), accumulate};
        /* Splitting pays once a product is worth more than a thread hand-off
         * (about a microsecond): from 2^18 multiply-adds, ~5 us on one core. */
        if (c->team && (double)W->m * (double)W->k * (double)B >= 262144.0 && job.panels >= 2)
            rnnck__team_run(c->team, FWD(mul_part), &job);
        else
            FWD(mul_part)(&job, 0, 1);
        return;
    }
#endif
    rnnck__blas_product p = {sizeof(REAL) == sizeof(double), false, W->m, B, W->k, W->w, W->k, h, B, z, B,
                             accumulate};
    rnnck__blas_run(c->team, &p);
}

static void FWD(clamp)(REAL *x, int64_t n, REAL lim) {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] < -lim ? -lim : (x[i] > lim ? lim : x[i]);
}

/* ONNX's clip: lim <= 0 is none. */
static void FWD(clip)(REAL *x, int64_t n, REAL lim) {
    if (lim > 0) FWD(clamp)(x, n, lim);
}

/* z[k, b] = gx[d*GH + k, gq[b]] + bias[k] for gate rows [k0, k1), or += when
 * `accumulate`. With the feature-major gx, when every batch row reads the same
 * time step (always, except a reverse direction over unequal lengths) a row's
 * columns are contiguous. */
RNNCK_VECTOR_CLONES
static void FWD(input_gates)(FWD(ctx) *c, int d, int64_t k0, int64_t k1, bool accumulate) {
    const int64_t B = c->B;
    const REAL *bx = c->lp.b_x[d];
    const int64_t rs = c->gx_rs, cs = c->gx_cs;
    const REAL *g = c->gx + (d * c->GH - c->g0[d]) * rs;
    const int64_t *col = c->gq;
    bool contiguous = cs == 1;
    for (int64_t b = 1; b < B && contiguous; b++) contiguous &= col[b] == col[0] + b;
    if (contiguous) {
        for (int64_t k = k0; k < k1; k++) {
            const REAL *gk = g + k * rs + col[0];
            REAL *zk = c->z + k * B;
            if (accumulate)
                for (int64_t b = 0; b < B; b++) zk[b] += gk[b] + bx[k];
            else
                for (int64_t b = 0; b < B; b++) zk[b] = gk[b] + bx[k];
        }
        return;
    }
    if (rs == 1 && B == 1) { /* a vector loop; the strided one below is not */
        const REAL *gb = g + col[0] * cs;
        if (accumulate)
            for (int64_t k = k0; k < k1; k++) c->z[k] += gb[k] + bx[k];
        else
            for (int64_t k = k0; k < k1; k++) c->z[k] = gb[k] + bx[k];
        return;
    }
    if (rs == 1) { /* batch-major: each batch row's projections are contiguous */
        /* Blocks of 16 gate rows keep the strided writes to z within a few
         * cache lines while each gx row is streamed. */
        for (int64_t kb = k0; kb < k1; kb += 16) {
            int64_t ke = kb + 16 < k1 ? kb + 16 : k1;
            for (int64_t b = 0; b < B; b++) {
                const REAL *gb = g + col[b] * cs;
                if (accumulate)
                    for (int64_t k = kb; k < ke; k++) c->z[k * B + b] += gb[k] + bx[k];
                else
                    for (int64_t k = kb; k < ke; k++) c->z[k * B + b] = gb[k] + bx[k];
            }
        }
        return;
    }
    for (int64_t k = k0; k < k1; k++)
        for (int64_t b = 0; b < B; b++) {
            REAL v = g[k * rs + col[b]] + bx[k];
            c->z[k * B + b] = accumulate ? c->z[k * B + b] + v : v;
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
    /* ONNX input_forget couples the forget gate to the input gate, f = 1 - i
     * (as ONNX Runtime computes it; the f block's weights go unused). */
    if (c->info->input_forget)
        for (int64_t i = 0; i < HB; i++) zf[i] = 1 - zi[i];
    ACT(act[1], zg, HB);
    REAL *cn = c->tmp;
    for (int64_t i = 0; i < HB; i++) cn[i] = zf[i] * cs[i] + zi[i] * zg[i];
    /* TF1's cell_clip bounds the new c itself: the clipped c is the state
     * carried on, and the output peephole and tanh(c) below see it. */
    if (c->info->cell_clip > 0) FWD(clamp)(cn, HB, c->cell_clip);
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
    FWD(mul)(c, &c->w_proj[d], c->m, c->hnew, false);
    if (c->info->proj_clip > 0) FWD(clamp)(c->hnew, c->P * B, c->proj_clip); /* TF1's proj_clip */
    return c->hnew;
}

/* GRU step. On entry the r and z rows hold input + bias + W_h{r,z} h, and
 * when lbr=1 the n rows hold W_hn h alone. */
RNNCK_VECTOR_CLONES
static const REAL *FWD(gru_step)(FWD(ctx) *c, int d) {
    const int64_t H = c->H, B = c->B, HB = H * B;
    const rnnck_activation *act = c->info->act[d];
    REAL *zr = c->z, *zu = zr + HB, *zn = zu + HB, *h = c->hT;
    FWD(clip)(zr, 2 * HB, c->clip);
    ACT(act[0], zr, 2 * HB);
    if (c->lbr) {
        const REAL *bhn = c->lp.b_hn[d];
        for (int64_t k = 0; k < H; k++)
            for (int64_t b = 0; b < B; b++) zn[k * B + b] = zr[k * B + b] * (zn[k * B + b] + bhn[k]);
        FWD(input_gates)(c, d, 2 * H, 3 * H, true);
    } else { /* reset before the product: W_hn (r*h) */
        for (int64_t i = 0; i < HB; i++) c->hnew[i] = zr[i] * h[i];
        FWD(input_gates)(c, d, 2 * H, 3 * H, false);
        FWD(mul)(c, &c->w_rec_n[d], c->hnew, zn, true);
    }
    FWD(clip)(zn, HB, c->clip);
    ACT(act[1], zn, HB);
    for (int64_t i = 0; i < HB; i++) c->hnew[i] = (1 - zu[i]) * zn[i] + zu[i] * h[i];
    return c->hnew;
}

static void FWD(transpose)(const REAL *src, REAL *dst, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++) dst[k * rows + r] = src[r * cols + k];
}

/* Projects blocks [j0, j1] of positions (adjacent in the ring: no wrap) for
 * direction d: the gate rows [g0[d], g1[d]) of those positions. */
static void FWD(project)(FWD(ctx) *c, int d, int64_t j0, int64_t j1) {
    const int64_t p0 = j0 * RNNCK__BLOCK_COLS, q0 = p0 % c->ring;
    const int64_t p1 = (j1 + 1) * RNNCK__BLOCK_COLS < c->TB ? (j1 + 1) * RNNCK__BLOCK_COLS : c->TB;
    rnnck__blas_product p = c->proj;
    p.c = c->gx + q0 * c->gx_cs;
    rnnck__forward_count_fill();
    const bool fm = c->gx_cs == 1; /* feature-major: positions are the product's columns */
    int64_t g0 = c->g0[d], g1 = c->g1[d];
    if (c->split_dirs) { /* this direction's rows alone: the same blocks, shifted by whole blocks */
        *(fm ? &p.M : &p.N) = c->GH;
        *(fm ? &p.a : &p.b) = c->lp.w_ih_dir[d];
        g0 -= d * c->GH;
        g1 -= d * c->GH;
    }
    p.ldc = fm ? c->gx_rs : c->gx_cs;
    if (fm)
        rnnck__blas_run_part(c->team, &p, g0, g1, p0, p1);
    else
        rnnck__blas_run_part(c->team, &p, p0, p1, g0, g1);
}

/* Makes positions [lo, hi] readable in the ring for direction d: when they
 * are not all there, refills the ring with the blocks from lo's onwards (the
 * time loop's next steps), or when `backwards` those up to hi's, computing
 * only blocks not there already. */
static void FWD(ensure)(FWD(ctx) *c, int d, bool backwards, int64_t lo, int64_t hi) {
    const int64_t jlo = lo / RNNCK__BLOCK_COLS, jhi = hi / RNNCK__BLOCK_COLS, n = c->ring / RNNCK__BLOCK_COLS;
    if (jlo >= c->have_lo && jhi <= c->have_hi) return;
    int64_t nlo = jlo, nhi = jlo + n - 1 < c->last_block ? jlo + n - 1 : c->last_block;
    if (backwards) {
        nhi = jhi;
        nlo = jhi - n + 1 > 0 ? jhi - n + 1 : 0;
    }
    for (int64_t j = nlo; j <= nhi;) {
        if (j >= c->have_lo && j <= c->have_hi) {
            j++;
            continue;
        }
        int64_t e = j; /* a run of missing blocks up to the ring's end */
        while (e < nhi && (e + 1) % n != 0 && !(e + 1 >= c->have_lo && e + 1 <= c->have_hi)) e++;
        FWD(project)(c, d, j, e);
        j = e + 1;
    }
    c->have_lo = nlo;
    c->have_hi = nhi;
}

static void FWD(run_direction)(FWD(ctx) *c, int64_t l, int d, REAL *out) {
    const int64_t B = c->B, H = c->H, P = c->P, GH = c->GH, D = c->D;
    const int64_t *len = c->run->lengths;
    REAL *h_state = (REAL *)c->run->h + (l * D + d) * B * P;
    REAL *c_state = c->lstm ? (REAL *)c->run->c + (l * D + d) * B * H : NULL;
    FWD(transpose)(h_state, c->hT, B, P);
    if (c_state) FWD(transpose)(c_state, c->cT, B, H);
    /* The reverse direction of a bidirectional module, or a reverse-only
     * module (its one direction, d = 0), runs from the last step. */
    const bool backwards = d == 1 || c->info->reverse;
    int64_t steps = c->T;
    if (len) {
        steps = 0;
        for (int64_t b = 0; b < B; b++) steps = len[b] > steps ? len[b] : steps;
    }
    /* Every position read is below steps*B (a finished row of a reverse
     * direction reads step 0). */
    c->last_block = (steps * B - 1) / RNNCK__BLOCK_COLS;
    c->have_lo = 0;
    c->have_hi = -1;
    for (int64_t s = 0; s < steps; s++) {
        bool all_active = true;
        int64_t lo = INT64_MAX, hi = 0;
        for (int64_t b = 0; b < B; b++) {
            int64_t L = len ? len[b] : c->T;
            c->active[b] = s < L;
            all_active &= s < L;
            /* Time step read; a finished row reads a harmless valid one, the
             * forward direction's s so the columns stay contiguous. */
            int64_t t = s < L ? (!backwards ? s : L - 1 - s) : (!backwards ? s : 0);
            c->col[b] = t * B + b;
            lo = c->col[b] < lo ? c->col[b] : lo;
            hi = c->col[b] > hi ? c->col[b] : hi;
        }
        FWD(ensure)(c, d, backwards, lo, hi);
        for (int64_t b = 0; b < B; b++) c->gq[b] = c->col[b] % c->ring;
        /* Pre-activations: input projection + bias, then += W_hh . h. A GRU
         * with lbr=1 keeps W_hn h apart (its n rows start at zero); one with
         * the reset before the product multiplies only W_h{r,z} here. */
        const int64_t in_rows = c->gru ? 2 * H : GH, zero_rows = c->w_rec[d].m - in_rows;
        FWD(input_gates)(c, d, 0, in_rows, false);
        if (zero_rows > 0) memset(c->z + in_rows * B, 0, sizeof(REAL) * (size_t)(zero_rows * B));
        FWD(mul)(c, &c->w_rec[d], c->hT, c->z, true);
        const REAL *hn;
        if (c->lstm) {
            hn = FWD(lstm_step)(c, d, all_active);
        } else if (c->gru) {
            hn = FWD(gru_step)(c, d);
        } else {
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
    c.cell_clip = (REAL)info->cell_clip;
    c.proj_clip = (REAL)info->proj_clip;
    c.threads = run->threads;

    /* Workspace sizes, overflow-checked; BLAS takes int dimensions. */
    int64_t gx_n = 0, y_n = 0, gb_n = 0, max_in = info->input_size, par_n = 0;
    if (rnnck__layer_input(info, 1) > max_in) max_in = rnnck__layer_input(info, 1);
    bool bad = rnnck__mul_overflow_i64(c.T, c.B, &c.TB) || rnnck__mul_overflow_i64(c.TB, c.D * c.GH, &gx_n) ||
               rnnck__mul_overflow_i64(c.TB, c.D * c.P, &y_n) || rnnck__mul_overflow_i64(c.D * c.GH, max_in, &par_n) ||
               rnnck__mul_overflow_i64(c.GH, c.B, &gb_n) || c.TB > INT32_MAX || c.D * c.GH > INT32_MAX ||
               max_in > INT32_MAX;
    int64_t per_dir = c.GH * c.P + c.GH + c.H + c.P * c.H + 3 * c.H + c.GH; /* + b_hh scratch */
    bool pack_ok = true;
    size_t pack_n = FWD(packed_len)(&c, &pack_ok);
    if (bad || !pack_ok || pack_n > SIZE_MAX / sizeof(float) || __builtin_add_overflow(par_n, c.D * per_dir, &par_n) ||
        (uint64_t)gx_n > SIZE_MAX / sizeof(REAL) ||
        (uint64_t)par_n > SIZE_MAX / sizeof(REAL))
        return rnnck__err(RNNCK_E_NOMEM, "forward: module '%s' with T=%lld, B=%lld is too large for this build",
                          info->name, (long long)c.T, (long long)c.B);
    const size_t B = (size_t)c.B, H = (size_t)c.H, P = (size_t)c.P;
    const bool feature_major = c.B >= 8;
    /* The projection's shape, W_ih (D*GH, I) . x (T*B, I)^T or its transpose
     * x . W_ih^T; its blocks' size along the gates follows from it. */
    const int64_t DGH = c.D * c.GH;
    c.proj = (rnnck__blas_product){sizeof(REAL) == sizeof(double), true, feature_major ? DGH : c.TB,
                                   feature_major ? c.TB : DGH, 0, NULL, 0, NULL, 0, NULL, 0, false};
    const int64_t gblock = feature_major ? rnnck__blas_block_rows(&c.proj) : RNNCK__BLOCK_COLS;
    int64_t gate_w = 0;
    for (int d = 0; d < c.D; d++) {
        c.g0[d] = d * c.GH / gblock * gblock;
        c.g1[d] = ((d + 1) * c.GH + gblock - 1) / gblock * gblock;
        if (c.g1[d] > DGH) c.g1[d] = DGH;
        if (c.g1[d] - c.g0[d] > gate_w) gate_w = c.g1[d] - c.g0[d];
    }
    c.split_dirs = c.D == 2 && c.GH % gblock == 0;
    /* The ring: at least the blocks one step's B positions can span, else
     * RING_BYTES' worth of whole blocks, at most the whole sequence (and the
     * whole sequence where a reverse direction reads unequal lengths). */
    const int64_t S = RNNCK__BLOCK_COLS, all_blocks = (c.TB + S - 1) / S;
    int64_t span = (c.B + S - 1) / S + (S % c.B == 0 || c.B % S == 0 ? 0 : 1);
    int64_t blocks = (int64_t)(RING_BYTES / ((size_t)gate_w * (size_t)S * sizeof(REAL)));
    if (rnnck__forward_ring_blocks() > 0) blocks = rnnck__forward_ring_blocks();
    if (blocks < span) blocks = span;
    bool unequal = false;
    for (int64_t b = 1; run->lengths && b < c.B; b++) unequal |= run->lengths[b] != run->lengths[0];
    if (blocks > all_blocks || (unequal && (c.D == 2 || info->reverse))) blocks = all_blocks;
    c.ring = blocks * S;
    const int64_t ring_w = c.ring < c.TB ? c.ring : c.TB;
    gx_n = gate_w * ring_w;
    c.gx_rs = feature_major ? ring_w : 1;
    c.gx_cs = feature_major ? 1 : gate_w;
    c.gx = rnnck__big_alloc(sizeof(REAL) * (size_t)(gx_n ? gx_n : 1));
    c.gq = calloc(B, sizeof(int64_t));
    c.z = calloc((size_t)gb_n, sizeof(REAL));
    c.hT = calloc(P * B, sizeof(REAL));
    c.cT = calloc(H * B, sizeof(REAL));
    c.hnew = calloc((H > P ? H : P) * B, sizeof(REAL));
    c.m = calloc(H * B, sizeof(REAL));
    c.tmp = calloc(H * B, sizeof(REAL));
    c.col = calloc(B, sizeof(int64_t));
    c.active = calloc(B, 1);
    c.params = malloc(sizeof(REAL) * (size_t)par_n);
    if (pack_n) c.packed = rnnck__big_alloc(sizeof(float) * pack_n);
    /* A one-direction layer after the first runs in place in run->y: the
     * ring projects every position before the step that overwrites it (a
     * refill starts at the block the current step reads, which already
     * holds the projections of the positions written before it; the
     * whole-sequence ring projects everything at the first step), and
     * positions past a sequence's end stay zero in both. Two directions need
     * the whole input after the first one ran: buffers between layers. */
    int nbuf = c.D == 1 || c.L == 1 ? 0 : (c.L > 2 ? 2 : 1);
    for (int i = 0; i < nbuf; i++) c.ybuf[i] = rnnck__big_alloc(sizeof(REAL) * (size_t)y_n);
    rnnck_status st = RNNCK_OK;
    if (!c.gx || !c.gq || !c.z || !c.hT || !c.cT || !c.hnew || !c.m || !c.tmp || !c.col || !c.active || !c.params ||
        (pack_n && !c.packed) || (nbuf > 0 && !c.ybuf[0]) || (nbuf > 1 && !c.ybuf[1])) {
        st = rnnck__oom();
        goto done;
    }
    const REAL *in = run->x;
    for (int64_t l = 0; l < c.L; l++) {
        if ((st = FWD(load_layer)(&c, l))) goto done;
        /* Without workers (thread limits reached) the products run on this
         * thread: same results, only slower, so that is not an error. */
        if (c.threads > 1 && rnnck__team_start(c.threads, &c.team)) rnnck__err_clear();
        int64_t in_w = rnnck__layer_input(info, l);
        REAL *out = l == c.L - 1 || nbuf == 0 ? (REAL *)run->y : c.ybuf[l & 1];
        /* Positions past a sequence's end stay zero (run->y arrives zeroed). */
        if (out != run->y && run->lengths) memset(out, 0, sizeof(REAL) * (size_t)y_n);
        /* Both directions' input projections, W_ih (D*GH, I) . x (T*B, I)^T
         * in the layout chosen above, computed into the ring as the time
         * loop needs them. */
        c.proj.K = in_w;
        c.proj.a = feature_major ? (const void *)c.lp.w_ih : (const void *)in;
        c.proj.b = feature_major ? (const void *)in : (const void *)c.lp.w_ih;
        c.proj.lda = c.proj.ldb = in_w;
        for (int d = 0; d < c.D; d++) FWD(run_direction)(&c, l, d, out);
        rnnck__team_stop(c.team);
        c.team = NULL;
        in = out;
    }
done:
    rnnck__team_stop(c.team);
    free(c.gx);
    free(c.gq);
    free(c.z);
    free(c.hT);
    free(c.cT);
    free(c.hnew);
    free(c.m);
    free(c.tmp);
    free(c.col);
    free(c.active);
    free(c.params);
    free(c.packed);
    free(c.ybuf[0]);
    free(c.ybuf[1]);
    return st;
}
