/* PLACEHOLDER — replaced by the random generator and initialisers. */
#include "internal.h"
struct rnnck_rng { uint64_t s; };
rnnck_status rnnck_rng_new(uint64_t seed, rnnck_rng **out) { (void)seed; (void)out; return rnnck__err(RNNCK_E_UNSUPPORTED, "not implemented yet"); }
void rnnck_rng_free(rnnck_rng *rng) { (void)rng; }
uint64_t rnnck_rng_u64(rnnck_rng *rng) { (void)rng; return 0; }
double rnnck_rng_uniform(rnnck_rng *rng) { (void)rng; return 0; }
double rnnck_rng_normal(rnnck_rng *rng) { (void)rng; return 0; }
rnnck_status rnnck_init_uniform(rnnck_tensor *t, double lo, double hi, rnnck_rng *rng) { (void)t; (void)lo; (void)hi; (void)rng; return rnnck__err(RNNCK_E_UNSUPPORTED, "not implemented yet"); }
rnnck_status rnnck_init_constant(rnnck_tensor *t, double v) { (void)t; (void)v; return rnnck__err(RNNCK_E_UNSUPPORTED, "not implemented yet"); }
rnnck_status rnnck_init_orthogonal(rnnck_tensor *t, double g, rnnck_rng *rng) { (void)t; (void)g; (void)rng; return rnnck__err(RNNCK_E_UNSUPPORTED, "not implemented yet"); }
rnnck_status rnnck_model_init_module(rnnck_model *m, size_t module, rnnck_init_method method, uint64_t seed, int set_fb, double fb) { (void)m; (void)module; (void)method; (void)seed; (void)set_fb; (void)fb; return rnnck__err(RNNCK_E_UNSUPPORTED, "not implemented yet"); }
