/* TensorFlow variables to rnnck modules (formats/tf/tf_cells.c). Not installed.
 * The bundle reader (tf_bundle.c) lists a checkpoint's variables under their
 * full TF names; this maps the recurrent cells among them to modules. */
#ifndef RNNCK_TF_CELLS_H
#define RNNCK_TF_CELLS_H

#include "common/state_dict.h"

/* Maps TF variable names (TF 0.12, TF1 cells, LSTMBlockCell, cuDNN-compatible cells,
 * opaque cuDNN buffers, TF2 object-checkpoint Keras layers) to rnnck modules and builds the
 * model; variables that are not part of a recurrent cell stay plain tensors (optimizer slots
 * dropped with opts->flags & RNNCK_OPEN_DROP_OPTIMIZER). Takes ownership of nothing; `vars`
 * is freed by the caller. opts->sets: see docs/CLI.md ("TensorFlow"). */
rnnck_status rnnck__tf_cells_build(rnnck__sd *vars, const char *label, const rnnck_open_opts *opts,
                                   rnnck_model **out);

#endif
