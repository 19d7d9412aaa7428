/* One recurrent node of an ONNX graph, read and checked (onnx_node.c), and
 * the activation conventions shared with the writer. Not installed. */
#ifndef RNNCK_ONNX_NODE_H
#define RNNCK_ONNX_NODE_H

#include "onnx/onnx_internal.h"

typedef struct rnnck__onnx_rnode {
    const Onnx__NodeProto *node;
    const rnnck__onnx_scope *scope;
    rnnck_module_info info; /* one layer; name set when grouped */
    int64_t hidden_attr;    /* hidden_size attribute, 0 if absent */
    int dirs;               /* 1 or 2 */
    int reverse_only;       /* direction = reverse */
    rnnck_tensor *W, *R, *B, *P; /* ONNX layout; B and P may be NULL */
    /* stacking: the node whose output feeds this one's X through the
     * exporter's glue, -1 if none; how many nodes name this one as prev */
    long prev, next, links_in;
    unsigned merge_ops;     /* RNNCK__ONNX_MERGE_* seen on its Y (onnx_read.c) */
    char *name;
} rnnck__onnx_rnode;

/* Reads node n of scope->graph (op LSTM, GRU or RNN). On failure r holds what
 * was read so far: free it with rnnck__onnx_rnode_free either way. */
rnnck_status rnnck__onnx_read_node(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope,
                                   const Onnx__NodeProto *n, rnnck__onnx_rnode *r);
void rnnck__onnx_rnode_free(rnnck__onnx_rnode *r);
/* The node's name, else its first output, else "(unnamed)". */
const char *rnnck__onnx_node_label(const Onnx__NodeProto *n);

/* Which activations take activation_alpha / activation_beta values (ONNX
 * Runtime's table: Affine, LeakyRelu, ThresholdedRelu, ScaledTanh,
 * HardSigmoid, Elu take alpha; Affine, ScaledTanh, HardSigmoid take beta). */
bool rnnck__onnx_act_needs_alpha(rnnck_act_kind k);
bool rnnck__onnx_act_needs_beta(rnnck_act_kind k);

#endif
