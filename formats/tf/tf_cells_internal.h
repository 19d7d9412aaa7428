/* Shared declarations of the TensorFlow cell mapping (formats/tf/). Not installed.
 *  tf_names.c  which variables are cells (name patterns of every TF era), and
 *              which module, layer and direction each cell is (structure)
 *  tf_cells.c  sizes, --set overrides, the maths into PyTorch-named parameters */
#ifndef RNNCK_TF_CELLS_INTERNAL_H
#define RNNCK_TF_CELLS_INTERNAL_H

#include "common/state_dict.h"
#include "core/strmap.h"

/* What kind of cell a variable belongs to. */
typedef enum tf_variant {
    TFV_BASIC = 0, /* BasicLSTMCell / basic_lstm_cell: forget_bias 1.0 */
    TFV_LSTM,      /* LSTMCell / lstm_cell / LSTMBlockCell: forget_bias 1.0 */
    TFV_CUDNN,     /* cudnn_compatible_{lstm,gru}_cell: forget_bias 0, GRU reset after */
    TFV_PLAIN,     /* GRUCell, BasicRNNCell */
    TFV_OPAQUE,    /* cudnn_{lstm,gru,rnn_*}/opaque_kernel */
    TFV_KERAS      /* TF2 object checkpoint: a Keras layer's cell */
} tf_variant;

/* The role of a variable inside its cell. */
typedef enum tf_role {
    TFR_KERNEL = 0, /* [x; h] kernel (TF1), kernel (I, G*H) (Keras) */
    TFR_BIAS,
    TFR_WI, TFR_WF, TFR_WO, /* peepholes */
    TFR_PROJ,               /* projection kernel (H, P) */
    TFR_GK, TFR_GB,         /* GRU gates kernel / bias (r, u) */
    TFR_CK, TFR_CB,         /* GRU candidate kernel / bias */
    TFR_CIK, TFR_CIB,       /* cuDNN-compatible GRU candidate input projection */
    TFR_CHK, TFR_CHB,       /* ... hidden projection */
    TFR_RK,                 /* Keras recurrent_kernel */
    TFR_OPAQUE,             /* cuDNN opaque parameter buffer */
    TFR_SHARD,              /* a second shard of a TF 0.12 LSTMCell kernel: refused */
    TFR_COUNT_
} tf_role;

/* One cell object: the variables under one cell scope. */
typedef struct tf_inst {
    char *scope;         /* TF scope up to the cell ("rnn/multi_rnn_cell/cell_0/gru_cell") */
    rnnck_cell cell;     /* INVALID for Keras (decided by shapes) */
    tf_variant variant;
    const char *what;    /* "BasicLSTMCell (TF 0.12)", for messages */
    long var[TFR_COUNT_]; /* index into the variable list, -1 = absent */
    size_t module;
    int64_t layer;
    int dir;             /* 0 forward, 1 backward */
    int whole;           /* Keras layer without a cell scope: the scope is the layer's */
} tf_inst;

/* One module being built. */
typedef struct tf_mod {
    char *name;            /* schema name ("rnnlm.MultiRNNCell") */
    rnnck_cell cell;
    tf_variant variant;
    int bidirectional;     /* fw/bw pairs in one module */
    int stacked;           /* stack_bidirectional_rnn: layer k>0 input is 2H */
    int reverse;           /* bw stack of bidirectional_rnn around a MultiRNNCell */
    int shared;            /* bidirectional with fw variables only: bw shares them */
    size_t shared_from;    /* reverse module sharing a fw stack: the fw module */
    int64_t nlayers;       /* max layer + 1 */
    size_t ninst;          /* cells placed in it */
    int multi;             /* the layers of a MultiRNNCell */
    int unlike;            /* ... whose cells differ: split into one module per layer */
    int dead;              /* split: its layers are modules of their own */
    long *slot;            /* [layer * 2 + dir] -> instance index, -1 */
    char *bidi_scope;      /* "S.bidirectional_rnn" of a fw/bw stack, else NULL */
    int dir;               /* fw/bw stack: which one */
    /* overrides (--set) */
    int has_fb;
    double forget_bias;
    double cell_clip, proj_clip; /* 0 = not set */
    int64_t set_hidden, set_input, set_layers; /* 0 = not set */
    int set_bidi;          /* -1 not set */
    int batch_first;       /* -1 not set */
    int rec_act;           /* -1 not set, else rnnck_act_kind */
    int nonlin;            /* -1 not set, else rnnck_cell (RNN) */
    rnnck_module_info info;
    int ready;             /* info filled */
} tf_mod;

typedef struct tf_ctx {
    const char *label;
    rnnck__sd *vars;
    char **names;          /* per variable: TF2 suffix stripped (owned) */
    signed char *kind;     /* per variable: 0 plain, 1 optimizer slot, 2 cell variable */
    tf_inst *insts;
    size_t ninsts, instcap;
    tf_mod *mods;
    size_t nmods, modcap;
    rnnck__strmap inst_by_scope, mod_by_name;
} tf_ctx;

/* ---- tf_names.c ---- */
/* Classifies every variable, gathers cells into instances and instances
 * into modules (ctx->insts, ctx->mods). */
rnnck_status rnnck__tf_gather(tf_ctx *ctx);
/* A TF name as a schema tensor name: '/' -> '.', empty components and
 * leading dots of components dropped ("a/.ATTRIBUTES/b" -> "a.ATTRIBUTES.b").
 * Caller frees. NULL on allocation failure. */
char *rnnck__tf_schema_name(const char *tf_name, size_t len);
void rnnck__tf_ctx_free(tf_ctx *ctx);

#endif
