/* Printing models for humans and machines. */
#ifndef RNNCK_DESCRIBE_H
#define RNNCK_DESCRIBE_H

#include "cli.h"

/* For each tensor of m, the index of the recurrent module it belongs to, or -1.
 * malloc'd (caller frees); NULL on out-of-memory. */
long *module_of_tensors(const rnnck_model *m);
/* One line of attributes, plus a line of non-PyTorch semantics if any. */
void print_module_text(FILE *f, const rnnck_module_info *info);
/* One JSON object (see docs/CLI.md for the contract). */
void print_module_json(FILE *f, const rnnck_module_info *info);

#endif
