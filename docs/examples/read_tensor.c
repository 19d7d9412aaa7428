/* Open a checkpoint, list its tensors, read one without loading the others,
 * read module attributes, and look at one gate block as a view.
 * Build: cc read_tensor.c $(pkg-config --cflags --libs rnnck)
 * Run:   ./read_tensor model.h5 */
#include <rnnck.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(void) { return fprintf(stderr, "read_tensor: %s\n", rnnck_errmsg()), 1; }

int main(int argc, char **argv) {
    rnnck_model *m;
    rnnck_tensor *w, *f;
    if (argc != 2) return fprintf(stderr, "usage: read_tensor FILE\n"), 2;
    if (RNNCK_CHECK_ABI() || rnnck_open(argv[1], NULL, &m)) return fail();
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {   /* names, dtypes, shapes */
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        printf("%-24s %-8s", rnnck_tensor_name(t), rnnck_dtype_name(rnnck_tensor_dtype(t)));
        for (int d = 0; d < rnnck_tensor_ndim(t); d++) printf(" %lld", (long long)rnnck_tensor_dim(t, d));
        printf("\n");
    }
    const rnnck_module_info *info = rnnck_model_module(m, 0);     /* module attributes */
    if (!info || rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, &w)) return fail();
    size_t n = (size_t)rnnck_tensor_numel(w);
    float *data = malloc(n * sizeof *data);                        /* reads only this tensor */
    if (!data || rnnck_model_read(m, rnnck_tensor_name(w), RNNCK_F32, data, n * sizeof *data)) return fail();
    printf("module '%s': %s hidden_size=%lld; %s[0] = %g\n", info->name, rnnck_cell_name(info->cell),
           (long long)info->hidden_size, rnnck_tensor_name(w), data[0]);
    char gate = rnnck_cell_gate_order(info->cell)[info->cell == RNNCK_CELL_LSTM ? 1 : 0]; /* 'f' for LSTM */
    if (rnnck_model_gate(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, gate, &f)) return fail();
    printf("gate '%c' view of %s: %lld x %lld, shares its memory\n", gate, rnnck_tensor_name(w),
           (long long)rnnck_tensor_dim(f, 0), (long long)rnnck_tensor_dim(f, 1));
    rnnck_tensor_free(f);
    free(data);
    rnnck_model_free(m);
    return 0;
}
