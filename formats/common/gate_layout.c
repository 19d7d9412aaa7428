/* The gate-layout table and the generic block reorder (gate_layout.h).
 * Sources for every row: each framework's documentation or code, cited in
 * docs/GATES.md. */
#include "common/gate_layout.h"

#include <string.h>

static const rnnck__gate_layout table[] = {
    {"pytorch", RNNCK_CELL_LSTM, "ifgo", "i,f,g,o", 0},
    {"pytorch", RNNCK_CELL_GRU, "rzn", "r,z,n", 0},
    {"pytorch", RNNCK_CELL_RNN_TANH, "h", "h", 0},
    /* Keras 2/3 and tf.keras: kernel (in, G*H), i,f,c,o and z,r,h. */
    {"keras", RNNCK_CELL_LSTM, "ifgo", "i,f,c,o", 1},
    {"keras", RNNCK_CELL_GRU, "zrn", "z,r,h", 1},
    {"keras", RNNCK_CELL_RNN_TANH, "h", "h", 1},
    /* ONNX LSTM/GRU/RNN operators: W (D, G*H, in), i,o,f,c and z,r,h. */
    {"onnx", RNNCK_CELL_LSTM, "iofg", "i,o,f,c", 0},
    {"onnx", RNNCK_CELL_GRU, "zrn", "z,r,h", 0},
    {"onnx", RNNCK_CELL_RNN_TANH, "h", "h", 0},
    /* TF1 LSTMCell / BasicLSTMCell / LSTMBlockCell: kernel over [x; h], i,j,f,o. */
    {"tf1", RNNCK_CELL_LSTM, "igfo", "i,j,f,o", 1},
    /* TF1 GRUCell / CudnnCompatibleGRUCell: gates kernel (r, u) then the
     * candidate's, each over [x; h]; u is PyTorch's z. (LSTMBlockCell's
     * i,ci,f,o is the LSTM row above.) */
    {"tf1", RNNCK_CELL_GRU, "rzn", "r,u,c", 1},
    {"tf1", RNNCK_CELL_RNN_TANH, "h", "h", 1},
    /* cuDNN canonical: linear layers in PyTorch's order. */
    {"cudnn", RNNCK_CELL_LSTM, "ifgo", "i,f,c,o", 0},
    {"cudnn", RNNCK_CELL_GRU, "rzn", "r,z,h", 0},
    {"cudnn", RNNCK_CELL_RNN_TANH, "h", "h", 0},
    /* OpenVINO LSTMSequence/GRUSequence: f,i,c,o and z,r,h. */
    {"openvino", RNNCK_CELL_LSTM, "figo", "f,i,c,o", 0},
    {"openvino", RNNCK_CELL_GRU, "zrn", "z,r,h", 0},
    /* Core ML MIL lstm: i,f,o,g. Caffe LSTM: i,f,o,g. */
    {"coreml", RNNCK_CELL_LSTM, "ifog", "i,f,o,z", 0},
    {"caffe", RNNCK_CELL_LSTM, "ifog", "i,f,o,g", 0},
};

const rnnck__gate_layout *rnnck__gate_layout_find(const char *framework, rnnck_cell cell) {
    if (cell == RNNCK_CELL_RNN_RELU) cell = RNNCK_CELL_RNN_TANH;
    for (size_t i = 0; framework && i < sizeof table / sizeof table[0]; i++)
        if (table[i].cell == cell && strcmp(table[i].framework, framework) == 0) return &table[i];
    return NULL;
}

/* Peephole vectors: rnnck stores i, f, o (docs/SCHEMA.md); ONNX's P is
 * P[iof] (ONNX LSTM operator). */
static const struct {
    const char *framework, *order;
} peephole_table[] = {
    {"pytorch", "ifo"},
    {"onnx", "iof"},
};

const char *rnnck__peephole_order(const char *framework) {
    for (size_t i = 0; framework && i < sizeof peephole_table / sizeof peephole_table[0]; i++)
        if (strcmp(peephole_table[i].framework, framework) == 0) return peephole_table[i].order;
    return NULL;
}

rnnck_status rnnck__gate_reorder(void *dst, const void *src, const char *from_order,
                                 const char *to_order, size_t rows_per_block, size_t row_bytes) {
    size_t g = strlen(from_order);
    if (g == 0 || g > 8 || strlen(to_order) != g)
        return rnnck__err(RNNCK_E_USAGE, "gate reorder: orders '%s' and '%s' differ in length",
                          from_order, to_order);
    size_t block;
    if (rnnck__mul_overflow_size(rows_per_block, row_bytes, &block))
        return rnnck__err(RNNCK_E_USAGE, "gate reorder: block size overflows");
    for (size_t k = 0; k < g; k++) {
        const char *at = memchr(from_order, to_order[k], g);
        if (!at || memchr(to_order + k + 1, to_order[k], g - k - 1))
            return rnnck__err(RNNCK_E_USAGE, "gate reorder: '%s' is not a permutation of '%s'",
                              to_order, from_order);
        memcpy((char *)dst + k * block, (const char *)src + (size_t)(at - from_order) * block, block);
    }
    return RNNCK_OK;
}

void rnnck__transpose_bytes(void *dst, const void *src, size_t rows, size_t cols, size_t elem_bytes) {
    const char *s = src;
    char *d = dst;
    /* Tiles of 32 x 32 keep both sides in cache for large matrices. */
    for (size_t r0 = 0; r0 < rows; r0 += 32)
        for (size_t c0 = 0; c0 < cols; c0 += 32)
            for (size_t r = r0; r < rows && r < r0 + 32; r++)
                for (size_t c = c0; c < cols && c < c0 + 32; c++)
                    memcpy(d + (c * rows + r) * elem_bytes, s + (r * cols + c) * elem_bytes, elem_bytes);
}
