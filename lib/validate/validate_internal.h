/* Private to validate/diagnose/diff/plot (lib/validate/). */
#ifndef RNNCK_VALIDATE_INTERNAL_H
#define RNNCK_VALIDATE_INTERNAL_H

#include "core/internal.h"

/* ---- element comparison (lib/validate/compare.c) ---- */
typedef struct rnnck__tol {
    double atol, rtol;
    rnnck_dtype ulp_dtype; /* F32 or F64: the grid ULPs are counted on */
} rnnck__tol;

void rnnck__stats_init(rnnck_error_stats *s);
/* Distance between a and b in units in the last place of `dtype` (F32/F64),
 * after rounding both to it. Inf when exactly one is NaN or signs of Inf
 * differ. */
double rnnck__ulp_distance(double a, double b, rnnck_dtype dtype);
/* Compares columns [col0, col0+width) of two (T, B, W) time-major arrays of
 * doubles. Accumulates into *s with where_t = t (or -1 when t_is_state),
 * where_unit relative to col0. If step_max is not NULL it receives, per t,
 * the max |a-b| over batch and columns (max-accumulated). */
void rnnck__compare_slice(const double *a, const double *b, int64_t T, int64_t B, int64_t W, int64_t col0,
                          int64_t width, const rnnck__tol *tol, int t_is_state, rnnck_error_stats *s,
                          double *step_max);
/* Largest |a-b| over n elements (Inf on NaN mismatch); *all_pass is set to
 * whether every element passes the tolerance. */
double rnnck__max_abs(const double *a, const double *b, int64_t n, const rnnck__tol *tol, int *all_pass);

/* ---- module copies and the mistakes applied to them (lib/validate/modcopy.c) ---- */
/* A new model holding one module (index 0, name "") with the description
 * `info` (NULL = the source's), num_layers truncated to `layers` when
 * 0 < layers < the source's, parameters copied from module `module` of src.
 * Lazily opened source tensors are loaded. */
rnnck_status rnnck__module_copy(rnnck_model *src, size_t module, const rnnck_module_info *info, int64_t layers,
                                rnnck_model **out);
/* Selection of layer/direction: layer -1 = all, reverse -1 = both. */
typedef struct rnnck__where {
    int64_t layer;
    int reverse;
} rnnck__where;
/* Block k of weight_ih/weight_hh/bias_ih/bias_hh of the selected layers and
 * directions moves to position dst[k] (a permutation of 0..G-1). */
rnnck_status rnnck__apply_gate_perm(rnnck_model *m, rnnck__where w, const int *dst);
/* Re-reads the buffer of a (R, C) parameter as (C, R) row-major and
 * transposes it back: the inverse of "reshaped where a transpose was due".
 * kind is WEIGHT_IH or WEIGHT_HH. */
rnnck_status rnnck__apply_reshape_transpose(rnnck_model *m, rnnck__where w, rnnck_param kind);
/* Transposes each square gate block of the parameter (kind WEIGHT_IH/HH). */
rnnck_status rnnck__apply_block_transpose(rnnck_model *m, rnnck__where w, rnnck_param kind);
/* Swaps the forward and reverse parameters of the selected layers. */
rnnck_status rnnck__apply_swap_directions(rnnck_model *m, int64_t layer);
/* Swaps all parameters of layers i and j (same shapes required). */
rnnck_status rnnck__apply_swap_layers(rnnck_model *m, int64_t i, int64_t j);
/* Sets a bias (BIAS_IH or BIAS_HH) of the selection to zero. */
rnnck_status rnnck__apply_zero_bias(rnnck_model *m, rnnck__where w, rnnck_param kind);
/* bias_ih -= bias_hh on the selection (undoes a fold that kept bias_hh). */
rnnck_status rnnck__apply_unfold_bias(rnnck_model *m, rnnck__where w);
/* Whether two modules have the same structure (cell, sizes, layers,
 * directions, projection); if not, writes the first difference to why. */
int rnnck__modules_compatible(const rnnck_module_info *a, const rnnck_module_info *b, char *why, size_t whysize);

/* ---- inputs and runs (lib/validate/battery.c) ---- */
/* One input case, time-major, in the compute dtype. */
typedef struct rnnck__case {
    const char *name;
    rnnck_tensor *x;       /* (T, B, I) */
    rnnck_tensor *h0, *c0; /* (L*D, B, H_out) / (L*D, B, H) or NULL */
    rnnck_tensor *lengths; /* (B,) int64 or NULL */
    int64_t T, B;
} rnnck__case;
void rnnck__case_free(rnnck__case *c);
/* The battery for a module description: random, initial-state, long,
 * variable-lengths, saturating. *out is a malloc'd array of *n cases. */
rnnck_status rnnck__make_battery(const rnnck_module_info *info, const rnnck_validate_opts *o, rnnck_dtype dtype,
                                 rnnck__case **out, size_t *n);
/* Frees an array of cases. */
void rnnck__cases_free(rnnck__case *c, size_t n);
/* Outputs of one run, time-major, as doubles. */
typedef struct rnnck__run_out {
    double *y;     /* (T, B, width): width = yD*H_out */
    double *h, *c; /* (L*D, B, H_out), (L*D, B, H) or NULL */
    int64_t T, B, width, L, D, H_out, H;
    int64_t yD;    /* slices of H_out in y: D, or 1 for merged directions */
} rnnck__run_out;
void rnnck__run_out_free(rnnck__run_out *r);
/* Runs module `module` of m on case c (transposing for batch_first and
 * truncating h0/c0 to the module's layers) with forward options fo. */
rnnck_status rnnck__run_case(rnnck_model *m, size_t module, const rnnck__case *c, const rnnck_forward_opts *fo,
                             rnnck__run_out *out);
/* The forward options of a validation computing in `compute`. */
static inline rnnck_forward_opts rnnck__validate_fwd(const rnnck_validate_opts *o, rnnck_dtype compute) {
    return (rnnck_forward_opts){o->threads, compute};
}
/* Time-major copy (T, B, I) of an input in the module's layout, as `dtype`. */
rnnck_status rnnck__to_time_major(const rnnck_tensor *x, int batch_first, rnnck_dtype dtype, rnnck_tensor **out);

/* ---- diagnosis (lib/validate/diagnose.c) ---- */
typedef struct rnnck__finding_list {
    rnnck_finding *items;
    char **texts;
    size_t n, cap;
} rnnck__finding_list;
/* Searches for the mistake that makes module mb of b differ from module ma
 * of a. first_layer is the lowest layer whose outputs disagree and dir_mask
 * its disagreeing directions (bit 0 forward, bit 1 reverse; 0 = unknown).
 * Adds findings (best first) to *list. */
rnnck_status rnnck__diagnose(rnnck_model *a, size_t ma, rnnck_model *b, size_t mb, const rnnck_validate_opts *o,
                             rnnck_dtype compute, int64_t first_layer, unsigned dir_mask, rnnck__finding_list *list,
                             int64_t *runs_done);
void rnnck__finding_list_free(rnnck__finding_list *l);

/* ---- pairing (lib/validate/validate.c) ---- */
typedef struct rnnck__pairing {
    size_t a, b; /* module indices; SIZE_MAX = none */
    const char *how;
} rnnck__pairing;
/* Pairs modules of a and b; *out malloc'd, *n entries. */
rnnck_status rnnck__pair_modules(const rnnck_model *a, const rnnck_model *b, rnnck__pairing **out, size_t *n);

/* The absolute tolerance the validation used (for the plot). */
double rnnck__validation_atol(const rnnck_validation *v);

#endif
