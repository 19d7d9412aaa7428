/* Run the forward pass on an array, then again in two halves carrying the
 * (h, c) state explicitly, and show both give the same output.
 * Build: cc run_forward.c $(pkg-config --cflags --libs rnnck) -lm
 * Run:   ./run_forward lstm.h5        (a unidirectional float32 module) */
#include <math.h>
#include <rnnck.h>
#include <stdio.h>

static int fail(void) { return fprintf(stderr, "run_forward: %s\n", rnnck_errmsg()), 1; }

int main(int argc, char **argv) {
    rnnck_model *m;
    if (argc != 2 || rnnck_open(argv[1], NULL, &m)) return argc == 2 ? fail() : 1;
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    int64_t T = 6, B = 2, half = 3, shape[3] = {T, B, info->input_size};
    rnnck_tensor *x, *y, *hn, *cn, *x1, *x2, *y1, *h1, *c1, *y2, *h2, *c2;
    if (rnnck_tensor_new(RNNCK_F32, 3, shape, &x)) return fail();
    float *xd = rnnck_tensor_data(x);
    for (int64_t i = 0; i < rnnck_tensor_numel(x); i++) xd[i] = (float)sin(0.37 * (double)i);
    /* whole sequence */
    if (rnnck_forward(m, 0, x, NULL, NULL, NULL, NULL, &y, &hn, &cn)) return fail();
    /* two halves: time-major, so each half is a contiguous block of rows */
    shape[0] = half;
    size_t half_bytes = rnnck_tensor_nbytes(x) / 2;
    if (rnnck_tensor_from_data(RNNCK_F32, 3, shape, xd, half_bytes, &x1) ||
        rnnck_tensor_from_data(RNNCK_F32, 3, shape, (const char *)xd + half_bytes, half_bytes, &x2) ||
        rnnck_forward(m, 0, x1, NULL, NULL, NULL, NULL, &y1, &h1, &c1) ||
        rnnck_forward(m, 0, x2, h1, c1, NULL, NULL, &y2, &h2, &c2))
        return fail();
    const float *yd = rnnck_tensor_cdata(y), *y2d = rnnck_tensor_cdata(y2);
    double maxdiff = 0;
    for (int64_t i = 0; i < rnnck_tensor_numel(y2); i++)
        maxdiff = fmax(maxdiff, fabs(yd[rnnck_tensor_numel(y2) + i] - y2d[i]));
    printf("output (%lld, %lld, %lld); second half streamed vs whole: max |diff| = %g\n",
           (long long)rnnck_tensor_dim(y, 0), (long long)rnnck_tensor_dim(y, 1), (long long)rnnck_tensor_dim(y, 2),
           maxdiff);
    rnnck_tensor *all[] = {x, y, hn, cn, x1, x2, y1, h1, c1, y2, h2, c2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) rnnck_tensor_free(all[i]);
    rnnck_model_free(m);
    return maxdiff == 0 ? 0 : 1;
}
