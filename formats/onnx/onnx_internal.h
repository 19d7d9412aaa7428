/* Shared by the ONNX reader and writer (formats/onnx/). The message types come
 * from onnx.pb-c.h, which protoc-c generates at build time from the system's
 * onnx.proto (CMakeLists.txt). Not installed. */
#ifndef RNNCK_ONNX_INTERNAL_H
#define RNNCK_ONNX_INTERNAL_H

#include "core/internal.h"
#include "core/strmap.h"
#include "onnx.pb-c.h"

/* Largest .onnx file read (protobuf-c unpacks a whole message in memory, so
 * the size is checked before reading). External data files are bounded by
 * rnnck_limits.max_tensor_bytes per tensor. */
#define RNNCK__ONNX_MAX_FILE ((size_t)2 << 30)
/* Deepest subgraph nesting (If/Loop/Scan bodies) and constant-folding chain. */
#define RNNCK__ONNX_MAX_DEPTH 64

/* A graph's names, hashed once (docs/BUDGETS.md): initializers and the node
 * producing each value, so resolving every node's inputs is linear in the
 * graph, not nodes x (nodes + initializers). */
typedef struct rnnck__onnx_index {
    rnnck__strmap inits;     /* name -> initializer position (first wins) */
    rnnck__strmap producers; /* value name -> node position (first wins) */
    long *rnode_of;          /* node position -> reader's recurrent node, or -1 */
} rnnck__onnx_index;

/* A graph and the graphs enclosing it: names resolve innermost first. */
typedef struct rnnck__onnx_scope {
    const Onnx__GraphProto *graph;
    const struct rnnck__onnx_scope *parent;
    const char *path; /* "" for the main graph, "If_0.then_branch" below */
    rnnck__onnx_index *index; /* owned by whoever made the scope */
} rnnck__onnx_scope;

/* Builds g's index. Caller frees with rnnck__onnx_index_free. */
rnnck_status rnnck__onnx_index_new(const Onnx__GraphProto *g, rnnck__onnx_index **out);
void rnnck__onnx_index_free(rnnck__onnx_index *ix);

/* What constant resolution needs besides the graph. */
typedef struct rnnck__onnx_ctx {
    const char *file;      /* the .onnx path, for messages */
    char *dir;             /* its folder, resolved (realpath): external data root */
    rnnck_limits limits;
} rnnck__onnx_ctx;

/* Reads and unpacks path (size checked first). Caller frees with
 * onnx__model_proto__free_unpacked(*out, NULL). */
rnnck_status rnnck__onnx_load(const char *path, Onnx__ModelProto **out);

/* The value of `name` as a constant tensor, in its own dtype (float16,
 * bfloat16, float32, float64, int32, int64): an initializer or a Constant
 * node's value, or the exact result of Identity / Slice / Concat / Squeeze /
 * Unsqueeze / Reshape / Transpose applied to constants. `who` names the node and
 * input in messages ("node '/rnn/LSTM' input W"). RNNCK_E_UNSUPPORTED when
 * the value is not constant (a graph input, or computed by another op);
 * RNNCK_E_FORMAT when a tensor is malformed. Caller owns *out. */
rnnck_status rnnck__onnx_constant(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope,
                                  const char *name, const char *who, rnnck_tensor **out);
/* Decodes one TensorProto (raw_data, typed fields or external data). */
rnnck_status rnnck__onnx_tensor_decode(const rnnck__onnx_ctx *ctx, const Onnx__TensorProto *tp,
                                       const char *who, rnnck_tensor **out);
/* The node of scope->graph (not its parents) producing `name`, or NULL;
 * *pos (may be NULL) gets its position in the graph. */
const Onnx__NodeProto *rnnck__onnx_producer(const rnnck__onnx_scope *s, const char *name, size_t *pos);
/* The initializer of scope->graph (not its parents) called `name`, or NULL. */
const Onnx__TensorProto *rnnck__onnx_initializer(const rnnck__onnx_scope *s, const char *name);
/* The attribute `name` of node n, or NULL. */
const Onnx__AttributeProto *rnnck__onnx_attr(const Onnx__NodeProto *n, const char *name);
/* Integer list of a constant int64/int32 tensor of at most `max` elements. */
rnnck_status rnnck__onnx_const_ints(const rnnck__onnx_ctx *ctx, const rnnck__onnx_scope *scope,
                                    const char *name, const char *who, int64_t *vals, size_t max,
                                    size_t *count);

/* ONNX TensorProto data types used here. */
enum {
    RNNCK__ONNX_FLOAT = 1,
    RNNCK__ONNX_INT32 = 6,
    RNNCK__ONNX_INT64 = 7,
    RNNCK__ONNX_FLOAT16 = 10,
    RNNCK__ONNX_DOUBLE = 11,
    RNNCK__ONNX_BFLOAT16 = 16
};
/* What the reader saw after a bidirectional node's Y (rnnck__onnx_rnode.merge_ops). */
enum { RNNCK__ONNX_MERGE_SPLIT = 1, RNNCK__ONNX_MERGE_ADD = 2, RNNCK__ONNX_MERGE_MUL = 4, RNNCK__ONNX_MERGE_DIV2 = 8 };
rnnck_dtype rnnck__onnx_dtype(int32_t data_type);
int32_t rnnck__onnx_data_type(rnnck_dtype dtype);

rnnck_status rnnck__onnx_read(const char *path, const rnnck_open_opts *opts, rnnck_model **out);
rnnck_status rnnck__onnx_write(rnnck_model *m, const char *path);

#endif
