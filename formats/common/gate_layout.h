/* The one gate-layout table: how each foreign framework stacks the gate
 * blocks of a recurrent weight, written as data, and one generic reorder
 * that serves every framework (docs/GATES.md). rnnck stores PyTorch's order
 * ("ifgo", "rzn", "h"); a row of this table says which PyTorch block sits at
 * each position of the foreign tensor. Not installed. */
#ifndef RNNCK_GATE_LAYOUT_H
#define RNNCK_GATE_LAYOUT_H

#include "core/internal.h"

typedef struct rnnck__gate_layout {
    const char *framework; /* "pytorch", "keras", "onnx", "tf1", "cudnn", ... */
    rnnck_cell cell;       /* LSTM, GRU or RNN_TANH (stands for every simple RNN) */
    const char *order;     /* foreign block order in PyTorch's letters: ONNX LSTM
                              (i, o, f, c) is "iofg"; Keras GRU (z, r, h) is "zrn" */
    const char *names;     /* the framework's own letters, for messages: "i,o,f,c" */
    int transposed;        /* 1: matrices stored (in, G*H), as x @ K */
} rnnck__gate_layout;

/* The row for a framework and cell (RNN_RELU finds RNN_TANH's), or NULL. */
const rnnck__gate_layout *rnnck__gate_layout_find(const char *framework, rnnck_cell cell);

/* Order of the three blocks of an LSTM peephole vector in a framework, in
 * PyTorch-schema letters: "ifo" (rnnck's peephole_l{k}), "iof" (ONNX P).
 * NULL for a framework without a row. */
const char *rnnck__peephole_order(const char *framework);

/* Moves the G row blocks of src, stored in from_order, into to_order in dst.
 * A block is rows_per_block rows of row_bytes bytes; both buffers hold
 * G * rows_per_block rows; they may not overlap. The orders are permutations
 * of the same G letters (RNNCK_E_USAGE otherwise). Exact: bytes are moved. */
rnnck_status rnnck__gate_reorder(void *dst, const void *src, const char *from_order,
                                 const char *to_order, size_t rows_per_block, size_t row_bytes);

/* dst (cols x rows) = transpose of src (rows x cols), elements of elem_bytes. */
void rnnck__transpose_bytes(void *dst, const void *src, size_t rows, size_t cols, size_t elem_bytes);

#endif
