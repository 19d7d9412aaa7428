/* The deterministic random generator and the parameter initialisers
 * (uniform, constant, orthogonal, and PyTorch's module reset_parameters). */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------- generator */

struct rnnck_rng {
    uint64_t s[4];    /* xoshiro256** state */
    int have_spare;   /* Box-Muller yields normals in pairs */
    double spare;
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

rnnck_status rnnck_rng_new(uint64_t seed, rnnck_rng **out) {
    rnnck__err_clear();
    if (!out) return rnnck__err(RNNCK_E_USAGE, "rnnck_rng_new: out is NULL");
    rnnck_rng *r = calloc(1, sizeof *r);
    if (!r) return rnnck__oom();
    /* splitmix64 never yields four zero words, the one state xoshiro must avoid. */
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    *out = r;
    return RNNCK_OK;
}

void rnnck_rng_free(rnnck_rng *rng) { free(rng); }

uint64_t rnnck_rng_u64(rnnck_rng *rng) {
    if (!rng) return 0;
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rnnck_rng_uniform(rnnck_rng *rng) {
    /* The top 53 bits scaled by 2^-53: every value is exact in a double. */
    return (double)(rnnck_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double rnnck_rng_normal(rnnck_rng *rng) {
    if (!rng) return 0;
    if (rng->have_spare) {
        rng->have_spare = 0;
        return rng->spare;
    }
    double u1 = 1.0 - rnnck_rng_uniform(rng); /* (0, 1]: log(u1) is finite */
    double u2 = rnnck_rng_uniform(rng);
    double radius = sqrt(-2.0 * log(u1));
    double angle = 2.0 * M_PI * u2;
    rng->spare = radius * sin(angle);
    rng->have_spare = 1;
    return radius * cos(angle);
}

/* ----------------------------------------------------------- initialisers */

/* Refuses what an initialiser cannot write: NULL, unloaded, non-float. */
static rnnck_status check_writable(const rnnck_tensor *t, const char *what) {
    if (!t) return rnnck__err(RNNCK_E_USAGE, "%s: tensor is NULL", what);
    const char *name = *rnnck_tensor_name(t) ? rnnck_tensor_name(t) : "(unnamed tensor)";
    if (!rnnck__tensor_loaded(t))
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s is not loaded (call rnnck_model_load_tensor first)", what,
                          name);
    if (!rnnck_dtype_is_float(t->dtype))
        return rnnck__err(RNNCK_E_USAGE, "%s: tensor %s has dtype %s; only float tensors can be initialised", what,
                          name, rnnck_dtype_name(t->dtype));
    return RNNCK_OK;
}

/* Element offsets (in elements, from element [0..0]) in C order: the walk
 * that lets initialisers write through the strides of a view. */
typedef struct elem_walk {
    const rnnck_tensor *t;
    int64_t idx[RNNCK_MAX_DIMS];
    int64_t offset;
} elem_walk;

static void walk_next(elem_walk *w) {
    const rnnck_tensor *t = w->t;
    for (int d = t->ndim - 1; d >= 0; d--) {
        w->idx[d]++;
        w->offset += t->stride[d];
        if (w->idx[d] < t->shape[d]) return;
        w->offset -= t->stride[d] * t->shape[d];
        w->idx[d] = 0;
    }
}

rnnck_status rnnck_init_uniform(rnnck_tensor *t, double lo, double hi, rnnck_rng *rng) {
    rnnck__err_clear();
    rnnck_status st = check_writable(t, "rnnck_init_uniform");
    if (st) return st;
    if (!rng) return rnnck__err(RNNCK_E_USAGE, "rnnck_init_uniform: generator is NULL");
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        return rnnck__err(RNNCK_E_USAGE, "rnnck_init_uniform: bounds [%g, %g) are not a finite interval", lo, hi);
    void *base = rnnck_tensor_data(t);
    elem_walk w = {.t = t};
    for (int64_t n = rnnck_tensor_numel(t); n > 0; n--, walk_next(&w))
        rnnck__store_double(t->dtype, base, w.offset, lo + (hi - lo) * rnnck_rng_uniform(rng));
    return RNNCK_OK;
}

rnnck_status rnnck_init_constant(rnnck_tensor *t, double value) {
    rnnck__err_clear();
    rnnck_status st = check_writable(t, "rnnck_init_constant");
    if (st) return st;
    void *base = rnnck_tensor_data(t);
    elem_walk w = {.t = t};
    for (int64_t n = rnnck_tensor_numel(t); n > 0; n--, walk_next(&w))
        rnnck__store_double(t->dtype, base, w.offset, value);
    return RNNCK_OK;
}

rnnck_status rnnck_init_orthogonal(rnnck_tensor *t, double gain, rnnck_rng *rng) {
    rnnck__err_clear();
    rnnck_status st = check_writable(t, "rnnck_init_orthogonal");
    if (st) return st;
    const char *name = *rnnck_tensor_name(t) ? rnnck_tensor_name(t) : "(unnamed tensor)";
    if (!rng) return rnnck__err(RNNCK_E_USAGE, "rnnck_init_orthogonal: generator is NULL");
    if (t->ndim != 1 && t->ndim != 2)
        return rnnck__err(RNNCK_E_USAGE, "rnnck_init_orthogonal: tensor %s has %d dimensions, need 1 or 2", name,
                          t->ndim);
    if (!isfinite(gain)) return rnnck__err(RNNCK_E_USAGE, "rnnck_init_orthogonal: gain %g is not finite", gain);
    /* A 1-d tensor is one row. */
    int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = t->shape[t->ndim - 1];
    int64_t row_stride = t->ndim == 2 ? t->stride[0] : 0, col_stride = t->stride[t->ndim - 1];
    if (rows == 0 || cols == 0) return RNNCK_OK; /* nothing to write, as in torch */
    size_t numel, bytes;
    if (rnnck__mul_overflow_size((size_t)rows, (size_t)cols, &numel) ||
        rnnck__mul_overflow_size(numel, 2 * sizeof(double), &bytes))
        return rnnck__err(RNNCK_E_NOMEM, "rnnck_init_orthogonal: tensor %s is too large", name);
    double *normal = malloc(bytes);
    if (!normal) return rnnck__err(RNNCK_E_NOMEM, "rnnck_init_orthogonal: cannot allocate %zu bytes for %s", bytes, name);
    double *q = normal + numel;
    for (size_t i = 0; i < numel; i++) normal[i] = rnnck_rng_normal(rng);
    st = rnnck__orthogonal_factor(normal, rows, cols, q);
    if (!st) {
        void *base = rnnck_tensor_data(t);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                rnnck__store_double(t->dtype, base, r * row_stride + c * col_stride, gain * q[r * cols + c]);
    } else {
        rnnck__err_prefix("tensor %s", name);
    }
    free(normal);
    return st;
}

/* ----------------------------------------------------- module initialiser */

/* Parameters of one layer/direction in the order the model holds them, so
 * that draws follow model order. */
static const rnnck_param param_order[] = {
    RNNCK_PARAM_WEIGHT_IH, RNNCK_PARAM_WEIGHT_HH, RNNCK_PARAM_BIAS_IH,
    RNNCK_PARAM_BIAS_HH,   RNNCK_PARAM_WEIGHT_HR, RNNCK_PARAM_PEEPHOLE,
};
#define NPARAMS (sizeof param_order / sizeof param_order[0])

static rnnck_status init_orthogonal_param(rnnck_tensor *p, rnnck_param kind, int gates, rnnck_rng *rng) {
    switch (kind) {
    case RNNCK_PARAM_WEIGHT_IH:
    case RNNCK_PARAM_WEIGHT_HH:
        /* Each gate's block is its own matrix acting on the input: made
         * orthogonal separately, as Keras's orthogonal recurrent kernels are. */
        for (int g = 0; g < gates; g++) {
            rnnck_tensor *block;
            rnnck_status st = rnnck_tensor_block(p, gates, g, &block);
            if (!st) st = rnnck_init_orthogonal(block, 1.0, rng);
            rnnck_tensor_free(block);
            if (st) return st;
        }
        return RNNCK_OK;
    case RNNCK_PARAM_WEIGHT_HR: return rnnck_init_orthogonal(p, 1.0, rng);
    default: return rnnck_init_constant(p, 0.0); /* biases, peepholes */
    }
}

/* Module parameter, with storage: an unloaded parameter of a lazily opened
 * model gets fresh storage instead of a wasted read, since every element is
 * about to be overwritten. */
static rnnck_status writable_param(rnnck_model *m, size_t module, rnnck_param kind, int64_t layer, int reverse,
                                   rnnck_tensor **out) {
    rnnck_tensor *p;
    rnnck_status st = rnnck_model_param(m, module, kind, layer, reverse, &p);
    if (st) return st;
    if (!rnnck__tensor_loaded(p)) {
        st = rnnck__tensor_alloc_storage(p);
        if (st) return st;
    }
    *out = p;
    return RNNCK_OK;
}

static rnnck_status set_forget_blocks(rnnck_model *m, size_t module, const rnnck_module_info *info, double value) {
    int dirs = info->bidirectional ? 2 : 1;
    for (int64_t layer = 0; layer < info->num_layers; layer++)
        for (int d = 0; d < dirs; d++)
            for (int b = 0; b < 2; b++) {
                rnnck_tensor *f;
                rnnck_status st = rnnck_model_gate(m, module, b ? RNNCK_PARAM_BIAS_HH : RNNCK_PARAM_BIAS_IH, layer,
                                                   d, 'f', &f);
                if (!st) st = rnnck_init_constant(f, value);
                rnnck_tensor_free(f);
                if (st) return st;
            }
    return RNNCK_OK;
}

rnnck_status rnnck_model_init_module(rnnck_model *m, size_t module, rnnck_init_method method, uint64_t seed,
                                     int set_forget_bias, double forget_bias) {
    rnnck__err_clear();
    const rnnck_module_info *info = rnnck_model_module(m, module);
    if (!info) return rnnck__err(RNNCK_E_USAGE, "rnnck_model_init_module: no module with index %zu", module);
    const char *label = *info->name ? info->name : "(root)";
    /* Every refusal happens before the first write. */
    if (method != RNNCK_INIT_DEFAULT && method != RNNCK_INIT_ORTHOGONAL)
        return rnnck__err(RNNCK_E_USAGE, "module %s: unknown init method %d", label, (int)method);
    if (set_forget_bias) {
        if (info->cell != RNNCK_CELL_LSTM)
            return rnnck__err(RNNCK_E_USAGE, "module %s: a forget bias applies to LSTM only, not %s", label,
                              rnnck_cell_name(info->cell));
        if (!info->bias)
            return rnnck__err(RNNCK_E_USAGE, "module %s: cannot set a forget bias on a module without bias", label);
        if (!isfinite(forget_bias))
            return rnnck__err(RNNCK_E_USAGE, "module %s: forget bias %g is not finite", label, forget_bias);
    }
    rnnck_rng *rng;
    rnnck_status st = rnnck_rng_new(seed, &rng);
    if (st) return st;
    /* torch.nn.RNNBase.reset_parameters: every parameter U(-k, k), k = 1/sqrt(H)
     * with H the hidden size (not the projection size). */
    double k = 1.0 / sqrt((double)info->hidden_size);
    int gates = rnnck_cell_gates(info->cell);
    int dirs = info->bidirectional ? 2 : 1;
    for (int64_t layer = 0; layer < info->num_layers && !st; layer++)
        for (int d = 0; d < dirs && !st; d++)
            for (size_t i = 0; i < NPARAMS && !st; i++) {
                int64_t shape[2];
                if (!rnnck_param_shape(info, param_order[i], layer, shape)) continue;
                rnnck_tensor *p;
                st = writable_param(m, module, param_order[i], layer, d, &p);
                if (st) break;
                if (method == RNNCK_INIT_DEFAULT) st = rnnck_init_uniform(p, -k, k, rng);
                else st = init_orthogonal_param(p, param_order[i], gates, rng);
            }
    rnnck_rng_free(rng);
    if (!st && set_forget_bias) st = set_forget_blocks(m, module, info, forget_bias);
    if (st) rnnck__err_prefix("initialising module %s", label);
    return st;
}
