/* The gate-layout table and the generic block reorder. */
#include "common/gate_layout.h"

#include <criterion/criterion.h>
#include <string.h>

Test(gate_layout, onnx_lstm_blocks_land_in_pytorch_order) {
    const rnnck__gate_layout *l = rnnck__gate_layout_find("onnx", RNNCK_CELL_LSTM);
    cr_assert(l);
    cr_assert_str_eq(l->order, "iofg");
    /* Four blocks of 2 rows x 3 floats; block value = 10 * source position. */
    float src[24], dst[24], back[24];
    for (int i = 0; i < 24; i++) src[i] = (float)(10 * (i / 6) + i % 6);
    cr_assert_eq(rnnck__gate_reorder(dst, src, l->order, "ifgo", 2, 3 * sizeof(float)), RNNCK_OK);
    /* PyTorch i, f, g, o = ONNX positions 0, 2, 3, 1. */
    const int from[4] = {0, 2, 3, 1};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 6; j++) cr_assert_eq(dst[k * 6 + j], src[from[k] * 6 + j]);
    cr_assert_eq(rnnck__gate_reorder(back, dst, "ifgo", l->order, 2, 3 * sizeof(float)), RNNCK_OK);
    cr_assert_eq(memcmp(back, src, sizeof src), 0);
}

Test(gate_layout, keras_gru_swaps_r_and_z_and_is_transposed) {
    const rnnck__gate_layout *l = rnnck__gate_layout_find("keras", RNNCK_CELL_GRU);
    cr_assert(l);
    cr_assert_str_eq(l->order, "zrn");
    cr_assert_eq(l->transposed, 1);
    cr_assert_eq(rnnck__gate_layout_find("keras", RNNCK_CELL_RNN_RELU),
                 rnnck__gate_layout_find("keras", RNNCK_CELL_RNN_TANH));
    cr_assert_null(rnnck__gate_layout_find("nosuch", RNNCK_CELL_LSTM));
    cr_assert_null(rnnck__gate_layout_find(NULL, RNNCK_CELL_LSTM));
}

Test(gate_layout, orders_that_are_not_permutations_are_refused) {
    float a[4] = {0}, b[4];
    cr_assert_eq(rnnck__gate_reorder(b, a, "ifgo", "iffo", 1, sizeof(float)), RNNCK_E_USAGE);
    cr_assert_eq(rnnck__gate_reorder(b, a, "ifgo", "ifg", 1, sizeof(float)), RNNCK_E_USAGE);
    cr_assert_eq(rnnck__gate_reorder(b, a, "ifgo", "ifgx", 1, sizeof(float)), RNNCK_E_USAGE);
    cr_assert(strstr(rnnck_errmsg(), "permutation"));
}

Test(gate_layout, transpose_moves_every_element) {
    float src[35], dst[35];
    for (int i = 0; i < 35; i++) src[i] = (float)i;
    rnnck__transpose_bytes(dst, src, 5, 7, sizeof(float));
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 7; c++) cr_assert_eq(dst[c * 5 + r], src[r * 7 + c]);
}
