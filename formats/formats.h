/* The format registry's view of one file format. Each format lives in one
 * file of formats/ and exports one rnnck__format value. Not installed. */
#ifndef RNNCK_FORMATS_H
#define RNNCK_FORMATS_H

#include "core/internal.h"

typedef struct rnnck__format {
    const char *name;       /* "rnnck", "pytorch", "npz", ... */
    const char *extensions; /* ",.h5,.hdf5," : comma-wrapped, lower case */
    /* 1 if the first `n` bytes of the file (n <= 512) look like this format. */
    int (*detect)(const unsigned char *head, size_t n);
    /* Reads path into a new model. NULL if the format cannot be read. */
    rnnck_status (*read)(const char *path, const rnnck_open_opts *opts, rnnck_model **out);
    /* Writes m to path atomically, or refuses with RNNCK_E_INEXACT naming the
     * module and feature it cannot express. NULL if it cannot be written. */
    rnnck_status (*write)(rnnck_model *m, const char *path);
    /* Optional: called after detect claimed the head, for containers whose
     * head cannot tell (HDF5 holds rnnck and Keras files): 1 if the file is
     * this format. May open the file (untrusted unless `trusted`). */
    int (*confirm)(const char *path, bool trusted);
} rnnck__format;

/* Looks up a format by name; NULL if unknown. */
const rnnck__format *rnnck__format_find(const char *name);

extern const rnnck__format rnnck__format_rnnck;
extern const rnnck__format rnnck__format_pytorch;
extern const rnnck__format rnnck__format_npz;
extern const rnnck__format rnnck__format_onnx;
extern const rnnck__format rnnck__format_keras;
extern const rnnck__format rnnck__format_tf;

#endif
