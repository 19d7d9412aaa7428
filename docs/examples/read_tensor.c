/* Open a checkpoint, list its tensors, read one without loading the others,
 * read module attributes, and look at one gate block as a view.
 * Build: cc read_tensor.c $(pkg-config --cflags --libs rnnck)
 * Run:   ./read_tensor model.h5 */
#include <rnnck.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    rnnck_model *m;
    if (argc != 2 || RNNCK_CHECK_ABI() || rnnck_open(argv[1], NULL, &m)) {
        fprintf(stderr, "read_tensor: %s\n", argc == 2 ? rnnck_errmsg() : "usage: read_tensor FILE");
        return 1;
    }
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        printf("%s %s (%lld, %lld)\n", rnnck_tensor_name(t), rnnck_dtype_name(rnnck_tensor_dtype(t)),
               (long long)rnnck_tensor_dim(t, 0), (long long)rnnck_tensor_dim(t, 1));
    }
    const rnnck_module_info *info = rnnck_model_module(m, 0);
    rnnck_tensor *w, *f;
    if (!info || rnnck_model_param(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, &w)) return fprintf(stderr, "no module\n"), 1;
    size_t n = (size_t)rnnck_tensor_numel(w);
    float *data = malloc(n * sizeof *data);  /* only this tensor's bytes are read */
    if (!data || rnnck_model_read(m, rnnck_tensor_name(w), RNNCK_F32, data, n * sizeof *data)) return 1;
    printf("%s: %s hidden_size=%lld, %s[0] = %g\n", info->name, rnnck_cell_name(info->cell),
           (long long)info->hidden_size, rnnck_tensor_name(w), data[0]);
    char gate = info->cell == RNNCK_CELL_LSTM ? 'f' : rnnck_cell_gate_order(info->cell)[0];
    if (rnnck_model_gate(m, 0, RNNCK_PARAM_WEIGHT_IH, 0, 0, gate, &f)) return fprintf(stderr, "%s\n", rnnck_errmsg()), 1;
    printf("gate %c view: %lld rows, first value %g\n", gate, (long long)rnnck_tensor_dim(f, 0),
           (double)((const float *)rnnck_tensor_cdata(f))[0]);
    rnnck_tensor_free(f);
    free(data);
    rnnck_model_free(m);
    return 0;
}
