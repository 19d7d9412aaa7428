/* A generic, bounded view of an untrusted HDF5 file that is not an rnnck
 * checkpoint (Keras files): its groups, the metadata of its datasets and its
 * attributes, read once into memory with the same restrictions and the same
 * crash isolation as rnnck files (the walk runs first in rnnck-h5-reader,
 * then here). Readers in formats/ use this header; it does not include
 * hdf5.h. Not installed. */
#ifndef RNNCK_H5_TREE_H
#define RNNCK_H5_TREE_H

#include "core/internal.h"

/* Limits of the metadata read (beyond rnnck_limits). */
#define RNNCK__H5T_MAX_ATTRS 256                   /* attributes on one object */
#define RNNCK__H5T_MAX_ATTR_BYTES ((size_t)16 << 20) /* one attribute's strings or numbers */
#define RNNCK__H5T_MAX_TOTAL_ATTR_BYTES ((size_t)64 << 20)
#define RNNCK__H5T_MAX_STRINGS ((size_t)1 << 20)   /* elements of one string array */
#define RNNCK__H5T_MAX_NUMBERS 4096                /* elements of one numeric attribute */

typedef enum rnnck__h5t_kind {
    RNNCK__H5T_STRING = 0, /* fixed- or variable-length strings (scalar or 1-d) */
    RNNCK__H5T_NUMBER = 1, /* integers or floats (scalar or 1-d), as doubles */
    RNNCK__H5T_OTHER = 2   /* any other class or rank: present, value not read */
} rnnck__h5t_kind;

typedef struct rnnck__h5t_attr {
    char *name;
    rnnck__h5t_kind kind;
    int scalar;        /* 1: a scalar dataspace */
    size_t count;      /* elements */
    char **strings;    /* STRING: count strings, each up to its first NUL */
    size_t *lengths;   /* their lengths */
    double *numbers;   /* NUMBER: count values */
} rnnck__h5t_attr;

typedef struct rnnck__h5t_node {
    char *name; /* link name; "" for the root */
    char *path; /* "/a/b"; "/" for the root */
    int is_group;
    /* datasets: metadata as validated by the schema reader's dataset checks
     * (dtype, rank, limits, layout, filters, storage). problem != NULL when
     * the dataset was refused: a reader that needs it reports the message. */
    rnnck_dtype dtype;
    int ndim;
    int64_t shape[RNNCK_MAX_DIMS];
    int chunked;
    char *problem;
    rnnck_status problem_status;
    rnnck__h5t_attr *attrs;
    size_t nattrs;
    struct rnnck__h5t_node **kids; /* sorted by name */
    size_t nkids;
} rnnck__h5t_node;

typedef struct rnnck__h5_tree rnnck__h5_tree;

/* Reads the whole tree of `path`. Untrusted (trusted false): the same walk
 * runs first in the helper program, and only a clean walk is repeated here.
 * Returns: RNNCK_OK; RNNCK_E_IO; RNNCK_E_FORMAT (not HDF5, malformed, over a
 * limit, libhdf5 crashed); RNNCK_E_UNSUPPORTED (links other than hard
 * links); RNNCK_E_NOMEM. Caller frees *out with rnnck__h5_tree_free. */
rnnck_status rnnck__h5_tree_load(const char *path, const rnnck_limits *lim, bool trusted, rnnck__h5_tree **out);
void rnnck__h5_tree_free(rnnck__h5_tree *t);
const rnnck__h5t_node *rnnck__h5_tree_root(const rnnck__h5_tree *t);
/* The file's path as given (names the file in messages). */
const char *rnnck__h5_tree_path(const rnnck__h5_tree *t);
/* Child `name` of group n (binary search), or NULL. */
const rnnck__h5t_node *rnnck__h5t_child(const rnnck__h5t_node *n, const char *name);
/* Node at `rel` ("a/b/c", relative to n; empty components are skipped), or NULL. */
const rnnck__h5t_node *rnnck__h5t_find(const rnnck__h5t_node *n, const char *rel);
/* Attribute `name` of n, or NULL. */
const rnnck__h5t_attr *rnnck__h5t_attr_find(const rnnck__h5t_node *n, const char *name);
/* Reads dataset n (numel elements of n->dtype) into dst of nbytes. Chunked
 * data of an untrusted file is read in the helper. RNNCK_E_FORMAT if the
 * dataset was refused at the walk (its message) or cannot be read. */
rnnck_status rnnck__h5_tree_read(rnnck__h5_tree *t, const rnnck__h5t_node *n, void *dst, size_t nbytes);

/* Names of the root group's attributes and links (at most 64 of each), for
 * detection: each line of the new report *out (rnnck_report_free) is
 * "attr:NAME" or "link:NAME". Untrusted: runs in the helper. Returns as
 * rnnck__h5_tree_load. */
rnnck_status rnnck__h5_probe_root(const char *path, bool trusted, rnnck_report **out);
/* How many times this process has started rnnck-h5-reader (for tests). */
unsigned long long rnnck__h5_helper_starts(void);
/* The helper's jobs, run in this process (h5_helper.c). */
rnnck_status rnnck__h5_tree_walk_here(const char *path, const rnnck_limits *lim, rnnck_report *lines);
rnnck_status rnnck__h5_probe_here(const char *path, rnnck_report *lines);
/* The helper's probe job: the probe, then, when the root has an rnnck_schema
 * attribute, the rnnck metadata walk (rnnck__h5_walk_describe) with lim,
 * whose outcome is one more line: "walk:ok" or "walk:failed", followed
 * after "walk:ok" by the model's description. An rnnck file is then walked
 * by the same helper process that detection started, instead of a second
 * one: rnnck__h5_probe_root keeps the description for the load (see
 * rnnck__h5_walked) and returns the lines up to "walk:ok". */
rnnck_status rnnck__h5_probe_with_walk(const char *path, const rnnck_limits *lim, unsigned flags,
                                       rnnck_report *lines);

/* ---- writing foreign HDF5 files (Keras) ----
 * A file being written, with h5py's conventions for what Keras stores:
 * string attributes and string lists as variable-length ASCII (h5py 3
 * writes Python bytes so), an empty list as an empty float64 array,
 * datasets contiguous, little-endian, in the tensor's dtype. Every call
 * holds rnnck's HDF5 lock. Messages name `label` (the final path). */
typedef struct rnnck__h5w rnnck__h5w;
/* Creates (truncates) tmp_path. RNNCK_E_WRITE on failure. */
rnnck_status rnnck__h5w_create(const char *tmp_path, const char *label, rnnck__h5w **out);
/* Creates group `path` ("/a/b"), and any missing parents. */
rnnck_status rnnck__h5w_group(rnnck__h5w *w, const char *path);
/* Attribute `name` on object `obj` (a group path): one string (scalar) or n
 * strings (a 1-d array; n = 0 writes h5py's empty float64 array). */
rnnck_status rnnck__h5w_attr_string(rnnck__h5w *w, const char *obj, const char *name, const char *value);
rnnck_status rnnck__h5w_attr_strings(rnnck__h5w *w, const char *obj, const char *name, const char *const *values,
                                     size_t n);
/* Dataset `path` (parents created) holding t (loaded, float32/float64). */
rnnck_status rnnck__h5w_dataset(rnnck__h5w *w, const char *path, const rnnck_tensor *t);
/* Closes the file; RNNCK_E_WRITE if it cannot be finished. Frees w. */
rnnck_status rnnck__h5w_close(rnnck__h5w *w);

#endif
